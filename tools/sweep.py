"""Batch-size sweep into a results store.

Shim for ``python tools/sweep.py`` from a checkout; the tool is the console
script ``limitbatch-sweep`` (setup.cfg), whose main() and usage are in
limitbatch_tf/sweeps/sweep.py.
"""
import sys

from limitbatch_tf.sweeps.sweep import main

if __name__ == "__main__":
    sys.exit(main())
