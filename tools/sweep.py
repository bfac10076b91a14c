"""Batch-size sweep into a results store; see limitbatch_tf/experiments/sweep.py.

    python tools/sweep.py --config=FILE.yaml --batch_sizes=256,512,...,full \
        --store DIR [--seeds 0,1,2] [--tune learning_rate=0.05,0.1] \
        [--lr_scaling linear] [--parallel N] [-- extra main flags]
"""
import os
import sys

# Importable both as `tools.sweep` and as a script from anywhere.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from limitbatch_tf.experiments.sweep import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
