"""Draws one of the paper's figures from a results store.

  limitbatch-plot STORE --kind accuracy_vs_batch --output fig.png
  limitbatch-plot STORE --kind heatmap --x learning_rate --y warmup_epochs --output grid.pdf

Kinds: accuracy_vs_batch, ladder, heatmap, train_longer, curves,
weight_distance, trust_ratios, noise_scale (limitbatch_tf/analysis/plots.py).
"""
import argparse
import sys

from limitbatch_tf.analysis import plots, regimes, store


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("store")
    parser.add_argument("--kind", required=True, choices=sorted(plots.KINDS))
    parser.add_argument("--output", required=True, help=".png or .pdf")
    parser.add_argument("--batch_size", type=int, default=None,
                        help="ladder: the batch size to show")
    parser.add_argument("--x", default="learning_rate", help="heatmap x key")
    parser.add_argument("--y", default="warmup_epochs", help="heatmap y key")
    args = parser.parse_args(argv)
    try:
        trials = store.load_store(args.store)
        kwargs = {}
        if args.kind == "ladder":
            kwargs["batch_size"] = args.batch_size
        if args.kind == "heatmap":
            kwargs.update(x=args.x, y=args.y)
        plots.KINDS[args.kind](trials, args.output, **kwargs)
    except (store.StoreError, regimes.RegimeError, plots.PlotError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
