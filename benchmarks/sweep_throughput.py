"""Sweep throughput: trials per hour, one trial at a time vs N pinned at once.

Runs the regime map's 9-batch-size Fashion-MNIST sweep (LeNet-5, momentum,
warmup + poly decay: experiments/fashion_mnist/recipe.yaml, one seed) with
``tools/sweep.py`` once per layout, each into a fresh store, and prints
trials per hour and the ratio to the first layout. Layouts alternate over
``--rounds`` so drift in machine load hits both (issue 18, item 3). Each
round of the default takes ~40 min on 2 cores: run it on an idle machine.

  python benchmarks/sweep_throughput.py --layouts=1,2 --rounds=1
  # before/after: layout 1 of an older checkout (git worktree) vs today's 2
  python benchmarks/sweep_throughput.py --layouts=/work/wt-before@1,2
  python benchmarks/sweep_throughput.py --epochs=2 --batch_sizes=4096,8192  # smoke
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SIZES = "256,512,...,32768,full"


def parse_layout(spec):
    """``N`` (this checkout, --parallel=N) or ``CHECKOUT@N`` (the sweep tool
    and package of another checkout, e.g. a git worktree of an older commit,
    so "before" and "after" run side by side on the same machine)."""
    checkout, _, n = spec.rpartition("@")
    return (os.path.abspath(checkout) if checkout else ROOT), int(n)


def run_sweep(store, layout, epochs, sizes):
    """One sweep into ``store``; returns (seconds, trials, sum of wall_time_s)."""
    checkout, parallel = layout
    argv = [sys.executable, os.path.join(checkout, "tools", "sweep.py"),
            f"--config={os.path.join(checkout, 'experiments/fashion_mnist/recipe.yaml')}",
            f"--batch_sizes={sizes}", "--seeds=0", f"--store={store}",
            f"--parallel={parallel}", "--lr_scaling=sqrt",
            "--tune", "learning_rate=0.1", "--set", f"epochs={epochs}",
            # the recipe's 2 warmup epochs of 30, kept in proportion
            "--set", f"warmup_epochs={epochs / 15:g}",
            "--metric=validation_accuracy"]
    env = dict(os.environ, PYTHONPATH=checkout)  # trials import its package
    tic = time.perf_counter()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, cwd=checkout,
                   env=env)
    seconds = time.perf_counter() - tic
    walls = []
    for folder, _, files in os.walk(store):
        if "results.json" in files:
            with open(os.path.join(folder, "results.json")) as f:
                walls.append(json.load(f).get("wall_time_s", 0.0))
    return seconds, len(walls), sum(walls)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--layouts", default="1,2",
                   help="Comma-separated layouts to compare: N (--parallel=N)"
                        " or CHECKOUT@N; ratios are to the first.")
    p.add_argument("--rounds", type=int, default=1)
    p.add_argument("--epochs", type=float, default=30)
    p.add_argument("--batch_sizes", default=SIZES)
    args = p.parse_args(argv)
    layouts = args.layouts.split(",")
    per_hour = {n: [] for n in layouts}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.rounds):
            order = layouts if r % 2 == 0 else layouts[::-1]
            for n in order:
                store = os.path.join(tmp, f"r{r}-{layouts.index(n)}")
                checkout, parallel = parse_layout(n)
                seconds, count, walls = run_sweep(store, (checkout, parallel),
                                                  args.epochs, args.batch_sizes)
                per_hour[n].append(3600 * count / seconds)
                print(f"round {r} {n}: {count} trials in "
                      f"{seconds:.0f} s ({per_hour[n][-1]:.1f}/h); recorded "
                      f"run time {walls:.0f} s, outside it "
                      f"{seconds * parallel - walls:.0f}"
                      f" trial-seconds", flush=True)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"{args.epochs:g} epochs, batch sizes {args.batch_sizes}, "
          f"{os.cpu_count()} CPUs, load {load:.1f} at the end")
    base = statistics.median(per_hour[layouts[0]])
    for n in layouts:
        med = statistics.median(per_hour[n])
        print(f"{n:<24} {med:8.1f} trials/hour  ratio {med / base:.3f}")


if __name__ == "__main__":
    main()
