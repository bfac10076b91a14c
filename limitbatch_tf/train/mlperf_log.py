"""MLPerf-compliant event logs (mlperf_logging.mllog), as the MLPerf
ResNet-50 reference emits them: submission info, init/run start-stop,
blocks of epochs between evaluations, eval accuracy, the global batch size,
the optimizer's hyperparameters (LARS keys for LARS) and the BN span.

Each run gets its own MLLogger, whose lines are kept in memory and written
to ``<model_dir>/mllog.txt`` (atomically, through limitbatch_tf.rundir, so
gs:// works) with every checkpoint and at run_stop; runs in one process
(tests, sweeps) never share a file.

One log per run, also across preemption: MLPerf's compliance checker wants
exactly one init_start/init_stop/run_start/run_stop and evaluations in epoch
order, while a resumed run restarts from its latest checkpoint, which may
be older than the log's last lines (killed between the two writes). A
resumed run therefore keeps the saved log up to its restored epoch
(``continuation``: no run_stop, no evaluation past that epoch, no block left
open or ending after it) and goes on from there, without a second
init/run_start. Check a log with ``python -m
mlperf_logging.compliance_checker --usage training --ruleset 4.0.0
<model_dir>/mllog.txt`` (it knows MLPerf's benchmark names only: a LeNet
run's log passes its rules but names an unknown benchmark).
"""
from __future__ import annotations

import json
import logging
import math
import os
import platform

from mlperf_logging.mllog.mllog import MLLogger
from mlperf_logging.mllog import constants as C

from limitbatch_tf import rundir

LOG_FILE = rundir.MLLOG_FILE
_PREFIX = ":::MLLOG "
# MLPerf benchmark names of our models; other models log their own name.
_BENCHMARKS = {"resnet50_v1_5": C.RESNET, "resnet50_cifar": C.RESNET}


class _Lines(logging.Handler):
    """Keeps formatted records in a list (the log is written whole)."""

    def __init__(self, lines: list):
        super().__init__()
        self.lines = lines

    def emit(self, record):
        self.lines.append(self.format(record))


def _parse(line: str):
    """(key, metadata) of an MLLOG line; (None, {}) for anything else."""
    start = line.find(_PREFIX)
    if start < 0:
        return None, {}
    try:
        event = json.loads(line[start + len(_PREFIX):])
    except ValueError:
        return None, {}
    return event.get("key"), event.get("metadata") or {}


def continuation(text: str, epoch: float) -> list | None:
    """The lines of a saved log that a run resumed at ``epoch`` goes on from.

    Kept: everything before the first run_stop or evaluation past ``epoch``;
    then a trailing block with no evaluation after it (open, or closed by
    the old attempt's run_stop, or its evaluation cut) is dropped, since
    the resumed run opens the block again. None when the saved log never
    reached run_start (the attempt died in init: start afresh).
    """
    lines = [ln for ln in (text or "").splitlines() if ln.strip()]
    keys = [_parse(ln)[0] for ln in lines]
    if C.RUN_START not in keys:
        return None
    kept = []
    for line, key in zip(lines, keys):
        metadata = _parse(line)[1]
        if key == C.RUN_STOP or (
                key in (C.EVAL_START, C.EVAL_ACCURACY, C.EVAL_STOP)
                and metadata.get("epoch_num", 0) > epoch + 1e-9):
            break
        kept.append(line)
    kept_keys = [_parse(ln)[0] for ln in kept]
    if C.BLOCK_START in kept_keys:
        last = len(kept_keys) - 1 - kept_keys[::-1].index(C.BLOCK_START)
        if C.EVAL_STOP not in kept_keys[last:]:
            kept = kept[:last]
    return kept


class MlperfLog:
    """One run's MLPerf log."""

    def __init__(self, model_dir: str):
        self._logger = logging.getLogger(f"limitbatch_tf.mllog.{id(self)}")
        self._logger.propagate = False
        self._logger.setLevel(logging.INFO)
        self.path = rundir.join(model_dir, LOG_FILE)
        self._lines = []
        self._handler = _Lines(self._lines)
        self._logger.addHandler(self._handler)
        self._mllogger = MLLogger(logger=self._logger)
        self._block_first_epoch = None  # an open block's first epoch
        self._resumed = False

    def resume(self, epoch: float) -> None:
        """Goes on from the saved log of a run restored at ``epoch``
        (this attempt's init lines are dropped: the run has one init)."""
        kept = continuation(rundir.read_text(self.path), epoch)
        if kept is not None:
            self._lines[:] = kept
            self._resumed = True

    def flush(self) -> None:
        """Writes the whole log, atomically."""
        rundir.write_atomic(self.path, "".join(ln + "\n" for ln in self._lines))

    def event(self, key, value=None, **metadata):
        self._mllogger.event(key=key, value=value, metadata=metadata or None)

    def init_start(self, config, plan, num_eval: int, bn_span=None):
        """Submission info and hyperparameters, then init_start."""
        m = self._mllogger
        m.event(key=C.CACHE_CLEAR, value=True)
        m.start(key=C.INIT_START)
        m.event(key=C.SUBMISSION_ORG, value="limitbatch_tf")
        m.event(key=C.SUBMISSION_PLATFORM,
                value=f"{platform.machine()} {os.cpu_count()} cpus")
        m.event(key=C.SUBMISSION_DIVISION, value=C.OPEN)
        m.event(key=C.SUBMISSION_STATUS, value=C.RESEARCH)
        m.event(key=C.SUBMISSION_BENCHMARK,
                value=_BENCHMARKS.get(config.model, config.model))
        m.event(key=C.SEED, value=config.seed)
        m.event(key=C.GLOBAL_BATCH_SIZE, value=plan.layout.global_batch)
        m.event(key=C.GRADIENT_ACCUMULATION_STEPS,
                value=plan.layout.micro_batches)
        m.event(key=C.TRAIN_SAMPLES, value=plan.num_train)
        m.event(key=C.EVAL_SAMPLES, value=num_eval)
        if bn_span is not None:
            m.event(key=C.MODEL_BN_SPAN, value=bn_span)
        for key, value in optimizer_keys(config, plan).items():
            m.event(key=key, value=value)

    def init_stop_run_start(self):
        if self._resumed:
            return
        self._mllogger.end(key=C.INIT_STOP)
        self._mllogger.start(key=C.RUN_START)

    def ensure_block(self, epoch: float, next_eval_epoch: float):
        """Opens a block of the epochs up to the next evaluation, unless one
        is open (MLPerf: a block is the training between two evaluations)."""
        if self._block_first_epoch is not None:
            return
        first = math.floor(epoch)
        self._block_first_epoch = first
        self._mllogger.start(key=C.BLOCK_START, metadata=dict(
            first_epoch_num=first,
            epoch_count=max(math.ceil(next_eval_epoch) - first, 1)))

    def end_block(self):
        """Closes the open block, if any."""
        if self._block_first_epoch is None:
            return
        self._mllogger.end(key=C.BLOCK_STOP, metadata=dict(
            first_epoch_num=self._block_first_epoch))
        self._block_first_epoch = None

    def eval(self, epoch: float, accuracy: float):
        """An evaluation, which ends the current block."""
        self.end_block()
        m = self._mllogger
        m.start(key=C.EVAL_START, metadata=dict(epoch_num=epoch))
        m.event(key=C.EVAL_ACCURACY, value=accuracy,
                metadata=dict(epoch_num=epoch))
        m.end(key=C.EVAL_STOP, metadata=dict(epoch_num=epoch))

    def run_stop(self, success: bool):
        """run_stop, status success (the target reached) or aborted."""
        self.end_block()
        self._mllogger.end(key=C.RUN_STOP, metadata=dict(
            status=C.SUCCESS if success else C.ABORTED))
        self.flush()

    def close(self):
        self._logger.removeHandler(self._handler)
        self._handler.close()


def optimizer_keys(config, plan) -> dict:
    """The optimizer's MLPerf hyperparameter keys (LARS keys for LARS)."""
    warmup_epochs = (config.warmup_steps / plan.steps_per_epoch
                     if config.warmup_steps is not None else config.warmup_epochs)
    if config.optimizer == "lars":
        return {
            C.OPT_NAME: C.LARS,
            C.LARS_OPT_BASE_LEARNING_RATE: plan.peak_lr,
            C.LARS_OPT_END_LR: config.end_lr,
            C.LARS_OPT_LR_DECAY_POLY_POWER: (config.poly_power
                                             if config.poly_power is not None
                                             else 2.0),
            C.LARS_OPT_LR_DECAY_STEPS: plan.total_steps,
            C.LARS_EPSILON: config.lars_epsilon,
            C.LARS_OPT_LEARNING_RATE_WARMUP_EPOCHS: warmup_epochs,
            C.LARS_OPT_MOMENTUM: config.momentum,
            C.LARS_OPT_WEIGHT_DECAY: config.weight_decay,
        }
    return {
        C.OPT_NAME: config.optimizer,
        C.OPT_BASE_LR: plan.peak_lr,
        C.OPT_LR_WARMUP_EPOCHS: warmup_epochs,
        C.OPT_LR_DECAY_STEPS: plan.total_steps,
        "opt_momentum": config.momentum,
        C.OPT_WEIGHT_DECAY: config.weight_decay,
    }
