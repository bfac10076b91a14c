"""The model_dir of a run: config identity, resume or refuse, overwrite.

Through limitbatch_tf.rundir, hence tf.io.gfile: ``--model_dir`` may be a
local folder or a gs:// (or ram://) URL.
"""
from __future__ import annotations

from limitbatch_tf import rundir
from limitbatch_tf.config import Config, ConfigError


def prepare(config: Config) -> bool:
    """Creates or checks ``config.model_dir``; returns True when resuming.

    A folder that holds a run with different result-defining settings is
    refused (unless --overwrite), so a typo cannot silently continue someone
    else's run.
    """
    path = config.model_dir
    if config.overwrite and rundir.isdir(path):
        rundir.rmtree(path)
    try:
        rundir.makedirs(path)
    except Exception as e:  # noqa: BLE001  OSError, or tf.errors.OpError
        first = (str(e).strip().splitlines() or [type(e).__name__])[0]
        raise ConfigError(f"--model_dir={path}: cannot create ({first})") from None
    config_path = rundir.join(path, rundir.CONFIG_FILE)
    saved = rundir.read_json(config_path)
    if saved is not None:
        why = rundir.config_difference(saved, config.identity())
        if why:
            raise ConfigError(rundir.different_config_message(
                f"--model_dir={path}", why,
                "pass --overwrite or choose another --model_dir"))
        return True
    try:
        rundir.write_json(config_path, config.to_dict())
    except Exception as e:  # noqa: BLE001  OSError, or tf.errors.OpError
        first = (str(e).strip().splitlines() or [type(e).__name__])[0]
        raise ConfigError(f"--model_dir={path}: not writable ({first})") from None
    return False
