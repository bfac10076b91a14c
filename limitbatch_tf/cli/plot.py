"""Draws one of the paper's figures from a results store.

  limitbatch-plot STORE --kind accuracy_vs_batch --output fig.png
  limitbatch-plot STORE --kind heatmap --x learning_rate --y warmup_epochs --output grid.pdf

  limitbatch-plot STORE --kind steps_to_target --baseline_store BASE --output s.png

Kinds: accuracy_vs_batch, ladder, heatmap, train_longer, curves,
weight_distance, trust_ratios, noise_scale, steps_to_target, train_loss
(limitbatch_tf/analysis/plots.py). --baseline_store names the baseline's
runs (tools/regimes.py): its bar is drawn on accuracy_vs_batch and
train_longer, its brackets on noise_scale, and steps_to_target aims at 99.5%
of its final validation accuracy.
"""
import argparse
import sys

from limitbatch_tf.analysis import critical, plots, regimes, store


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("store")
    parser.add_argument("--kind", required=True, choices=sorted(plots.KINDS))
    parser.add_argument("--output", required=True, help=".png or .pdf")
    parser.add_argument("--batch_size", type=int, default=None,
                        help="ladder: the batch size to show")
    parser.add_argument("--x", default="learning_rate", help="heatmap x key")
    parser.add_argument("--y", default="warmup_epochs", help="heatmap y key")
    parser.add_argument("--baseline_store", default=None,
                        help="folder holding only the baseline's runs")
    args = parser.parse_args(argv)
    try:
        trials = store.load_store(args.store)
        kwargs = {}
        if args.baseline_store:
            base = store.load_store(args.baseline_store)
            if args.kind in ("accuracy_vs_batch", "noise_scale", "train_loss",
                             "train_longer"):
                report = regimes.classify(trials, baseline_trials=base)
                if args.kind == "train_longer":
                    kwargs["target"] = report.target
                else:
                    kwargs["report"] = report
                if args.kind != "noise_scale":
                    trials = trials + [t for t in base if t.path not in
                                       {u.path for u in trials}]
            elif args.kind == "steps_to_target":
                metric = ("validation_accuracy" if critical.has_validation(trials)
                          else "eval_accuracy")
                kwargs["target"] = critical.baseline_target(trials, base, metric)
        if args.kind == "ladder":
            kwargs["batch_size"] = args.batch_size
        if args.kind == "heatmap":
            kwargs.update(x=args.x, y=args.y)
        plots.KINDS[args.kind](trials, args.output, **kwargs)
    except (store.StoreError, regimes.RegimeError, plots.PlotError,
            critical.CriticalError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
