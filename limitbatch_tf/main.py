"""Entry point: ``python -m limitbatch_tf.main [--flags] [--config=FILE.yaml]``.

Parses flags into a validated Config and hands it to ``train.loop.run``;
nothing else lives here. Bad input exits with one line naming the flag or
file (no traceback unless --verbose).
"""
from __future__ import annotations

import sys

import limitbatch_tf  # noqa: F401  (sets TF env vars before TF loads)
from absl import app, flags, logging

from limitbatch_tf.flags import config_from_flags, define_flags

define_flags()
FLAGS = flags.FLAGS
EXIT_BAD_INPUT = 2
EXIT_DIVERGED = 4


def main(argv):
    logging.set_verbosity(logging.WARNING)
    if len(argv) > 1:
        print(f"error: unexpected arguments {argv[1:]}", file=sys.stderr)
        return EXIT_BAD_INPUT
    from limitbatch_tf.config import ConfigError
    from limitbatch_tf.data.idx import IdxFormatError
    from limitbatch_tf.data.mnist import DataNotFoundError
    from limitbatch_tf.distribute import StrategyError
    try:
        config = config_from_flags(FLAGS)
        from limitbatch_tf import distribute
        # The strategy (logical CPUs, multi-worker collectives) must exist
        # before Keras is imported: importing it initialises TF's devices.
        strategy = distribute.build_strategy(config.strategy, config.tpu,
                                             config.num_cpu_replicas,
                                             tpu_init_timeout=config.tpu_init_timeout)
        from limitbatch_tf.train import loop
        results = loop.run(config, strategy)
    except (ConfigError, IdxFormatError, DataNotFoundError, StrategyError,
            FileNotFoundError) as e:
        if FLAGS.verbose:
            raise
        print(f"error: {e}", file=sys.stderr)
        return EXIT_BAD_INPUT
    return exit_code(results["status"], config.on_divergence)


def exit_code(status: str, on_divergence: str) -> int:
    """0 for a finished run or a recorded divergence; distinct codes otherwise."""
    from limitbatch_tf.train.preemption import EXIT_PREEMPTED
    if status == "preempted":
        return EXIT_PREEMPTED
    if status in ("diverged", "unstable") and on_divergence == "fail":
        return EXIT_DIVERGED
    return 0


def run_main():
    app.run(main)


if __name__ == "__main__":
    run_main()
