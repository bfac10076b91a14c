"""Empirical critical batch size of a sweep: steps to target per batch size and the McCandlish fit.

Shim for ``python tools/critical_batch.py`` from a checkout; the tool is the console
script ``limitbatch-critical-batch`` (setup.cfg), whose main() and usage are in
limitbatch_tf/cli/critical_batch.py.
"""
import sys

from limitbatch_tf.cli.critical_batch import main

if __name__ == "__main__":
    sys.exit(main())
