"""Entry point: ``python -m limitbatch_tf.main [--flags] [--config=FILE.yaml]``.

Parses flags into a validated Config and hands it to ``train.loop.run``;
nothing else lives here. Bad input (``limitbatch_tf.errors.InputError``,
including a corrupt record that tf.data finds while training) exits 2 with
one line naming the flag or file (no traceback unless --verbose).
"""
from __future__ import annotations

import sys

import limitbatch_tf  # noqa: F401  (sets TF env vars before TF loads)
from absl import app, flags, logging

from limitbatch_tf.flags import config_from_flags, define_flags
from limitbatch_tf.rundir import EXIT_BAD_INPUT, EXIT_DIVERGED, EXIT_PREEMPTED

define_flags()
FLAGS = flags.FLAGS


def main(argv):
    logging.set_verbosity(logging.WARNING)
    if len(argv) > 1:
        print(f"error: unexpected arguments {argv[1:]}", file=sys.stderr)
        return EXIT_BAD_INPUT
    from limitbatch_tf import errors
    from limitbatch_tf.distribute import StrategyError
    config = None
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
    except Exception as e:  # noqa: BLE001  (bad input only; the rest re-raised)
        # Bad input of any kind (limitbatch_tf.errors.InputError: a flag, a
        # reader's format error, a corrupt record found by tf.data while
        # training) is one line; anything else keeps its traceback.
        bad = errors.as_input_error(
            e, FLAGS.dataset if config is None else config.dataset,
            FLAGS.data_dir if config is None else config.data_dir)
        if bad is None and isinstance(e, (StrategyError, FileNotFoundError)):
            bad = e
        if bad is None or FLAGS.verbose:
            raise
        print(f"error: {bad}", file=sys.stderr)
        return EXIT_BAD_INPUT
    return exit_code(results["status"], config.on_divergence)


def exit_code(status: str, on_divergence: str) -> int:
    """0 for a finished run or a recorded divergence; distinct codes otherwise."""
    if status == "preempted":
        return EXIT_PREEMPTED
    if status in ("diverged", "unstable") and on_divergence == "fail":
        return EXIT_DIVERGED
    return 0


def run_main():
    app.run(main)


if __name__ == "__main__":
    run_main()
