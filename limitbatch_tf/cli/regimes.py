"""Regime report of a batch-size sweep: B_L, B_H, B_F with the evidence.

  limitbatch-regimes STORE [STORE ...] [--base_batch_size 256]
      [--baseline_optimizer momentum] [--baseline_store DIR] [--json report.json]

STORE is a folder of runs (every results.json under it is one trial); runs
of several stores are judged together. --baseline_store names the baseline's
runs (e.g. its seeds) when the stores hold other recipes at B0 too.
Applies Definitions 2.1-2.3 of You et al. (2020); see
limitbatch_tf/analysis/regimes.py.
"""
import argparse
import dataclasses
import json
import sys

from limitbatch_tf.analysis import regimes, store


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("store", nargs="+")
    parser.add_argument("--baseline_store", default=None,
                        help="folder holding only the baseline's runs")
    parser.add_argument("--base_batch_size", type=int, default=None)
    parser.add_argument("--baseline_optimizer", default="momentum")
    parser.add_argument("--json", default=None, help="also write the report here")
    args = parser.parse_args(argv)
    try:
        trials = [t for root in args.store for t in store.load_store(root)]
        baseline = (store.load_store(args.baseline_store)
                    if args.baseline_store else None)
        report = regimes.classify(trials, args.base_batch_size,
                                  args.baseline_optimizer, baseline)
    except (store.StoreError, regimes.RegimeError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(regimes.format_report(report))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(dataclasses.asdict(report), f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
