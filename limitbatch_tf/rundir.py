"""The run directory's contract, in one place, without TensorFlow.

A run's ``--model_dir`` holds ``config.json`` (the resolved config, written
once), ``results.json`` (rewritten after every evaluation and at the end),
``mllog.txt`` (the MLPerf log), ``checkpoints/``, TensorBoard's ``train/``
and ``eval/`` folders and, for a trial of a sweep or grid, ``trial.log``.
The training job writes it; the sweep, grid and analysis tools read it.
Both sides use this module, so its names, statuses and exit codes cannot
drift apart, and the tools stay free of TensorFlow (they start in a second).

File I/O goes through ``tf.io.gfile`` when TensorFlow is already imported
(the training job: ``gs://`` and ``ram://`` paths work) and through plain
files otherwise (the tools: no TensorFlow import for a JSON file). Writes are
atomic where the filesystem can rename: a temporary file, then a rename over
the target, so a reader (or a run killed mid-write) never sees half a file.
On GCS a rename is a copy then a delete, still never a partial object.
"""
from __future__ import annotations

import json
import os
import shutil
import sys
from typing import Optional

CONFIG_FILE = "config.json"
RESULTS_FILE = "results.json"
MLLOG_FILE = "mllog.txt"
TRIAL_LOG = "trial.log"
CHECKPOINT_DIR = "checkpoints"

# results.json "status"
RUNNING = "running"
COMPLETED = "completed"
TARGET_REACHED = "target_reached"  # stopped at --target_accuracy
DIVERGED = "diverged"              # non-finite loss
UNSTABLE = "unstable"              # loss > --unstable_factor x best
PREEMPTED = "preempted"            # SIGTERM/SIGINT: checkpoint saved, rerun
FINISHED = (COMPLETED, TARGET_REACHED, DIVERGED, UNSTABLE)  # never rerun
FAILED = (DIVERGED, UNSTABLE)

# limitbatch_tf.main's exit codes
EXIT_OK = 0
EXIT_BAD_INPUT = 2
EXIT_PREEMPTED = 3
EXIT_DIVERGED = 4  # with --on_divergence=fail


def _gfile():
    """tf.io.gfile when TensorFlow is loaded in this process, else None."""
    tf = sys.modules.get("tensorflow")
    return tf.io.gfile if tf is not None else None


def join(*parts: str) -> str:
    """A path under a run directory (also for URLs such as gs://b/run)."""
    return os.path.join(*parts)


def exists(path: str) -> bool:
    gfile = _gfile()
    return gfile.exists(path) if gfile else os.path.exists(path)


def isdir(path: str) -> bool:
    gfile = _gfile()
    return gfile.isdir(path) if gfile else os.path.isdir(path)


def makedirs(path: str) -> None:
    gfile = _gfile()
    if gfile:
        gfile.makedirs(path)
    else:
        os.makedirs(path, exist_ok=True)


def rmtree(path: str) -> None:
    gfile = _gfile()
    if gfile:
        gfile.rmtree(path)
    else:
        shutil.rmtree(path)


def open_file(path: str, mode: str = "r"):
    """A file object for ``path`` (gfile.GFile when TensorFlow is loaded)."""
    gfile = _gfile()
    return gfile.GFile(path, mode) if gfile else open(path, mode)


def read_text(path: str) -> Optional[str]:
    """The file's text, or None when it does not exist or cannot be read."""
    errors = (OSError, UnicodeDecodeError)
    if _gfile():
        errors += (sys.modules["tensorflow"].errors.OpError,)
    try:
        with open_file(path) as f:
            return f.read()
    except errors:
        return None


def write_atomic(path: str, data) -> None:
    """Writes ``data`` (str or bytes) to ``path``: temp file, then rename."""
    mode = "wb" if isinstance(data, bytes) else "w"
    tmp = f"{path}.tmp-{os.getpid()}"
    gfile = _gfile()
    if gfile:
        with gfile.GFile(tmp, mode) as f:
            f.write(data)
        gfile.rename(tmp, path, overwrite=True)
        return
    with open(tmp, mode) as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def write_json(path: str, payload) -> None:
    """``payload`` as indented, key-sorted JSON, atomically."""
    write_atomic(path, json.dumps(payload, indent=2, sort_keys=True,
                                  default=float) + "\n")


def read_json(path: str) -> Optional[dict]:
    """The JSON in ``path``; None when absent, unreadable or malformed."""
    text = read_text(path)
    if text is None:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return None


def read_results(model_dir: str) -> Optional[dict]:
    """A run's results.json, or None when it has none (yet)."""
    return read_json(join(model_dir, RESULTS_FILE))


def config_difference(saved: dict, mine: dict) -> Optional[str]:
    """The first differing settings as 'key=old->new, ...'; None if equal.

    Only keys present in both are compared, so a field added to Config
    after a run was made does not orphan that run.
    """
    diff = sorted(k for k in mine if k in saved and saved[k] != mine[k])
    if not diff:
        return None
    return ", ".join(f"{k}={saved[k]!r}->{mine[k]!r}" for k in diff[:4])


def different_config_message(folder: str, difference: str, remedy: str) -> str:
    """The one-line refusal to reuse a folder that holds another run."""
    return (f"{folder} holds a run with a different config ({difference}); "
            f"{remedy}")
