"""find_limit's trainer: one main-job subprocess per trial into a results store.

Each TrialSpec becomes a trial of experiments/trials.py (the sweep tool's
layout: ``STORE/batch_size=B,learning_rate=LR,epochs=E,seed=S/`` holding
results.json, config.json, trial.log, TensorBoard events), so
tools/regimes.py and tools/plot.py read a find_limit store as they read a
sweep's. Every trial runs with ``--lr_scaling=none`` and its peak LR given
outright (the search scales LRs itself). A finished trial folder is read,
not rerun; a preempted or crashed one is started again and the main job
resumes it from its checkpoint.
"""
from __future__ import annotations

import os
import resource
import signal
import sys
import threading

from limitbatch_tf.config import ConfigError
from limitbatch_tf.sweeps import grid, trials
from limitbatch_tf.forecast.search import TrialResult, TrialSpec


class Interrupted(Exception):
    """SIGTERM/SIGINT arrived: the running trial checkpointed and stopped."""


def _cpu_children() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


class MainJobTrainer:
    """``trainer(spec) -> TrialResult`` running ``python -m limitbatch_tf.main``.

    Args:
      config_path: The recipe's YAML config (B0's settings).
      store: The results store folder.
      extra_args: Main flags passed verbatim to every trial.
      python: The interpreter. Defaults to this one.
    """

    SETS = (("lr_scaling", "none"),)

    def __init__(self, config_path, store, extra_args=(), python=sys.executable):
        self.config_path, self.store = config_path, store
        self.extra_args, self.python = tuple(extra_args), python
        trials.check_extra_args(self.extra_args, ["batch_size", "learning_rate",
                                                  "epochs", "seed", "lr_scaling"])

    def trial(self, spec: TrialSpec) -> trials.PlannedTrial:
        values = (("batch_size", trials.coerce("batch_size", str(spec.batch_size))),
                  ("learning_rate", float(spec.learning_rate)),
                  ("epochs", float(spec.epochs)), ("seed", int(spec.seed)))
        tid = trials.trial_id(values)
        return trials.PlannedTrial(tid, values, os.path.join(self.store, tid))

    def check(self, spec: TrialSpec):
        """The trial's validated Config (raises ConfigError naming the flag)."""
        t = self.trial(spec)
        config = trials.resolve_config(self.config_path, self.SETS + t.values,
                                       self.extra_args)
        before = trials.existing(t.model_dir)
        if before.results is not None:
            why = trials.config_mismatch(before.results, config)
            if why:
                raise ConfigError(f"{t.model_dir} holds a run with a different "
                                  f"config ({why}); choose another --store")
        return config

    def __call__(self, spec: TrialSpec) -> TrialResult:
        t = self.trial(spec)
        self.check(spec)
        outcome = trials.existing(t.model_dir)
        cpu = None
        if not outcome.finished:
            # A resumed trial: the segments before the kill ran in another
            # process, so their CPU is unmeasured here; their wall time
            # (results.json's wall_time_s, cumulative) stands in for it.
            prior = float((outcome.results or {}).get("wall_time_s") or 0.0)
            start = _cpu_children()
            outcome = self._run(t, self._argv(t))
            cpu = _cpu_children() - start + prior
        return self._result(t, outcome, cpu)

    def run_many(self, specs, parallel: int) -> list:
        """Results of ``specs``, trained ``parallel`` at a time by the sweep
        tools' executor (each trial pinned to its own CPUs, signals
        forwarded). A trial's CPU-seconds are then its wall seconds times
        the CPUs it was given (their share: an upper bound of its use)."""
        planned = [self.trial(spec) for spec in specs]
        for spec in specs:
            self.check(spec)
        before = {t.trial_id for t in planned
                  if trials.existing(t.model_dir).finished}
        report = grid.execute(planned, self._argv, parallel, log=lambda m: None)
        if report.interrupted:
            raise Interrupted(f"signal {report.interrupted}; "
                              f"{len(report.unfinished)} trial(s) unfinished")
        cpus = len(os.sched_getaffinity(0)) if hasattr(
            os, "sched_getaffinity") else (os.cpu_count() or 1)
        share = max(1.0, cpus / min(parallel, len(planned)))
        out = []
        for t in planned:
            outcome = report.outcomes[t.trial_id]
            wall = float((outcome.results or {}).get("wall_time_s") or 0.0)
            out.append(self._result(
                t, outcome, None if t.trial_id in before else wall * share))
        return out

    def _argv(self, t):
        return trials.command(t, self.config_path, self.SETS,
                              self.extra_args, self.python)

    @staticmethod
    def _result(t, outcome, cpu) -> TrialResult:
        """TrialResult of a trial's outcome; ``cpu`` None: it finished
        before this search, so its own recorded wall time counts."""
        if outcome.status == "error":
            raise ConfigError(f"trial {t.trial_id}: {outcome.error}")
        if not outcome.finished:
            raise Interrupted(f"trial {t.trial_id} {outcome.status}"
                              + (f": {outcome.error}" if outcome.error else ""))
        results = outcome.results or {}
        if cpu is None:
            cpu = float(results.get("wall_time_s") or 0.0)
        acc = outcome.metric("eval_accuracy")
        val = outcome.metric("validation_accuracy")
        loss = outcome.metric("validation_loss")
        return TrialResult(
            outcome.status, acc, val if val is not None else acc,
            loss if loss is not None else outcome.metric("eval_loss"),
            float(results.get("epochs_completed") or 0.0), cpu)

    @staticmethod
    def _run(t, argv):
        """Runs the subprocess; SIGTERM/SIGINT are forwarded to it (it
        checkpoints and exits as preempted), then Interrupted is raised."""
        proc = trials.launch(argv, t.model_dir)
        stop, previous = [], {}

        def forward(signum, frame):
            stop.append(signum)
            proc.send_signal(signal.SIGTERM)

        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGTERM, signal.SIGINT):
                previous[sig] = signal.signal(sig, forward)
        try:
            code = proc.wait()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        outcome = trials.after_exit(t.model_dir, code)
        if stop:
            raise Interrupted(f"signal {signal.Signals(stop[0]).name}; trial "
                              f"{t.trial_id} {outcome.status}")
        return outcome
