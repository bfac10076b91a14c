"""Helpers shared by the ratio benchmarks: interleaved timing and reporting.

The machine is noisy, so every benchmark times its contenders alternately,
several rounds each, and reports the median of per-round ratios taken side
by side in one process, never absolute figures across runs.
"""
import statistics
import time


def interleaved(contenders: dict, rounds: int):
    """Runs each ``name -> fn`` once per round in turn; returns name -> [seconds]."""
    times = {name: [] for name in contenders}
    for _ in range(rounds):
        for name, fn in contenders.items():
            tic = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - tic)
    return times


def ratio_table(times: dict, baseline: str, work: float, unit: str):
    """Prints median throughput and the median per-round ratio to ``baseline``."""
    print(f"{'contender':<28} {'median ' + unit:>16} {'ratio vs ' + baseline:>22}")
    for name, ts in times.items():
        per_round = [b / t for t, b in zip(ts, times[baseline])]
        print(f"{name:<28} {work / statistics.median(ts):>16.0f} "
              f"{statistics.median(per_round):>22.3f}")
