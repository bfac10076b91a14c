"""absl flags generated from :class:`limitbatch_tf.config.Config`.

Every Config field is a flag of the same name; ``--config=FILE.yaml`` loads
a file of the same keys first, and flags given on the command line override
it. absl's ``--flagfile`` works as usual.
"""
from __future__ import annotations

from absl import flags

from limitbatch_tf.config import Config, from_mapping, load_yaml

_DEFINE = {str: flags.DEFINE_string, int: flags.DEFINE_integer,
           float: flags.DEFINE_float, bool: flags.DEFINE_bool}


def define_flags(flag_values=flags.FLAGS):
    """Defines one flag per Config field, plus --config and --verbose."""
    for name, typ, default, meta in Config.field_specs():
        help_text = meta["help"]
        if meta["choices"]:
            help_text += f" One of: {', '.join(meta['choices'])}."
        _DEFINE[typ](name, default, help_text, flag_values=flag_values)
    flags.DEFINE_string("config", None, "YAML file of flag names to values; "
                        "command-line flags override it.",
                        flag_values=flag_values)
    flags.DEFINE_bool("verbose", False, "Show tracebacks on errors.",
                      flag_values=flag_values)


def config_from_flags(flag_values=flags.FLAGS) -> Config:
    """Merges defaults, the --config file and explicit flags; validates."""
    config = Config()
    if flag_values.config:
        config = from_mapping(load_yaml(flag_values.config),
                              f"--config={flag_values.config}", config)
    explicit = {name: flag_values[name].value
                for name, *_ in Config.field_specs() if flag_values[name].present}
    config = from_mapping(explicit, "command line", config)
    if config.model_dir is None:
        config.model_dir = config.default_model_dir()
    return config.validate()


def flag_reference_markdown() -> str:
    """The README's flag table, generated so it cannot drift."""
    rows = ["| flag | default | meaning |", "| --- | --- | --- |"]
    for name, _, default, meta in Config.field_specs():
        help_text = meta["help"]
        if meta["choices"]:
            help_text += f" One of: {', '.join(meta['choices'])}."
        rows.append(f"| `--{name}` | `{default}` | {help_text} |")
    rows.append("| `--config` | `None` | YAML file of flag names to values; "
                "command-line flags override it. |")
    rows.append("| `--verbose` | `False` | Show tracebacks on errors. |")
    return "\n".join(rows)
