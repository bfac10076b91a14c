"""MLPerf-compliant event logs (mlperf_logging.mllog), as the MLPerf
ResNet-50 reference emits them: submission info, init/run start-stop,
blocks of epochs between evaluations, eval accuracy, the global batch size,
the optimizer's hyperparameters (LARS keys for LARS) and the BN span.

Each run gets its own MLLogger writing ``<model_dir>/mllog.txt`` so runs in
one process (tests, sweeps) never share a file. MLPerf logs have no notion of
resuming: each attempt of a preempted run writes its own complete log
(init, run start, its blocks, run stop), ``mllog.txt`` first, then
``mllog.attempt2.txt``, ``mllog.attempt3.txt``, ...; an attempt killed
without warning leaves its log without run_stop. Check a log with
``python -m mlperf_logging.compliance_checker --usage training
--ruleset 4.0.0 <model_dir>/mllog.txt``.
"""
from __future__ import annotations

import logging
import math
import os
import platform

from mlperf_logging.mllog.mllog import MLLogger
from mlperf_logging.mllog import constants as C

LOG_FILE = "mllog.txt"
# MLPerf benchmark names of our models; other models log their own name.
_BENCHMARKS = {"resnet50_v1_5": C.RESNET, "resnet50_cifar": C.RESNET}


def log_path(model_dir: str) -> str:
    """This attempt's log: mllog.txt, else the first free mllog.attemptN.txt."""
    path, attempt = os.path.join(model_dir, LOG_FILE), 1
    while os.path.exists(path):
        attempt += 1
        path = os.path.join(model_dir, f"mllog.attempt{attempt}.txt")
    return path


class MlperfLog:
    """One run's MLPerf log."""

    def __init__(self, model_dir: str):
        self._logger = logging.getLogger(f"limitbatch_tf.mllog.{id(self)}")
        self._logger.propagate = False
        self._logger.setLevel(logging.INFO)
        self.path = log_path(model_dir)
        self._handler = logging.FileHandler(self.path)
        self._logger.addHandler(self._handler)
        self._mllogger = MLLogger(logger=self._logger)
        self._block_first_epoch = None  # an open block's first epoch

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

    def run_stop(self, status: str):
        self.end_block()
        self._mllogger.end(key=C.RUN_STOP, metadata=dict(
            status=C.SUCCESS if status == "completed" else C.ABORTED))
        self._handler.flush()

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
