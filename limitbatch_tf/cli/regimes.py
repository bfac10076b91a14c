"""Regime report of a batch-size sweep: B_L, B_H, B_F as brackets with the evidence.

  limitbatch-regimes STORE [STORE ...] [--baseline_store [NAME=]DIR ...]
      [--base_batch_size 256] [--baseline_optimizer momentum]
      [--confidence 0.9] [--test welch|bootstrap] [--literal]
      [--error_ratio 1.625] [--json]

STORE is a folder of runs (every results.json under it is one trial); runs
of several stores are judged together. --baseline_store names a baseline's
runs (e.g. its seeds) when the stores hold other recipes at B0 too; give it
more than once (NAME=DIR) to report the regimes under each baseline.
Every batch size is judged "passes", "fails" or "undecided" against the
baseline's 99.5%-of-A bar with its standard error (a one-sided test at
--confidence); --literal adds the paper's point-estimate reading,
--error_ratio R a reading with the bar "error <= R x the baseline's error"
(1.625 makes it as loose as the paper's MNIST bar). --json prints the
result as JSON: the first reading's B_L, B_H, B_F and confidence at the
top, every reading under "readings".
Applies Definitions 2.1-2.3 of You et al. (2020); see
limitbatch_tf/analysis/regimes.py and limitbatch_tf/analysis/stats.py.
"""
import argparse
import json
import os
import sys

from limitbatch_tf.analysis import regime_text, regimes, store


def _named(value):
    """'NAME=DIR' or 'DIR' (named after its folder)."""
    name, sep, path = value.partition("=")
    if not sep:
        path = value
        name = os.path.basename(os.path.normpath(value)) or value
    return name, path


def readings(args):
    """[(name, kwargs for regimes.classify)] for the requested readings."""
    out = []
    for base_name, _ in args.baselines or [("baseline", None)]:
        common = dict(confidence=args.confidence, test=args.test)
        out.append((base_name, dict(reading="statistical", **common)))
        if args.literal:
            out.append((f"{base_name}, literal",
                        dict(reading="literal", **common)))
        if args.error_ratio is not None:
            out.append((f"{base_name}, error ratio {args.error_ratio:g}",
                        dict(reading="statistical", bar="error_ratio",
                             ratio=args.error_ratio, **common)))
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("store", nargs="+")
    parser.add_argument("--baseline_store", action="append", default=[],
                        help="[NAME=]DIR: a folder holding only a baseline's "
                        "runs; repeat for several baselines")
    parser.add_argument("--base_batch_size", type=int, default=None)
    parser.add_argument("--baseline_optimizer", default="momentum")
    parser.add_argument("--confidence", type=float, default=0.90,
                        help="one-sided confidence of each verdict, in (0.5, 1)")
    parser.add_argument("--test", choices=("welch", "bootstrap"), default="welch")
    parser.add_argument("--literal", action="store_true",
                        help="also the paper's point-estimate reading")
    parser.add_argument("--error_ratio", type=float, default=None,
                        help="also the bar 'error <= R x baseline error' "
                        f"(the paper's MNIST bar: {regimes.MNIST_ERROR_RATIO:g})")
    parser.add_argument("--json", action="store_true",
                        help="print the result as JSON instead of tables")
    args = parser.parse_args(argv)
    if not 0.5 < args.confidence < 1:
        print(f"error: --confidence must lie in (0.5, 1), got {args.confidence}",
              file=sys.stderr)
        return 2
    if args.error_ratio is not None and args.error_ratio <= 0:
        print(f"error: --error_ratio must be > 0, got {args.error_ratio}",
              file=sys.stderr)
        return 2
    args.baselines = [_named(v) for v in args.baseline_store]
    try:
        trials = [t for root in args.store for t in store.load_store(root)]
        base_trials = {name: store.load_store(path)
                       for name, path in args.baselines}
        reports = []
        for name, kwargs in readings(args):
            base_name = name.split(",")[0]
            reports.append(regimes.classify(
                trials, args.base_batch_size, args.baseline_optimizer,
                base_trials.get(base_name), name=name, **kwargs))
    except (store.StoreError, regimes.RegimeError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if args.json:
        data = [regime_text.to_json(r) for r in reports]
        top = {k: data[0][k] for k in ("B_L", "B_H", "B_F", "confidence",
                                       "name", "reading", "bar")}
        top["readings"] = {d["name"]: d for d in data}
        print(json.dumps(top, indent=2))
    else:
        print("\n\n".join(regime_text.format_report(r) for r in reports))
    return 0


if __name__ == "__main__":
    sys.exit(main())
