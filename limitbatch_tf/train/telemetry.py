"""Console progress and TensorBoard scalars.

Laid out as Keras's TensorBoard callback lays out fit(): one run folder per
data split (``train/``; ``eval/`` for the test split, ``validation/`` for a
held-out one) and the same tag names in each (``loss``, ``accuracy``,
``top5_accuracy``), so TensorBoard overlays the training and evaluation
curves of a metric in one chart.
"""
from __future__ import annotations

import os
import time

import tensorflow as tf


class Telemetry:
    """Writes train/ and eval/ TensorBoard events and prints progress."""

    def __init__(self, model_dir: str, total_steps: int, examples_per_step: int):
        self._model_dir = model_dir
        self._writers = {}
        self.total_steps = total_steps
        self.examples_per_step = examples_per_step
        self._start = time.time()
        self._steps_timed = 0

    def _writer(self, run: str):
        if run not in self._writers:
            self._writers[run] = tf.summary.create_file_writer(
                os.path.join(self._model_dir, run))
        return self._writers[run]

    def scalars(self, kind: str, step: int, values: dict):
        """Scalars of run folder ``kind`` (train, eval, validation)."""
        with self._writer(kind).as_default(step=step):
            for name, value in values.items():
                tf.summary.scalar(name, value)

    def histogram(self, kind: str, step: int, name: str, values):
        with self._writer(kind).as_default(step=step):
            tf.summary.histogram(name, values)

    def train_loop_done(self, step, epoch, loss, accuracy, lr, steps, seconds):
        """Logs one host loop of ``steps`` steps that took ``seconds``
        (``loss`` and ``accuracy``: its means over the loop's batches)."""
        steps_per_s = steps / max(seconds, 1e-9)
        examples_per_s = steps_per_s * self.examples_per_step
        self._steps_timed += steps
        elapsed = time.time() - self._start
        eta = (self.total_steps - step) * elapsed / max(self._steps_timed, 1)
        self.scalars("train", step, {"loss": loss, "accuracy": accuracy,
                                     "learning_rate": lr,
                                     "examples_per_second": examples_per_s,
                                     "epoch": epoch})
        print(f"step {step}/{self.total_steps} epoch {epoch:.2f} loss {loss:.4f} "
              f"accuracy {accuracy:.4f} "
              f"lr {lr:.4g} {steps_per_s:.1f} steps/s {examples_per_s:.0f} ex/s "
              f"ETA {eta:.0f}s", flush=True)

    def eval_done(self, step, epoch, split, metrics: dict):
        self.scalars(run_of_split(split), step, metrics)
        shown = " ".join(f"{k} {v:.4f}" for k, v in metrics.items())
        print(f"eval {split} step {step} epoch {epoch:.2f} {shown}", flush=True)

    def flush(self):
        for writer in self._writers.values():
            writer.flush()


def run_of_split(split: str) -> str:
    """The TensorBoard run folder of an eval split: eval/ for test."""
    return "eval" if split == "test" else split
