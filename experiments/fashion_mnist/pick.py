"""Prints the validation-picked setting of one batch size as sweep flags.

    python experiments/fashion_mnist/pick.py STORE BATCH_SIZE

Reads STORE/sweep.json's "best" (written by tools/sweep.py: the best mean validation
accuracy over seeds, every seed completed) and prints one ``--tune KEY=V``
per tuned value of BATCH_SIZE's pick, e.g. ``--tune learning_rate=0.004
--tune warmup_epochs=10``, so run.sh can rerun that pick with more seeds.
Prints nothing (exit 1) when the store has no completed pick there yet.
"""
import json
import os
import sys


def main(argv):
    store, batch = argv[1], argv[2]
    try:
        with open(os.path.join(store, "sweep.json")) as f:
            best = json.load(f)["best"]["batch_sizes"]
    except (OSError, ValueError, KeyError):
        return 1
    setting = best.get(batch)
    if not setting:
        return 1
    print(" ".join(f"--tune {k}={v}" for k, v in sorted(setting["tuned"].items())))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
