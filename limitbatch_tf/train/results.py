"""results.json: everything a study needs from one run, written atomically.

The file is rewritten after every evaluation (status "running") and at the
end, through a temporary file and a rename, so a run killed at any moment
leaves the last complete results in place.
"""
from __future__ import annotations

import json
import os
import platform
import sys

import keras
import numpy as np
import tensorflow as tf

import limitbatch_tf

RESULTS_FILE = "results.json"


def versions() -> dict:
    return {"limitbatch_tf": limitbatch_tf.__version__,
            "tensorflow": tf.__version__, "keras": keras.__version__,
            "numpy": np.__version__, "python": sys.version.split()[0]}


def machine() -> dict:
    return {"host": platform.node(), "platform": platform.platform(),
            "processor": platform.processor() or platform.machine(),
            "cpu_count": os.cpu_count(),
            "devices": [d.name for d in tf.config.list_logical_devices()],
            "onednn": os.environ.get("TF_ENABLE_ONEDNN_OPTS")}


def write_json_atomic(path: str, payload: dict) -> None:
    tmp = f"{path}.tmp-{os.getpid()}"
    with open(tmp, "w") as f:
        json.dump(payload, f, indent=2, sort_keys=True, default=float)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def read_json(path: str):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, json.JSONDecodeError):
        return None
