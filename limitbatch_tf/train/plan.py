"""A run's plan: its step layout and every duration in update steps.

The flags speak in epochs (``--epochs``, ``--eval_every_epochs``,
``--warmup_epochs``, ``--checkpoint_every_epochs``); the loop, the LR
schedule and the optimizer's ``iterations`` count update steps. This is
where one becomes the other, once per run.
"""
from __future__ import annotations

import dataclasses
import math

from limitbatch_tf import schedules
from limitbatch_tf.config import Config, ConfigError
from limitbatch_tf.data import micro_batch
from limitbatch_tf.data.base import StepLayout


@dataclasses.dataclass(frozen=True)
class Plan:
    """Durations of a run, all in update steps (converted here, once)."""

    layout: StepLayout
    num_train: int
    total_steps: int
    eval_every_steps: float
    peak_lr: float
    schedule: object  # keras LearningRateSchedule
    eval_offset_steps: float = 0.0

    def next_eval(self, step: int) -> int:
        """The first evaluation step after ``step``: ceil(offset + j *
        interval) for the least j >= 0 that lies beyond ``step``, or the end."""
        rel = (step - self.eval_offset_steps) / self.eval_every_steps
        j = max(0, math.floor(rel + 1e-9) + 1)
        return min(self.total_steps, math.ceil(
            self.eval_offset_steps + j * self.eval_every_steps - 1e-9))

    @property
    def steps_per_epoch(self) -> float:
        return self.num_train / self.layout.global_batch

    def epoch(self, step: int) -> float:
        return step / self.steps_per_epoch


def make_plan(config: Config, num_train: int, num_replicas: int) -> Plan:
    """Resolves batch size, step layout and durations for a dataset."""
    # Full batch (also --batch_size=N_train) and the automatic micro-batch
    # live in data/micro_batch.py.
    layout = micro_batch.step_layout(config, num_train, num_replicas)
    batch = layout.global_batch
    if ("noise_scale" in config.probes()
            and layout.per_replica_batch == layout.global_batch):
        # McCandlish et al.'s estimator needs gradients at two batch sizes:
        # per-replica micro-batch (b) and global (B); b == B gives 0/0.
        raise ConfigError(
            f"--telemetry=noise_scale needs two gradient sizes: run on more "
            f"than one replica or set --micro_batch_size below the "
            f"per-replica batch ({layout.per_replica_batch})")
    if config.train_steps is not None:
        total = config.train_steps
    else:
        total = math.ceil(config.epochs * num_train / batch)
        if total < 1:
            raise ConfigError(f"--epochs={config.epochs} is less than one step")
    every = max(1.0, config.eval_every_epochs * num_train / batch)
    peak_lr, schedule = make_schedule(config, num_train / batch, total, batch)
    return Plan(layout, num_train, total, every, peak_lr, schedule,
                eval_offset_steps=config.eval_offset_epochs * num_train / batch)


def make_schedule(config: Config, spe: float, total: int, batch: int):
    """The paper's recipe: scaled peak LR, warmup, decay (one place)."""
    try:
        peak = schedules.scaled_learning_rate(
            config.learning_rate, batch, config.base_batch_size,
            config.lr_scaling)
        warmup = (config.warmup_steps if config.warmup_steps is not None
                  else schedules.to_steps(epochs=config.warmup_epochs,
                                          steps_per_epoch=spe))
        cycle = (None if config.cycle_epochs is None else
                 schedules.to_steps(epochs=config.cycle_epochs,
                                    steps_per_epoch=spe))
        schedule = schedules.build_schedule(
            peak, total_steps=total, steps_per_epoch=spe, warmup_steps=warmup,
            warmup=config.warmup, warmup_start_lr=config.warmup_start_lr,
            decay=config.lr_decay, end_lr=config.end_lr,
            poly_power=config.poly_power,
            step_boundaries_epochs=config.boundaries(),
            step_factor=config.step_factor, cycle_steps=cycle,
            cycle_start=config.cycle_start,
            cosine_granularity=config.cosine_granularity,
            coarse_epochs=config.coarse_epochs)
    except ConfigError:
        raise
    except ValueError as e:
        raise ConfigError(f"learning-rate schedule: {e}") from None
    return peak, schedule


def checkpoint_intervals(config: Config, plan: Plan) -> tuple:
    """The checkpoint cadences in update steps: --checkpoint_every_steps and
    --checkpoint_every_epochs (rounded to whole steps, at least 1)."""
    intervals = []
    if config.checkpoint_every_steps:
        intervals.append(config.checkpoint_every_steps)
    if config.checkpoint_every_epochs:
        intervals.append(max(1, round(config.checkpoint_every_epochs
                                      * plan.steps_per_epoch)))
    return tuple(intervals)
