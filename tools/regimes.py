"""Regime report of a batch-size sweep: B_L, B_H, B_F with the evidence.

Shim for ``python tools/regimes.py`` from a checkout; the tool is the console
script ``limitbatch-regimes`` (setup.cfg), whose main() and usage are in
limitbatch_tf/cli/regimes.py.
"""
import sys

from limitbatch_tf.cli.regimes import main

if __name__ == "__main__":
    sys.exit(main())
