"""Gradient accumulation: speed and memory against one big batch.

Throughput: k micro-batches of b examples per update step vs one batch of
k*b, same LeNet-5, data and optimizer, timed alternately in one process;
prints examples/s and the ratio (target overhead <= 5%, i.e. ratio >= 0.95).

Memory: peak RSS of separate processes training LeNet-5 at global batch
60,000 with micro-batch 1,000 vs global batch 1,000 (target <= 1.5x).

  python benchmarks/accumulation_overhead.py --micro=256 --k=4 --rounds=5
  python benchmarks/accumulation_overhead.py --memory
"""
import argparse
import os
import subprocess
import sys

import limitbatch_tf  # noqa: F401


from common import interleaved, ratio_table
from train_throughput import _source, host_loop


def throughput(args):
    source = _source()
    big = args.micro * args.k
    times = interleaved({
        f"one batch of {big}": host_loop(source, big, None, args.steps),
        f"{args.k} x micro {args.micro}": host_loop(source, big, args.micro,
                                                      args.steps),
    }, args.rounds)
    print(f"LeNet-5, {args.steps} update steps of {big} examples per round, "
          f"{args.rounds} rounds")
    ratio_table(times, f"one batch of {big}", args.steps * big, "examples/s")


def _peak_rss_mib(global_batch, micro, steps):
    """Peak RSS of a child process that trains ``steps`` update steps."""
    # cwd is benchmarks/, first on the child's path (python -c).
    code = (f"import sys; sys.argv=['x'];"
            f"import train_throughput as t;"
            f"t.host_loop(t._source(), {global_batch}, {micro}, {steps})();"
            f"import resource; print(resource.getrusage(resource.RUSAGE_SELF)"
            f".ru_maxrss / 1024)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True,
                         text=True, check=True,
                         cwd=os.path.dirname(os.path.abspath(__file__)))
    return float(out.stdout.strip().splitlines()[-1])


def memory(args):
    small = _peak_rss_mib(1000, None, 2)
    huge = _peak_rss_mib(60000, 1000, 2)
    print(f"peak RSS, LeNet-5, 2 update steps (MiB): global 1000: {small:.0f}; "
          f"global 60000 as 60 x 1000: {huge:.0f}; ratio {huge / small:.3f} "
          f"(target <= 1.5)")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--micro", type=int, default=256)
    parser.add_argument("--k", type=int, default=4)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--memory", action="store_true")
    args = parser.parse_args(argv)
    memory(args) if args.memory else throughput(args)


if __name__ == "__main__":
    main()
