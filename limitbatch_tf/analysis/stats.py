"""Is a cell above the bar? One-sided tests with the bar's own uncertainty.

You et al. (2020), Definitions 2.1-2.2, compare a run's accuracy with
99.5% of the baseline's accuracy A (and its loss with 1.2 times the
baseline's loss xi). Both A and the run are means over a few seeds, so the
bar is itself an estimate: a margin smaller than the bar's standard error
decides nothing. This module turns the comparison into a stated test.

API (TensorFlow-free; numpy and scipy only):

- ``Target.from_baseline(accuracies, fraction=0.995)``: the bar
  ``fraction * mean(A)`` with its standard error ``fraction * sd(A) / sqrt(n)``.
  ``Target.error_ratio(accuracies, ratio)``: the bar ``1 - ratio * (1 - A)``
  (error <= ratio x the baseline's error). ``Target.loss_bound(losses, 1.2)``:
  an upper bar on a lower-is-better metric (Definition 2.1's 1.2 xi).
- ``judge(cell_values, target, confidence=0.90, test="welch") -> Verdict``.
- ``brackets(verdicts_by_batch) -> {"lo", "hi", "undecided", ...}``.

The test (``test="welch"``). With the cell's seeds x_1..x_m (mean x, sample
variance s_x^2) and the bar T (standard error se_T from the baseline's n
seeds), the margin is d = x - T (T - x for a lower-is-better bar), its
standard error SE = sqrt(s_x^2 / m + se_T^2), the degrees of freedom are
Welch-Satterthwaite's

    df = SE^4 / ((s_x^2/m)^2 / (m - 1) + se_T^4 / (n - 1)),

and with q = the ``confidence`` quantile of Student's t with df degrees of
freedom the cell

- "passes" when d - q SE > 0 (the one-sided lower confidence bound of the
  margin clears zero),
- "fails" when d + q SE < 0,
- is "undecided" otherwise: more seeds (of the cell or the baseline) would
  decide it. A margin exactly 0 with zero spread everywhere is undecided.

One-seed cells (the choice documented here and tested): a single seed has
no spread of its own, so it borrows the baseline's per-seed spread s_b (the
same recipe family on the same data; the Fashion-MNIST seeds of tuned
recipes spread 0.1-0.4 point, the baseline's 0.4): SE^2 = s_b^2 (1 + c^2/n),
where c is the bar's scale (0.995 for 99.5% of A), with n - 1 degrees of
freedom (a pooled t: one variance estimate). ``seed_sd`` overrides the
assumption with a known per-seed standard deviation (then df = inf, a z
test). When neither the cell nor the baseline has two seeds and no
``seed_sd`` is given, nothing estimates the noise: the verdict is
"undecided" (test "none").

Failed seeds. A seed that diverged or stopped unstable is passed as
``None``: a recipe that fails on any seed does not reliably reach the
target, so such a cell "fails" (test "failed seeds").

``test="bootstrap"``: resamples the cell's and the baseline's seeds (with
replacement, ``resamples`` times, a fixed ``seed``) and takes the
percentile bounds of the margin; it needs two seeds on each side, else the
verdict is "undecided".

References: B. L. Welch (1947), "The generalization of Student's problem
when several different population variances are involved", Biometrika 34;
You et al. (2020), "The Limit of the Batch Size", Section 2.
"""
from __future__ import annotations

import dataclasses
import math

import numpy as np
from scipy import stats as _sp

VERDICTS = ("passes", "fails", "undecided")


@dataclasses.dataclass(frozen=True)
class Target:
    """A bar ``scale * mean(values) + offset`` estimated from baseline seeds.

    ``higher_is_better``: accuracy-like (a cell passes above the bar) or
    loss-like (a cell passes below it). ``name``: how reports print it.
    """

    values: tuple
    scale: float = 1.0
    offset: float = 0.0
    higher_is_better: bool = True
    name: str = "target"

    def __post_init__(self):
        values = tuple(float(v) for v in self.values)
        if not values or any(math.isnan(v) for v in values):
            raise ValueError(f"{self.name}: needs at least one finite "
                             f"baseline value, got {self.values!r}")
        object.__setattr__(self, "values", values)

    @classmethod
    def from_baseline(cls, accuracies, fraction=0.995, name=None):
        """``fraction`` of the baseline's mean accuracy (You et al. 2020,
        Definitions 2.1-2.2: 99.5% of A)."""
        return cls(tuple(accuracies), scale=fraction, offset=0.0,
                   name=name or f"{100 * fraction:g}% of A")

    @classmethod
    def error_ratio(cls, accuracies, ratio, name=None):
        """Error at most ``ratio`` times the baseline's: accuracy >=
        1 - ratio * (1 - A) = ratio * A + (1 - ratio)."""
        return cls(tuple(accuracies), scale=ratio, offset=1.0 - ratio,
                   name=name or f"error <= {ratio:g} x baseline error")

    @classmethod
    def loss_bound(cls, losses, factor=1.2, name=None):
        """At most ``factor`` times the baseline's loss (Definition 2.1's
        1.2 xi): a lower-is-better bar."""
        return cls(tuple(losses), scale=factor, offset=0.0,
                   higher_is_better=False,
                   name=name or f"loss <= {factor:g} xi")

    @property
    def n(self) -> int:
        return len(self.values)

    @property
    def baseline_mean(self) -> float:
        return float(np.mean(self.values))

    @property
    def baseline_sd(self) -> float:
        """Per-seed sample standard deviation of the baseline (0 for one)."""
        return float(np.std(self.values, ddof=1)) if self.n > 1 else 0.0

    @property
    def mean(self) -> float:
        """The bar itself."""
        return self.scale * self.baseline_mean + self.offset

    @property
    def stderr(self) -> float:
        """Standard error of the bar: |scale| sd / sqrt(n)."""
        return abs(self.scale) * self.baseline_sd / math.sqrt(self.n)

    def bar(self, values) -> float:
        """The bar computed from other baseline values (a bootstrap draw)."""
        return self.scale * float(np.mean(values)) + self.offset


@dataclasses.dataclass(frozen=True)
class Verdict:
    """The outcome of one comparison; margins are oriented (> 0 is better).

    ``interval``: the one-sided lower and upper confidence bounds of the
    margin at ``confidence`` (together a two-sided 2c - 1 interval).
    ``p_value``: one-sided, against the direction the margin points (for a
    positive margin, P(margin this large | true margin 0)).
    """

    verdict: str
    margin: float
    stderr: float
    interval: tuple
    p_value: float
    df: float
    n: int
    n_target: int
    confidence: float
    test: str
    mean: float | None = None

    @property
    def decided(self) -> bool:
        return self.verdict != "undecided"

    def describe(self) -> str:
        """One line, e.g. 'passes: +0.0010 +- 0.0025 (welch, 3 vs 5 seeds, p=0.35)'."""
        if self.test in ("failed seeds", "none"):
            return f"{self.verdict} ({self.test}, {self.n} seed(s))"
        return (f"{self.verdict}: margin {self.margin:+.4f} +- {self.stderr:.4f} "
                f"({self.test}, {self.n} vs {self.n_target} seeds, "
                f"p={self.p_value:.3g})")


def _decide(margin, lo, hi):
    if lo > 0:
        return "passes"
    if hi < 0:
        return "fails"
    return "undecided"


def judge(cell_values, target: Target, confidence=0.90, test="welch",
          seed_sd=None, resamples=10000, seed=0) -> Verdict:
    """Judges one cell (its per-seed values) against ``target``.

    Args:
      cell_values: the metric per seed; None for a seed that diverged or
        stopped unstable.
      target: the bar, a Target.
      confidence: one-sided confidence of each decision. Defaults to 0.90.
      test: "welch" (see the module docstring) or "bootstrap".
      seed_sd: a known per-seed standard deviation for a one-seed cell
        (otherwise the baseline's is borrowed). Defaults to None.
      resamples, seed: the bootstrap's draws and random seed.
    """
    if not 0.5 < confidence < 1:
        raise ValueError(f"confidence must lie in (0.5, 1), got {confidence}")
    values = list(cell_values)
    if not values:
        raise ValueError("judge: the cell has no values")
    m, n = len(values), target.n
    failed = [v for v in values if v is None or math.isnan(v)]
    if failed:
        return Verdict("fails", -math.inf, 0.0, (-math.inf, -math.inf), 0.0,
                       math.nan, m, n, confidence, "failed seeds")
    x = np.asarray(values, dtype=float)
    sign = 1.0 if target.higher_is_better else -1.0
    margin = sign * (float(x.mean()) - target.mean)
    if test == "welch":
        return _welch(x, margin, target, confidence, seed_sd)
    if test == "bootstrap":
        return _bootstrap(x, margin, sign, target, confidence, resamples, seed)
    raise ValueError(f"test must be 'welch' or 'bootstrap', got {test!r}")


def _welch(x, margin, target, confidence, seed_sd):
    m, n = len(x), target.n
    se_t2 = target.stderr ** 2
    if m > 1:
        v_cell = float(np.var(x, ddof=1)) / m
        parts = [(v_cell, m - 1), (se_t2, n - 1)]
        name = "welch"
    elif seed_sd is not None:
        v_cell = float(seed_sd) ** 2
        parts = [(v_cell, math.inf), (se_t2, n - 1)]
        name = f"welch, one seed, assumed sd {seed_sd:g}"
    elif n > 1:
        # The baseline's per-seed spread stands in for the cell's: one
        # variance estimate (n - 1 df) behind both terms.
        v_cell = target.baseline_sd ** 2
        parts = [(v_cell + se_t2, n - 1)]
        name = "pooled t, one seed, baseline's seed spread"
    else:
        return Verdict("undecided", margin, math.nan, (-math.inf, math.inf),
                       math.nan, math.nan, m, n, confidence, "none", float(x.mean()))
    var = sum(v for v, _ in parts)
    se = math.sqrt(var)
    denom = sum(v * v / df for v, df in parts if v > 0 and df > 0)
    df = (var * var / denom) if denom > 0 else math.inf
    if se == 0:
        verdict = "passes" if margin > 0 else "fails" if margin < 0 else "undecided"
        p = 0.0 if margin != 0 else 1.0
        return Verdict(verdict, margin, 0.0, (margin, margin), p, df, m, n,
                       confidence, name, float(x.mean()))
    q = float(_sp.t.ppf(confidence, df))
    lo, hi = margin - q * se, margin + q * se
    p = float(_sp.t.sf(abs(margin) / se, df))
    return Verdict(_decide(margin, lo, hi), margin, se, (lo, hi), p, df, m, n,
                   confidence, name, float(x.mean()))


def _bootstrap(x, margin, sign, target, confidence, resamples, seed):
    m, n = len(x), target.n
    if m < 2 or n < 2:
        return Verdict("undecided", margin, math.nan, (-math.inf, math.inf),
                       math.nan, math.nan, m, n, confidence,
                       "bootstrap needs 2 seeds each side", float(x.mean()))
    rng = np.random.default_rng(seed)
    base = np.asarray(target.values)
    cells = rng.choice(x, size=(resamples, m)).mean(axis=1)
    bars = (target.scale * rng.choice(base, size=(resamples, n)).mean(axis=1)
            + target.offset)
    draws = sign * (cells - bars)
    lo = float(np.quantile(draws, 1 - confidence))
    hi = float(np.quantile(draws, confidence))
    p = float(np.mean(draws <= 0) if margin > 0 else np.mean(draws >= 0))
    return Verdict(_decide(margin, lo, hi), margin, float(np.std(draws, ddof=1)),
                   (lo, hi), p, math.nan, m, n, confidence,
                   f"bootstrap ({resamples} resamples)", float(x.mean()))


def combine(*verdicts: Verdict) -> str:
    """All of several criteria (Definition 2.1: accuracy and loss): fails if
    any fails, passes if all pass, else undecided."""
    kinds = [v.verdict for v in verdicts]
    if "fails" in kinds:
        return "fails"
    if all(k == "passes" for k in kinds):
        return "passes"
    return "undecided"


def _kind(v):
    return v if isinstance(v, str) else v.verdict


def brackets(verdicts_by_batch, rule="first_fail") -> dict:
    """A boundary as a bracket of batch sizes from per-batch verdicts.

    ``verdicts_by_batch``: {batch size: "passes" | "fails" | "undecided"
    (or a Verdict)}. The boundary lies in (lo, hi].

    - ``rule="first_fail"`` (B_L, Definition 2.1: the smallest B at which
      linear scaling fails): hi = the smallest failing B, lo = the largest
      passing B below it.
    - ``rule="last_pass"`` (B_H, Definition 2.2: the largest B at which some
      technique succeeds): lo = the largest passing B, hi = the smallest
      failing B above it.

    Returns {"lo", "hi", "undecided", "non_monotone"}: lo/hi None where no
    such B was run; "undecided" the batch sizes whose verdict could still
    move the bracket (below hi for first_fail, above lo for last_pass,
    and any between lo and hi); "non_monotone" the batch sizes whose
    decided verdict contradicts the bracket (a pass above hi for
    first_fail, a fail below lo for last_pass).
    """
    if rule not in ("first_fail", "last_pass"):
        raise ValueError(f"rule must be 'first_fail' or 'last_pass', got {rule!r}")
    items = sorted((int(b), _kind(v)) for b, v in verdicts_by_batch.items())
    for b, k in items:
        if k not in VERDICTS:
            raise ValueError(f"batch {b}: verdict must be one of {VERDICTS}, got {k!r}")
    passes = [b for b, k in items if k == "passes"]
    fails = [b for b, k in items if k == "fails"]
    undecided = [b for b, k in items if k == "undecided"]
    if rule == "first_fail":
        hi = fails[0] if fails else None
        below = [b for b in passes if hi is None or b < hi]
        lo = below[-1] if below else None
        open_ = [b for b in undecided if hi is None or b < hi]
        odd = [b for b in passes if hi is not None and b > hi]
    else:
        lo = passes[-1] if passes else None
        above = [b for b in fails if lo is None or b > lo]
        hi = above[0] if above else None
        open_ = [b for b in undecided if lo is None or b > lo]
        odd = [b for b in fails if lo is not None and b < lo]
    return {"lo": lo, "hi": hi, "undecided": open_, "non_monotone": odd}


def point(cell_values, target: Target) -> Verdict:
    """The paper's literal reading: the cell's mean against the bar's point
    estimate, no uncertainty (a tie passes; a failed seed fails)."""
    values = list(cell_values)
    if not values:
        raise ValueError("point: the cell has no values")
    if any(v is None or math.isnan(v) for v in values):
        return Verdict("fails", -math.inf, 0.0, (-math.inf, -math.inf), 0.0,
                       math.nan, len(values), target.n, 1.0, "failed seeds")
    mean = float(np.mean(values))
    sign = 1.0 if target.higher_is_better else -1.0
    margin = sign * (mean - target.mean)
    # Ties within float rounding count as reached (0.995 * 0.80 == 0.796).
    verdict = "passes" if margin >= -1e-12 else "fails"
    return Verdict(verdict, margin, 0.0, (margin, margin), math.nan, math.nan,
                   len(values), target.n, 1.0, "point estimate", mean)
