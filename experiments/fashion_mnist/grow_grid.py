"""Prints a learning-rate grid grown past the edge its best value sits on.

    python experiments/fashion_mnist/grow_grid.py STORE 0.1,0.4,1.6

STORE is one finished sweep of a single batch size (its sweep.json's "best"). When the
best setting's learning_rate is the smallest (largest) of the grid, prints
the grid with one more value a factor 4 below (above); otherwise prints
nothing. run.sh then reruns the sweep with the grown grid (finished trials
are reused), at most twice per cell, so a Table 3 cell is never reported at
an LR that a wider grid might beat.
"""
import json
import os
import sys

# x4 for the Table 3 grids; run.sh's review parts grow x2 (GROW_FACTOR=2).
FACTOR = float(os.environ.get("GROW_FACTOR", "4"))


def grown(best_lr, grid):
    """The grid (strings, kept as written: they name the trials) extended
    past an edge ``best_lr`` sits on, or None."""
    values = sorted(grid, key=float)
    if best_lr is None or len(values) < 2:
        return None
    low, high = float(values[0]), float(values[-1])
    if abs(best_lr - low) <= 1e-12 * low:
        return [f"{low / FACTOR:.6g}"] + values
    if abs(best_lr - high) <= 1e-12 * high:
        return values + [f"{high * FACTOR:.6g}"]
    return None


def main(argv):
    store, grid = argv[1], argv[2].split(",")
    with open(os.path.join(store, "sweep.json")) as f:
        best = json.load(f)["best"]["batch_sizes"]
    settings = [s for s in best.values() if s]
    lr = float(settings[0]["tuned"]["learning_rate"]) if len(settings) == 1 else None
    new = grown(lr, grid)
    if new:
        print(",".join(new))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
