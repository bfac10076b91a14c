"""One trial: one main-job subprocess into its own model_dir.

A trial is a base config (a YAML file of flag names), an ordered mapping of
overrides (the grid/sweep values, given as ``--key=value`` flags) and extra
main flags passed verbatim. Its config is resolved in-process with the main
job's own flag parser (no TensorFlow import), so a bad value is reported
before anything is launched, and a finished trial can be checked against
the config it should have.

Outcome of a trial, from its results.json and exit code:
  completed / target_reached / diverged / unstable -> finished, never rerun;
  preempted (exit 3)               -> rerun, the main job resumes it;
  crashed (no finished results)    -> rerun, the main job resumes it;
  error (exit 2, bad input)        -> reported with the job's one-line error.
"""
from __future__ import annotations

import dataclasses
import math
import os
import subprocess
import sys
from typing import Optional

from absl import flags as absl_flags

import limitbatch_tf
from limitbatch_tf import rundir
from limitbatch_tf.config import Config, ConfigError, unknown_key_error
from limitbatch_tf.flags import config_from_flags, define_flags

LOG_FILE = rundir.TRIAL_LOG
FINISHED = rundir.FINISHED
# Settings a grid or sweep owns: each trial's folder is chosen for it.
RESERVED = ("model_dir", "overwrite", "config")
_SPECS = {name: typ for name, typ, _, _ in Config.field_specs()}
_SAFE = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._+-")


@dataclasses.dataclass(frozen=True)
class PlannedTrial:
    """One run: its id (also its folder name) and its override values."""

    trial_id: str
    values: tuple  # ((flag name, typed value), ...), in axis order
    model_dir: str

    @property
    def overrides(self) -> dict:
        return dict(self.values)


@dataclasses.dataclass
class Outcome:
    """What a trial's folder says about it."""

    status: str  # a rundir status (finished or preempted), crashed|error|pending
    results: Optional[dict] = None
    error: Optional[str] = None
    ran: bool = False  # launched by this invocation

    @property
    def finished(self) -> bool:
        return self.status in FINISHED

    def metric(self, name: str) -> Optional[float]:
        """results.json's metrics[name], None when absent or not finite."""
        value = ((self.results or {}).get("metrics") or {}).get(name)
        if isinstance(value, (int, float)) and math.isfinite(value):
            return float(value)
        return None


def coerce(name: str, text: str):
    """A flag value typed as the Config field ``name`` says.

    Raises:
      ConfigError: unknown or reserved flag, or text not of the field's type.
    """
    if name in RESERVED:
        raise ConfigError(f"--{name} is set by the grid/sweep tool for each "
                          f"trial; it cannot be an axis or a --set value")
    if name not in _SPECS:
        raise unknown_key_error(name, "grid/sweep")
    typ, text = _SPECS[name], text.strip()
    try:
        if typ is bool:
            if text.lower() not in ("true", "false", "1", "0"):
                raise ValueError
            return text.lower() in ("true", "1")
        value = typ(text)
    except ValueError:
        raise ConfigError(f"--{name}={text!r}: expected {typ.__name__}") from None
    if typ is float and not math.isfinite(value):
        raise ConfigError(f"--{name}={text}: expected a finite number")
    return value


def check_id_safe(name: str, value) -> None:
    """Values that name folders (axes) may use only [A-Za-z0-9._+-]."""
    text = format_value(value)
    if not (text and set(text) <= _SAFE):
        raise ConfigError(f"--{name}={text!r}: axis values name folders and "
                          f"may use only letters, digits and . _ + -")


def format_value(value) -> str:
    """The canonical text of a value in ids and flags: 2.0 -> '2', 1e-05."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return repr(value) if isinstance(value, float) else str(value)


def trial_id(values) -> str:
    """'key=value,key=value' in the given order (readable folder names)."""
    return ",".join(f"{k}={format_value(v)}" for k, v in values)


def flag_args(config_path: Optional[str], values, extra_args=()) -> list:
    """The main job's arguments for a trial, model_dir excluded."""
    args = [f"--config={config_path}"] if config_path else []
    args += [f"--{k}={format_value(v)}" for k, v in values]
    return args + list(extra_args)


def check_extra_args(extra_args, owned_names) -> None:
    """Rejects extra main flags that are unknown or set by the tool itself."""
    probe = absl_flags.FlagValues()
    define_flags(probe)
    try:
        rest = probe(["main"] + list(extra_args))
    except absl_flags.Error as e:
        raise ConfigError(f"extra main flags: {e}") from None
    if len(rest) > 1:
        raise ConfigError(f"extra main flags: unexpected arguments {rest[1:]}")
    for name in list(owned_names) + list(RESERVED):
        if probe[name].present:
            raise ConfigError(f"extra main flag --{name} is set by the tool "
                              f"(use --grid/--set, or --out/--store)")


def resolve_config(config_path: Optional[str], values, extra_args=()) -> Config:
    """The validated Config the main job will build for these arguments."""
    parsed = absl_flags.FlagValues()
    define_flags(parsed)
    try:
        parsed(["main"] + flag_args(config_path, values, extra_args))
    except absl_flags.Error as e:
        raise ConfigError(str(e)) from None
    return config_from_flags(parsed)


def command(trial: PlannedTrial, config_path: Optional[str], sets=(), extra_args=(),
            python: str = sys.executable) -> list:
    """argv of the main-job subprocess of ``trial``.

    Args:
      trial: The trial (its values and model_dir).
      config_path: The base YAML config, or None for the defaults.
      sets: ((name, value), ...) fixed for every trial, before its values.
      extra_args: Main flags passed verbatim after them.
      python: The interpreter. Defaults to this one.
    """
    return ([python, "-m", "limitbatch_tf.main"]
            + flag_args(config_path, tuple(sets) + trial.values, extra_args)
            + [f"--model_dir={trial.model_dir}"])


def subprocess_env() -> dict:
    """The environment of a trial: this package importable from anywhere."""
    env = dict(os.environ)
    root = os.path.dirname(os.path.dirname(os.path.abspath(limitbatch_tf.__file__)))
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (root, env.get("PYTHONPATH")) if p)
    return env


def launch(argv: list, model_dir: str, cpus=None) -> subprocess.Popen:
    """Starts a trial; its stdout and stderr go to <model_dir>/trial.log.

    Args:
      cpus: CPU ids the trial may run on (Linux affinity), or None for all.
        TensorFlow sizes its intra-op and inter-op thread pools from the
        schedulable CPUs, so a pinned trial also runs that many threads.
    """
    os.makedirs(model_dir, exist_ok=True)
    pin = None if cpus is None else (lambda: os.sched_setaffinity(0, cpus))
    with open(os.path.join(model_dir, LOG_FILE), "ab") as log:
        log.write(("$ " + " ".join(argv) + "\n").encode())
        log.flush()
        return subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, env=subprocess_env(),
                                preexec_fn=pin)


def run(trial: PlannedTrial, argv: list) -> Outcome:
    """Runs one trial to its end (unless already finished); its Outcome."""
    before = existing(trial.model_dir)
    if before.finished:
        return before
    proc = launch(argv, trial.model_dir)
    return after_exit(trial.model_dir, proc.wait())


def existing(model_dir: str) -> Outcome:
    """The outcome recorded in a trial folder before anything is launched."""
    results = rundir.read_results(model_dir)
    if results is None:
        return Outcome("pending")
    status = results.get("status")
    if status in FINISHED or status == rundir.PREEMPTED:
        return Outcome(status, results)
    return Outcome("crashed", results)  # "running" left behind by a crash


def after_exit(model_dir: str, returncode: int) -> Outcome:
    """The outcome of a trial whose subprocess exited with ``returncode``."""
    outcome = existing(model_dir)
    outcome.ran = True
    if outcome.finished:
        return outcome
    if returncode == rundir.EXIT_PREEMPTED:
        outcome.status = rundir.PREEMPTED
    elif returncode == rundir.EXIT_BAD_INPUT:
        outcome.status, outcome.error = "error", _last_error(model_dir)
    else:
        outcome.status = "crashed"
        outcome.error = f"exit code {returncode}; see {os.path.join(model_dir, LOG_FILE)}"
    return outcome


def _last_error(model_dir: str) -> str:
    try:
        with open(os.path.join(model_dir, LOG_FILE), errors="replace") as f:
            lines = [ln.strip() for ln in f if ln.startswith("error:")]
    except OSError:
        lines = []
    return lines[-1] if lines else "bad input (exit code 2)"


def config_mismatch(results: dict, config: Config) -> Optional[str]:
    """Why a finished trial's saved config is not ``config`` (None if it is).

    Only result-defining fields (Config.identity) present in both are
    compared, so a field added to Config later does not orphan old trials.
    """
    return rundir.config_difference(results.get("config") or {},
                                    config.identity())
