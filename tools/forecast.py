"""Forecast B_crit, B_L and B_H from one small-batch noise-scale run.

Shim for ``python tools/forecast.py`` from a checkout; the tool is the console
script ``limitbatch-forecast`` (setup.cfg), whose main() and usage are in
limitbatch_tf/cli/forecast.py.
"""
import sys

from limitbatch_tf.cli.forecast import main

if __name__ == "__main__":
    sys.exit(main())
