"""Grid search over main-job flags; see limitbatch_tf/experiments/grid_search.py.

    python tools/grid_search.py --config=FILE.yaml --grid learning_rate=1,2,4 \
        --grid warmup_epochs=1,2,5 --out DIR [--parallel N] \
        [--metric eval_accuracy] [--set key=value ...] [-- extra main flags]
"""
import os
import sys

# Importable both as `tools.grid_search` and as a script from anywhere.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from limitbatch_tf.experiments.grid_search import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
