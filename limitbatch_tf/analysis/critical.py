"""The empirical critical batch size from a store's training curves.

Steps to target (Shallue et al. 2019, "Measuring the Effects of Data
Parallelism on Neural Network Training", Section 3): per batch size B,
S(B) is the training steps after which an evaluation of B's best recipe
first reaches the target, and E(B) = B S(B) the examples it took.

McCandlish et al. (2018), "An Empirical Model of Large-Batch Training",
Eq. 2.11: the trade-off between steps and examples is

    (S / S_min - 1) (E / E_min - 1) = 1,

equivalently S(B) = S_min (1 + B_crit / B) with B_crit = E_min / S_min:
below B_crit, doubling the batch nearly halves the steps; above it, the
steps barely fall. ``fit`` finds S_min and B_crit by least squares on the
relative error (S is linear in 1/B: S = S_min + S_min B_crit / B, fitted
with weights 1/S^2 so every batch size counts alike, small ones with
thousands of steps and large ones with tens); ``bootstrap`` resamples the
seeds within each batch size's cell and the batch sizes themselves.

Choices (documented here, tested in tests/analysis/test_critical.py):
- The curve is the *validation* accuracy in the history records (the test
  set picks nothing); a store without a validation split uses the test
  accuracy, and the result says so (``metric``).
- B's recipe is the one the regime map picks (regimes.pick: the best
  final validation accuracy), among the cells with the longest schedule
  at B. Shallue et al. take the recipe that reaches the target soonest,
  but with one or two seeds per cell that minimum over many noisy cells
  is biased low wherever many recipes ran (find_limit tunes five LRs at
  a large batch and runs one at B0), and find_limit's successive-halving
  rungs are compressed schedules, ranking proxies only.
- A cell's S is the mean over its seeds of each seed's first evaluation at
  or above the target; if some seed of B's pick never reaches it, B has
  no S (the target is beyond B's reach, not B's second-best recipe's).
- Steps are only known at evaluations (every epoch in the Fashion-MNIST
  study), so S(B) is an upper bound, coarse by one evaluation interval.
"""
from __future__ import annotations

import dataclasses
import math
import statistics

import numpy as np

from limitbatch_tf.analysis import regimes

METRICS = ("validation_accuracy", "eval_accuracy")


class CriticalError(ValueError):
    """The store cannot give steps to target at two batch sizes or more."""


def first_step(trial, target, metric="validation_accuracy"):
    """The step of ``trial``'s first evaluation with ``metric`` >= target,
    or None (never reached, or diverged before)."""
    for h in trial.history:
        value = h.get(metric)
        if value is not None and not math.isnan(value) and value >= target:
            return int(h["step"])
    return None


@dataclasses.dataclass
class Point:
    """S(B) for one batch size: the picked cell and its seeds' steps."""

    batch_size: int
    steps: list           # per seed of the picked cell
    label: str
    paths: list

    @property
    def mean(self) -> float:
        return float(np.mean(self.steps))

    @property
    def examples(self) -> float:
        return self.mean * self.batch_size


def steps_to_target(trials, target, metric="validation_accuracy"):
    """[Point] per batch size whose picked recipe (module doc) reaches
    ``target`` on every seed."""
    if metric not in METRICS:
        raise CriticalError(f"metric must be one of {METRICS}, got {metric!r}")
    by_batch = {}
    for cell in regimes.cells(trials, math.inf):
        by_batch.setdefault(cell.batch_size, []).append(cell)
    points = []
    for b in sorted(by_batch):
        longest = max(c.trials[0].planned_epochs for c in by_batch[b])
        cell, _ = regimes.pick([c for c in by_batch[b]
                                if c.trials[0].planned_epochs == longest])
        if cell is None:
            continue
        steps = [first_step(t, target, metric) for t in cell.trials]
        if all(s is not None for s in steps):
            points.append(Point(b, steps, cell.label(), cell.paths))
    return points


def baseline_target(trials, baseline_trials=None, metric="validation_accuracy",
                    fraction=0.995, base_batch_size=None, optimizer="momentum"):
    """``fraction`` x the baseline's mean final ``metric`` over its seeds
    (the baseline as regimes.find_baseline finds it)."""
    base = regimes.find_baseline(baseline_trials or trials, base_batch_size,
                                 optimizer)
    values = (base.cell.validations if metric == "validation_accuracy"
              else base.accuracies)
    if any(v is None for v in values):
        raise CriticalError(f"the baseline's runs have no {metric}: give "
                            "the target")
    return fraction * statistics.fmean(values)


def has_validation(trials) -> bool:
    return any(h.get("validation_accuracy") is not None
               for t in trials for h in t.history)


@dataclasses.dataclass
class Fit:
    s_min: float
    b_crit: float
    residual: float    # RMS relative error of the fitted S(B)

    @property
    def e_min(self) -> float:
        return self.s_min * self.b_crit

    def steps(self, batch_size):
        return self.s_min * (1 + self.b_crit / np.asarray(batch_size, float))


def _solve(b, s):
    """(S_min, S_min B_crit) of the weighted least squares (fit's doc)."""
    w = 1.0 / s
    design = np.stack([np.ones_like(b), 1.0 / b], axis=1) * w[:, None]
    (a, slope), *_ = np.linalg.lstsq(design, s * w, rcond=None)
    return float(a), float(slope)


def fit(batch_sizes, steps) -> Fit:
    """S = S_min (1 + B_crit / B) by weighted least squares (weights 1/S^2).

    Raises CriticalError with fewer than two distinct batch sizes or a fit
    that is not a trade-off (S_min <= 0 or B_crit < 0: the steps do not
    fall with the batch size).
    """
    b = np.asarray(batch_sizes, dtype=float)
    s = np.asarray(steps, dtype=float)
    if len(set(b.tolist())) < 2:
        raise CriticalError("the fit needs steps to target at two batch "
                            f"sizes or more, got {sorted(set(b.tolist()))}")
    a, slope = _solve(b, s)
    if a <= 0 or slope < 0:
        raise CriticalError(f"steps to target do not trade off against the "
                            f"batch size (S_min {a:.3g}, S_min B_crit {slope:.3g})")
    model = a + slope / b
    return Fit(float(a), float(slope / a),
               float(np.sqrt(np.mean(((s - model) / s) ** 2))))


def bootstrap(points, resamples=2000, confidence=0.90, seed=0):
    """Percentile interval of B_crit (and S_min) over resampled seeds and
    batch sizes: each draw takes the batch sizes with replacement (at least
    two distinct ones, else it is redrawn) and each one's seeds with
    replacement. A draw whose steps fall as fast as 1/B (S_min <= 0: no
    floor) has B_crit = inf, one whose steps grow with B has B_crit = 0:
    dropping them would narrow the interval, so an upper end may be inf
    (unbounded). Returns (b_crit_interval, s_min_interval, draws used)."""
    rng = np.random.default_rng(seed)
    b_crit, s_min = [], []
    k = len(points)
    for _ in range(resamples):
        idx = rng.integers(0, k, size=k)
        if len(set(idx.tolist())) < 2:
            continue
        bs, ss = [], []
        for i in idx:
            p = points[i]
            bs.append(p.batch_size)
            ss.append(float(np.mean(rng.choice(p.steps, size=len(p.steps)))))
        a, slope = _solve(np.asarray(bs, float), np.asarray(ss, float))
        b_crit.append(math.inf if a <= 0 else max(slope, 0.0) / a)
        s_min.append(max(a, 0.0))
    if not b_crit:
        return (math.nan, math.nan), (math.nan, math.nan), 0
    lo, hi = (1 - confidence) / 2, (1 + confidence) / 2
    # inverted_cdf: an order statistic, never an interpolation with inf.
    return (tuple(float(x) for x in np.quantile(b_crit, [lo, hi],
                                                 method="inverted_cdf")),
            tuple(float(x) for x in np.quantile(s_min, [lo, hi],
                                                 method="inverted_cdf")),
            len(b_crit))


def bound(x: float) -> str:
    """An interval end as text: 'unbounded' for inf."""
    return "unbounded" if math.isinf(x) else f"{x:,.0f}"


@dataclasses.dataclass
class CriticalBatch:
    target: float
    metric: str
    points: list
    fit: Fit
    b_crit_interval: tuple
    s_min_interval: tuple
    confidence: float
    draws: int

    def to_json(self) -> dict:
        return dict(target=self.target, metric=self.metric,
                    b_crit=self.fit.b_crit, s_min=self.fit.s_min,
                    e_min=self.fit.e_min, residual=self.fit.residual,
                    # None: unbounded (JSON has no inf)
                    b_crit_interval=[None if math.isinf(x) else x
                                     for x in self.b_crit_interval],
                    s_min_interval=list(self.s_min_interval),
                    confidence=self.confidence, bootstrap_draws=self.draws,
                    points=[dict(batch_size=p.batch_size, steps=p.steps,
                                 mean_steps=p.mean, examples=p.examples,
                                 label=p.label, paths=p.paths)
                            for p in self.points])


def critical_batch(trials, target, metric=None, confidence=0.90,
                   resamples=2000, seed=0) -> CriticalBatch:
    """Steps to ``target`` per batch size, the McCandlish fit and its
    bootstrap interval. ``metric``: None picks validation accuracy when
    the store has a validation split, else the test accuracy."""
    metric = metric or ("validation_accuracy" if has_validation(trials)
                        else "eval_accuracy")
    points = steps_to_target(trials, target, metric)
    if len(points) < 2:
        raise CriticalError(
            f"{len(points)} batch size(s) reach {metric} >= {target:.4f} on "
            "every seed of some recipe; the fit needs two or more")
    f = fit([p.batch_size for p in points], [p.mean for p in points])
    b_int, s_int, draws = bootstrap(points, resamples, confidence, seed)
    return CriticalBatch(target, metric, points, f, b_int, s_int, confidence,
                         draws)


def format_result(result: CriticalBatch) -> str:
    f = result.fit
    lines = [f"target: {result.metric} >= {result.target:.4f}",
             f"{'batch':>7} {'steps':>9} {'examples':>11}  picked recipe (seeds)"]
    for p in result.points:
        lines.append(f"{p.batch_size:>7} {p.mean:>9.1f} {p.examples:>11.0f}  "
                     f"{p.label}")
    pct = f"{100 * result.confidence:g}%"
    lines += ["", f"S = S_min (1 + B_crit / B) (McCandlish et al. 2018): "
              f"B_crit = {f.b_crit:.0f} [{pct}: {bound(result.b_crit_interval[0])}, "
              f"{bound(result.b_crit_interval[1])}], S_min = {f.s_min:.1f} "
              f"[{result.s_min_interval[0]:.1f}, {result.s_min_interval[1]:.1f}], "
              f"E_min = {f.e_min:.0f} examples; RMS relative residual "
              f"{f.residual:.3f}; bootstrap over seeds and batch sizes, "
              f"{result.draws} draws"]
    return "\n".join(lines)
