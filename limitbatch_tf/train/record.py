"""One run's record: results.json, and the state a resumed run carries on.

results.json is rewritten (atomically, limitbatch_tf.rundir) after every
evaluation and at the end, so a run killed at any moment leaves the last
complete results in place. A resumed run reads it back for what the
checkpoint does not hold: the evaluation history up to the restored step,
the best training loss (for --unstable_factor), the wall time already spent
and the last metrics.
"""
from __future__ import annotations

import math
import time

from limitbatch_tf import rundir
from limitbatch_tf.train.results import machine, versions


class Record:
    """results.json of one run, and its resume state."""

    def __init__(self, model_dir: str, resuming: bool, start_time: float):
        self.path = rundir.join(model_dir, rundir.RESULTS_FILE)
        self.start_time = start_time
        self.previous = (rundir.read_json(self.path) or {}) if resuming else {}
        self.metrics = dict(self.previous.get("metrics", {}))
        self.train_loss = self.metrics.get("train_loss", float("nan"))
        self.best_loss = self.previous.get("best_train_loss", float("inf"))
        self.results = {}

    @property
    def previous_telemetry(self):
        """The probes' saved state, None for a fresh run."""
        return self.previous.get("telemetry")

    def begin(self, step: int, **static) -> None:
        """Starts results.json's dict: ``static`` facts of the run, plus the
        history before ``step`` (evaluations after the restored step belong
        to the lost future)."""
        self.results = dict(
            status=rundir.RUNNING, diverged_step=None, **static,
            history=[h for h in self.previous.get("history", [])
                     if h["step"] <= step],
            versions=versions(), machine=machine())
        if math.isfinite(self.best_loss):
            self.results["best_train_loss"] = self.best_loss

    def trained(self, train_loss: float) -> None:
        """Records the mean loss of the last host loop."""
        self.train_loss = train_loss
        self.best_loss = min(self.best_loss, train_loss)
        self.results["best_train_loss"] = self.best_loss

    def evaluated(self, metrics: dict, **when) -> None:
        """Records an evaluation (``when``: step, epoch...) in the history."""
        self.metrics = metrics
        self.results["history"].append(dict(metrics, **when,
                                            train_loss=self.train_loss))

    def wall_time(self) -> float:
        """Seconds spent on this run, earlier attempts included."""
        return (time.time() - self.start_time
                + self.previous.get("wall_time_s", 0.0))

    def save(self, status: str, step: int, epoch: float, telemetry: dict,
             **extra) -> dict:
        """Writes results.json with ``status``; returns the dict."""
        self.results.update(status=status, steps=step, epochs_completed=epoch,
                            wall_time_s=self.wall_time(), telemetry=telemetry,
                            **extra)
        if status in rundir.FAILED:
            self.results["diverged_step"] = step
        self.results["metrics"] = dict(self.metrics, train_loss=self.train_loss)
        rundir.write_json(self.path, self.results)
        return self.results
