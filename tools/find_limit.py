"""Adaptive search for B_L and B_H.

Shim for ``python tools/find_limit.py`` from a checkout; the tool is the console
script ``limitbatch-find-limit`` (setup.cfg), whose main() and usage are in
limitbatch_tf/forecast/find_limit.py.
"""
import sys

from limitbatch_tf.forecast.find_limit import main

if __name__ == "__main__":
    sys.exit(main())
