"""Adaptive search for B_L and B_H; see limitbatch_tf/forecast/find_limit.py.

    python tools/find_limit.py --config=RECIPE.yaml --store=DIR --budget_hours=H \
        [--forecast_run=RUN_DIR | --start_batch=B] [-- extra main flags]
"""
import os
import sys

# Importable both as `tools.find_limit` and as a script from anywhere.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from limitbatch_tf.forecast.find_limit import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
