"""Empirical critical batch size of a sweep: steps to target per batch size and the McCandlish fit.

  limitbatch-critical-batch STORE [STORE ...] [--baseline_store DIR]
      [--target 0.88 | --fraction 0.995] [--metric validation_accuracy]
      [--confidence 0.9] [--resamples 2000] [--json]

STORE is a folder of runs (every results.json under it is one trial). Per
batch size, S(B) = the fewest steps after which an evaluation of some
recipe reaches the target on every seed (Shallue et al. 2019); the fit is
S = S_min (1 + B_crit / B) (McCandlish et al. 2018), with a bootstrap
interval over seeds and batch sizes. The target defaults to --fraction of
the baseline's mean final validation accuracy (the baseline as in
tools/regimes.py: --baseline_store, else the best momentum recipe at the
smallest batch). See limitbatch_tf/analysis/critical.py.
"""
import argparse
import json
import sys

from limitbatch_tf.analysis import critical, regimes, store


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("store", nargs="+")
    parser.add_argument("--baseline_store", default=None)
    parser.add_argument("--base_batch_size", type=int, default=None)
    parser.add_argument("--baseline_optimizer", default="momentum")
    parser.add_argument("--target", type=float, default=None,
                        help="accuracy to reach (default: --fraction x baseline)")
    parser.add_argument("--fraction", type=float, default=0.995)
    parser.add_argument("--metric", choices=critical.METRICS, default=None,
                        help="default: validation_accuracy when the runs "
                        "have a validation split, else eval_accuracy")
    parser.add_argument("--confidence", type=float, default=0.90)
    parser.add_argument("--resamples", type=int, default=2000)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    if not 0 < args.confidence < 1:
        print(f"error: --confidence must lie in (0, 1), got {args.confidence}",
              file=sys.stderr)
        return 2
    try:
        trials = [t for root in args.store for t in store.load_store(root)]
        base = (store.load_store(args.baseline_store)
                if args.baseline_store else None)
        metric = args.metric or ("validation_accuracy"
                                 if critical.has_validation(trials)
                                 else "eval_accuracy")
        target = args.target
        if target is None:
            target = critical.baseline_target(
                trials, base, metric, args.fraction, args.base_batch_size,
                args.baseline_optimizer)
        result = critical.critical_batch(trials, target, metric,
                                         args.confidence, args.resamples)
    except (store.StoreError, regimes.RegimeError, critical.CriticalError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(json.dumps(result.to_json(), indent=2) if args.json
          else critical.format_result(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
