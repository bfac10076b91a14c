"""What results.json records about the software and machine of a run.

The file itself (its name, atomic writes, statuses) is limitbatch_tf.rundir's.
"""
from __future__ import annotations

import os
import platform
import sys

import keras
import numpy as np
import tensorflow as tf

import limitbatch_tf


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
