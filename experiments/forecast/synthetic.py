"""The calibration study's synthetic workload: least squares with a known B_simple.

    python experiments/forecast/synthetic.py OUT_DIR [--dim 16] [--sigma 1]
        [--batch 64] [--micro_batch 16] [--learning_rate 0.05] [--steps 900]

Trains limitbatch_tf/forecast/linear.py's workload by online SGD with the
package's noise-scale estimator and writes OUT_DIR/results.json in the main
job's layout (history records with the noise-scale trajectory, plus the
closed form at every evaluation), so ``tools/forecast.py OUT_DIR`` reads it
like any run. Prints the forecast's B_crit next to the closed form over the
same window (the forecast's rule: the last third of training).
"""
import argparse
import json
import os
import sys

from limitbatch_tf.forecast import linear, predict


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("out_dir")
    p.add_argument("--dim", type=int, default=16)
    p.add_argument("--sigma", type=float, default=1.0)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--micro_batch", type=int, default=16)
    p.add_argument("--learning_rate", type=float, default=0.05)
    p.add_argument("--steps", type=int, default=900)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    if args.micro_batch >= args.batch or args.batch % args.micro_batch:
        print(f"error: --micro_batch={args.micro_batch} must divide "
              f"--batch={args.batch} and be smaller", file=sys.stderr)
        return 2
    problem = linear.LinearProblem.make(args.dim, args.sigma, args.seed)
    history = linear.train(problem, batch=args.batch,
                           micro_batch=args.micro_batch,
                           learning_rate=args.learning_rate, steps=args.steps,
                           seed=args.seed)
    estimate = predict.b_crit_from_history(history)
    window = [h for h in history if h["step"] >= estimate.first_step]
    truth = (sum(h["closed_form_trace_sigma"] for h in window)
             / sum(h["closed_form_grad_sq"] for h in window))
    os.makedirs(args.out_dir, exist_ok=True)
    with open(os.path.join(args.out_dir, "results.json"), "w") as f:
        json.dump({"status": "completed", "global_batch_size": args.batch,
                   "config": dict(vars(args), optimizer="sgd",
                                  workload="least_squares"),
                   "history": history,
                   "closed_form_b_crit_window": truth,
                   "forecast_b_crit": estimate.b_crit}, f, indent=1)
    print(f"B_crit forecast {estimate.b_crit:.0f}; closed form over steps "
          f"{estimate.first_step}-{estimate.last_step}: {truth:.0f} "
          f"(ratio {estimate.b_crit / truth:.3f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
