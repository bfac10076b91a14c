"""Grid search over main-job flags.

Shim for ``python tools/grid_search.py`` from a checkout; the tool is the console
script ``limitbatch-grid`` (setup.cfg), whose main() and usage are in
limitbatch_tf/sweeps/grid_search.py.
"""
import sys

from limitbatch_tf.sweeps.grid_search import main

if __name__ == "__main__":
    sys.exit(main())
