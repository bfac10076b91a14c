"""Draws a configured learning-rate schedule to a PNG file.

Shim for ``python tools/plot_schedule.py`` from a checkout; the tool is the console
script ``limitbatch-plot-schedule`` (setup.cfg), whose main() and usage are in
limitbatch_tf/cli/plot_schedule.py.
"""
import sys

from limitbatch_tf.cli.plot_schedule import main

if __name__ == "__main__":
    sys.exit(main())
