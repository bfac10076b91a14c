"""A results store: a directory tree in which every results.json is one trial.

The training job writes ``<model_dir>/results.json``; sweeps and grids put
each trial's model_dir under one folder. Tools read the store and never
reach into a running loop. No TensorFlow import here, so tools start fast.
"""
from __future__ import annotations

import dataclasses
import json
import math
import os

from limitbatch_tf import rundir

RESULTS_FILE = rundir.RESULTS_FILE


class StoreError(ValueError):
    """A store that cannot be read: names the folder or file."""


@dataclasses.dataclass
class StoredTrial:
    """One run, flattened for analysis; ``accuracy`` is None when diverged."""

    path: str
    status: str
    batch_size: int
    num_train: int
    optimizer: str
    layerwise: bool
    lr_scaling: str
    learning_rate: float
    peak_learning_rate: float
    rung: str | None
    seed: int
    epochs: float
    accuracy: float | None
    loss: float | None
    history: list
    telemetry: dict
    config: dict
    diverged_step: int | None = None

    @property
    def finished(self) -> bool:
        return self.status in rundir.FINISHED

    @property
    def planned_epochs(self) -> float:
        """The --epochs the run was given (steps round up, so the epochs it
        completes overshoot by up to one step), else the epochs completed."""
        if self.config.get("train_steps") is None and self.config.get("epochs"):
            return float(self.config["epochs"])
        return self.epochs

    def metrics_within(self, epochs: float):
        """(accuracy, loss) reached within ``epochs`` epochs, or (None, None).

        A run planned for more than ``epochs`` is judged at its last
        evaluation at or before that epoch plus one step's overshoot
        (Definition 2.1 counts what is reached in rho epochs). The loss is the validation loss when the run has a
        validation split, else the test loss.

        A run stopped as "unstable" (its loss grew past --unstable_factor
        times its best) failed like a diverged one: its accuracy at the
        stop, often a few steps in, is not what the recipe reaches in
        ``epochs``, so it is (None, None) too.
        """
        if self.accuracy is None or self.status == "unstable":
            return None, None
        if self.planned_epochs <= epochs * (1 + 1e-9):
            return self.accuracy, self.loss
        # An evaluation counts if it came within one step of the budget.
        slack = self.batch_size / max(self.num_train, 1)
        rows = [h for h in self.history
                if h["epoch"] <= (epochs + slack) * (1 + 1e-9)]
        if not rows:
            return None, None
        last = rows[-1]
        return last.get("eval_accuracy"), last.get(
            "validation_loss", last.get("eval_loss"))


def _trial(path: str, data: dict) -> StoredTrial:
    try:
        config = data["config"]
        metrics = data.get("metrics") or {}
        status = data["status"]
        accuracy = metrics.get("eval_accuracy")
        loss = metrics.get("validation_loss", metrics.get("eval_loss"))
        if status == rundir.DIVERGED or (accuracy is not None and math.isnan(accuracy)):
            accuracy, loss = None, None
        return StoredTrial(
            path=path, status=status,
            batch_size=int(data["global_batch_size"]),
            num_train=int(data["num_train_examples"]),
            optimizer=config["optimizer"], layerwise=bool(config.get("layerwise")),
            lr_scaling=config.get("lr_scaling", "none"),
            learning_rate=float(config["learning_rate"]),
            peak_learning_rate=float(data.get("peak_learning_rate",
                                              config["learning_rate"])),
            rung=config.get("tag"), seed=int(config.get("seed", 0)),
            epochs=float(data.get("epochs_completed", config.get("epochs", 0))),
            accuracy=accuracy, loss=loss, history=data.get("history", []),
            telemetry=data.get("telemetry") or {}, config=config,
            diverged_step=data.get("diverged_step"))
    except (KeyError, TypeError, ValueError) as e:
        raise StoreError(f"{path}: not a results.json of limitbatch_tf "
                         f"(missing or bad {e})") from None


def load_store(root: str, include_running: bool = False) -> list:
    """All trials under ``root`` (finished ones unless ``include_running``)."""
    if not os.path.isdir(root):
        raise StoreError(f"{root}: no such results store (a folder of runs)")
    trials = []
    for folder, _, files in sorted(os.walk(root)):
        if RESULTS_FILE not in files:
            continue
        path = os.path.join(folder, RESULTS_FILE)
        try:
            data = json.loads(rundir.read_text(path) or "")
        except json.JSONDecodeError as e:
            raise StoreError(f"{path}: malformed JSON ({e})") from None
        trial = _trial(path, data)
        if trial.finished or include_running:
            trials.append(trial)
    if not trials:
        raise StoreError(f"{root}: no finished runs (results.json) found")
    return trials
