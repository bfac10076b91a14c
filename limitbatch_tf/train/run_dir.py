"""The model_dir of a run: config identity, resume or refuse, overwrite."""
from __future__ import annotations

import os
import shutil

from limitbatch_tf.config import Config, ConfigError
from limitbatch_tf.train.results import read_json, write_json_atomic

CONFIG_FILE = "config.json"


def prepare(config: Config) -> bool:
    """Creates or checks ``config.model_dir``; returns True when resuming.

    A folder that holds a run with different result-defining settings is
    refused (unless --overwrite), so a typo cannot silently continue someone
    else's run.
    """
    path = config.model_dir
    if config.overwrite and os.path.isdir(path):
        shutil.rmtree(path)
    try:
        os.makedirs(path, exist_ok=True)
    except OSError as e:
        raise ConfigError(f"--model_dir={path}: cannot create ({e.strerror})") from None
    if not os.access(path, os.W_OK):
        raise ConfigError(f"--model_dir={path}: not writable")
    config_path = os.path.join(path, CONFIG_FILE)
    saved = read_json(config_path)
    if saved is not None:
        mine = config.identity()
        old = {k: saved.get(k) for k in mine}
        diff = sorted(k for k in mine if old[k] != mine[k])
        if diff:
            details = ", ".join(f"{k}={old[k]!r}->{mine[k]!r}" for k in diff[:4])
            raise ConfigError(
                f"--model_dir={path} holds a run with a different config "
                f"({details}); pass --overwrite or choose another --model_dir")
        return True
    write_json_atomic(config_path, config.to_dict())
    return False
