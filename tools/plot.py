"""Draws one of the paper's figures from a results store.

Shim for ``python tools/plot.py`` from a checkout; the tool is the console
script ``limitbatch-plot`` (setup.cfg), whose main() and usage are in
limitbatch_tf/cli/plot.py.
"""
import sys

from limitbatch_tf.cli.plot import main

if __name__ == "__main__":
    sys.exit(main())
