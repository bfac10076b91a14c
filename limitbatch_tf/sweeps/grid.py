"""Grids of trials: axes, cell ids, resumable execution N at a time, best cell.

A grid is the Cartesian product of axes (``learning_rate=1,2,4``), the
first axis varying slowest. Each cell is a trial whose id names its values
in axis order (``learning_rate=2,warmup_epochs=5``) and whose model_dir is
``<root>/<cell id>``. Execution is resumable: a cell whose results.json
says completed, diverged or unstable is read, not rerun; a preempted or
crashed one is started again and the main job resumes it from its latest
checkpoint (section 3.1's grid search over LR and warmup epochs is this
with two axes).
"""
from __future__ import annotations

import dataclasses
import itertools
import math
import os
import signal
import threading
import time
from typing import Callable, Optional

from limitbatch_tf import rundir
from limitbatch_tf.config import ConfigError
from limitbatch_tf.sweeps import hparams, trials
from limitbatch_tf.sweeps.trials import Outcome, PlannedTrial


@dataclasses.dataclass(frozen=True)
class Axis:
    name: str
    values: tuple


def parse_axis(spec: str) -> Axis:
    """'name=v1,v2,...' -> Axis with values typed as the Config field.

    Raises:
      ConfigError: no '=', unknown flag, empty or repeated values, bad type.
    """
    name, sep, text = spec.partition("=")
    name = name.strip().lstrip("-")
    if not sep or not name:
        raise ConfigError(f"--grid {spec!r}: expected name=value1,value2,...")
    parts = [p for p in text.split(",")]
    if not text.strip() or any(not p.strip() for p in parts):
        raise ConfigError(f"--grid {spec!r}: empty value in the list")
    values = tuple(trials.coerce(name, p) for p in parts)
    for value in values:
        trials.check_id_safe(name, value)
    texts = [trials.format_value(v) for v in values]
    if len(set(texts)) != len(texts):
        raise ConfigError(f"--grid {spec!r}: a value is repeated")
    return Axis(name, values)


def parse_sets(specs) -> tuple:
    """['key=value', ...] (--set) -> ((key, typed value), ...)."""
    out = []
    for spec in specs:
        name, sep, text = spec.partition("=")
        name = name.strip().lstrip("-")
        if not sep or not name:
            raise ConfigError(f"--set {spec!r}: expected name=value")
        out.append((name, trials.coerce(name, text)))
    return tuple(out)


def check_names(axes, sets=()) -> None:
    """Every flag appears once among the axes and --set values."""
    seen = set()
    for name in [a.name for a in axes] + [k for k, _ in sets]:
        if name in seen:
            raise ConfigError(f"--{name} is given twice (as an axis or --set)")
        seen.add(name)


def expand(axes) -> list:
    """Cells as tuples of (name, value), first axis slowest."""
    names = [a.name for a in axes]
    return [tuple(zip(names, combo))
            for combo in itertools.product(*(a.values for a in axes))]


def make_trials(cells, root: str) -> list:
    return [PlannedTrial(trials.trial_id(c), c, os.path.join(root, trials.trial_id(c)))
            for c in cells]


def check_finished_configs(trial_list, config_path, sets, extra_args) -> dict:
    """Resolves every trial's config (validating it) and checks finished ones.

    Returns {trial_id: Config}. Raises ConfigError for a bad value or a
    finished trial whose folder holds a different config.
    """
    configs = {}
    for t in trial_list:
        config = trials.resolve_config(config_path, tuple(sets) + t.values,
                                       extra_args)
        before = trials.existing(t.model_dir)
        if before.results is not None:
            why = trials.config_mismatch(before.results, config)
            if why:
                raise ConfigError(rundir.different_config_message(
                    t.model_dir, why, "choose another output folder"))
        configs[t.trial_id] = config
    return configs


@dataclasses.dataclass
class GridReport:
    outcomes: dict  # trial_id -> Outcome, in trial order
    ran: int = 0
    skipped: int = 0
    interrupted: Optional[str] = None  # signal name when stopped early

    @property
    def errors(self) -> list:
        return [(k, o) for k, o in self.outcomes.items()
                if o.status == "error"]

    @property
    def unfinished(self) -> list:
        return [k for k, o in self.outcomes.items() if not o.finished]


GIB_PER_TRIAL = 2  # a Fashion-MNIST LeNet-5 trial peaks near 1 GiB RSS


def resolve_parallel(text) -> int:
    """``--parallel``: a count >= 1, or "auto": one trial per usable CPU
    (each pinned to its own, cpu_slots), at most one per GIB_PER_TRIAL GiB
    of memory.

    On the project's 2-core machine two 1-CPU trials finish more trials per
    hour than one 2-thread trial (benchmarks/README.md, issue 18): a small
    model's step does not scale to the second core as well as a second
    trial uses it, and one trial's start-up and evaluation overlap the
    other's training. A trial that needs many cores (ResNet-50) wants an
    explicit N.
    """
    if str(text) == "auto":
        cpus = (len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
                else os.cpu_count() or 1)
        try:
            memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
        except (ValueError, OSError, AttributeError):
            memory = None
        by_memory = cpus if memory is None else max(1, memory // (GIB_PER_TRIAL << 30))
        return max(1, min(cpus, by_memory))
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise ConfigError(f"--parallel={text}: expected an integer >= 1 or 'auto'")
    return value


def cpu_slots(parallel: int, pin: bool = True) -> list:
    """Disjoint CPU sets, one per concurrent trial, or ``[None] * parallel``.

    N trials at once on C cores each get C // N cores (the first C % N
    slots one more), so two 1-thread trials share a 2-core machine instead
    of four threads fighting over it (issue 18). Unpinned when ``pin`` is
    False, when there is one trial at a time, when there are more trials
    than cores, or where the OS has no CPU affinity (not Linux).
    """
    if not pin or parallel < 2 or not hasattr(os, "sched_getaffinity"):
        return [None] * parallel
    cpus = sorted(os.sched_getaffinity(0))
    if parallel > len(cpus):
        return [None] * parallel
    size, extra = divmod(len(cpus), parallel)
    slots, start = [], 0
    for i in range(parallel):
        n = size + (i < extra)
        slots.append(frozenset(cpus[start:start + n]))
        start += n
    return slots


def execute(trial_list, argv_of: Callable[[PlannedTrial], list], parallel: int = 1,
            on_finish: Optional[Callable[[PlannedTrial, Outcome], None]] = None,
            log=print, poll_s: float = 0.2, pin: bool = True) -> GridReport:
    """Runs the unfinished trials, ``parallel`` at a time; returns a GridReport.

    A trial that exits with the main job's bad-input code stops new
    launches (every later trial would fail the same way). SIGTERM/SIGINT to
    this process is forwarded to the running trials, which checkpoint and
    exit as preempted; nothing new starts.

    Args:
      trial_list: Trials, in order.
      argv_of: The subprocess argv of a trial.
      parallel: Trials running at once. Defaults to 1.
      on_finish: Called with (trial, outcome) for every finished trial,
        including those finished before this call.
      log: One-line progress sink. Defaults to print.
      pin: Give each of the ``parallel`` running trials its own CPUs
        (``cpu_slots``). Defaults to True.
    """
    if parallel < 1:
        raise ConfigError(f"--parallel={parallel} must be >= 1")
    free_slots = cpu_slots(parallel, pin)
    report = GridReport({})
    todo = []
    for t in trial_list:
        outcome = trials.existing(t.model_dir)
        report.outcomes[t.trial_id] = outcome
        if outcome.finished:
            report.skipped += 1
            if on_finish:
                on_finish(t, outcome)
        else:
            todo.append(t)
    total, running, stop = len(todo), {}, []

    def handle(signum, frame):
        stop.append(signal.Signals(signum).name)
        for proc, *_ in running.values():
            proc.send_signal(signal.SIGTERM)

    previous = {}
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGTERM, signal.SIGINT):
            previous[sig] = signal.signal(sig, handle)
    try:
        queue = list(todo)
        while queue or running:
            while queue and len(running) < parallel and not stop:
                t = queue.pop(0)
                log(f"[{total - len(queue)}/{total}] start {t.trial_id}")
                slot = free_slots.pop(0)
                running[t.trial_id] = (trials.launch(argv_of(t), t.model_dir,
                                                     slot), t, time.time(), slot)
            for key, (proc, t, start, slot) in list(running.items()):
                if proc.poll() is None:
                    continue
                del running[key]
                free_slots.append(slot)
                outcome = trials.after_exit(t.model_dir, proc.returncode)
                report.outcomes[key] = outcome
                report.ran += 1
                log(f"done {key}: {outcome.status} ({time.time() - start:.1f} s)"
                    + (f" {outcome.error}" if outcome.error else ""))
                if outcome.finished and on_finish:
                    on_finish(t, outcome)
                if outcome.status == "error":
                    queue.clear()
            if stop and queue:
                queue.clear()
            if running:
                time.sleep(poll_s)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    report.interrupted = stop[0] if stop else None
    return report


def goal_of(metric: str, goal: Optional[str] = None) -> str:
    """'min' for losses, 'max' otherwise, unless ``goal`` says."""
    if goal is not None:
        if goal not in ("min", "max"):
            raise ConfigError(f"--goal={goal}: expected min or max")
        return goal
    return "min" if metric.endswith("loss") else "max"


def best(trial_list, outcomes: dict, metric: str, goal: str) -> Optional[PlannedTrial]:
    """The completed trial with the best finite ``metric`` (first on ties).

    Diverged and unstable trials are infeasible: never the best.
    """
    sign = -1.0 if goal == "max" else 1.0
    scored = [(sign * outcomes[t.trial_id].metric(metric), i, t)
              for i, t in enumerate(trial_list)
              if outcomes[t.trial_id].status == "completed"
              and outcomes[t.trial_id].metric(metric) is not None]
    return min(scored)[2] if scored else None


def row(trial: PlannedTrial, outcome: Outcome, metric: str) -> dict:
    """One table row: the axes, status, metric and where it diverged."""
    results = outcome.results or {}
    out = {"cell": trial.trial_id}
    out.update({k: trials.format_value(v) for k, v in trial.values})
    value = outcome.metric(metric)
    out.update(status=outcome.status,
               **{metric: value if value is not None else ""},
               diverged_step=_blank(results.get("diverged_step")),
               steps=_blank(results.get("steps")),
               peak_learning_rate=_blank(results.get("peak_learning_rate")),
               wall_time_s=_blank(results.get("wall_time_s")))
    return out


def _blank(value):
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return ""
    return value


def run(config_path: Optional[str], axes, root: str, *, sets=(),
        extra_args=(), parallel: int = 1, log=print,
        argv_of: Optional[Callable[[PlannedTrial], list]] = None, pin: bool = True):
    """Validates, then runs every unfinished cell of a grid under ``root``.

    Every cell's config is resolved and validated before anything starts,
    and a finished cell whose saved config differs is refused. Finished
    cells get their TensorBoard HParams session.

    Args:
      config_path: Base YAML config, or None for the defaults.
      axes: Axis objects.
      root: Folder of the cells' model_dirs.
      sets: ((name, value), ...) fixed for every cell. Defaults to none.
      extra_args: Main flags passed verbatim. Defaults to none.
      parallel: Cells running at once. Defaults to 1.
      log: One-line progress sink. Defaults to print.
      argv_of: Subprocess argv of a cell. Defaults to the main job
        (``trials.command``); tests substitute fakes.
      pin: Each concurrent cell on its own CPUs (``cpu_slots``). Defaults
        to True.
    Returns:
      (trials, GridReport).
    """
    check_names(axes, sets)
    trials.check_extra_args(extra_args, [a.name for a in axes]
                            + [k for k, _ in sets])
    trial_list = make_trials(expand(axes), root)
    check_finished_configs(trial_list, config_path, sets, extra_args)
    if argv_of is None:
        def argv_of(t):
            return trials.command(t, config_path, sets, extra_args)
    os.makedirs(root, exist_ok=True)
    report = execute(trial_list, argv_of, parallel, on_finish=_record_hparams,
                     log=log, pin=pin)
    return trial_list, report


def _record_hparams(trial: PlannedTrial, outcome: Outcome) -> None:
    if hparams.has_session(trial.model_dir):
        return
    started = os.path.join(trial.model_dir, rundir.CONFIG_FILE)
    start = os.path.getmtime(started) if os.path.exists(started) else time.time()
    hparams.write_session(trial.model_dir, trial.trial_id, trial.values,
                          outcome.status, start, global_batch=(
                              outcome.results or {}).get("global_batch_size"))
