"""Large, huge and full batch: Definitions 2.1-2.3 of You et al. (2020),
judged with the uncertainty of the baseline and of every cell.

Baseline: batch B0, test accuracy A, validation loss xi, rho epochs.
- Large batch (Def. 2.1): B < B_L trains with the linearly scaled LR
  (lr * B / B0) to >= 99.5% A and <= 1.2 xi in rho epochs; B >= B_L is large.
- Huge batch (Def. 2.2): for B > B_H no available technique reaches 99.5% A
  in rho epochs.
- Full batch (Def. 2.3): B_F = the number of training examples.

How this module reads them:

- A *cell* is one recipe at one batch size: the runs whose configs differ
  only in the seed. Its metrics are taken at rho epochs (a longer run at
  its last evaluation within rho).
- The target is a distribution: A's mean and standard error over the
  baseline's seeds (limitbatch_tf/analysis/stats.py, ``Target``). Each
  judged cell "passes", "fails" or is "undecided" by a one-sided test at a
  stated confidence (default 90%, Welch's t; ``reading="literal"`` is the
  paper's point-estimate comparison).
- Picks are made on *validation* accuracy: per batch size, "any technique"
  is the cell with the best mean validation accuracy, and its *test*
  accuracy is judged (picking on the test set would flatter the best of a
  noisy grid). A store without a validation split falls back to the test
  accuracy, and every row that did says so.
- Definition 2.1 evidence is a cell whose result-defining config
  (Config fields with identity=True) equals the baseline's except the batch
  size, the learning rate and how it is written (the peak LR must be
  lr0 * B / B0), the run's tag, and micro_batch_size (gradient
  accumulation: the same mean gradient per step; with batch norm the
  statistics would differ, which the baseline recipe of the Fashion-MNIST
  study, LeNet-5, does not have). A warmup + decay run is not.
- B_L and B_H are brackets of batch sizes: B_L in (lo, hi] with lo the
  largest B passing below the first failing hi; B_H in [lo, hi) with lo the
  largest B some technique passes and hi the smallest failing B above it.
  Undecided cells that could move a bracket are listed: more seeds there
  would decide.
"""
from __future__ import annotations

import dataclasses
import functools
import json
import math
import statistics

from limitbatch_tf.analysis import stats
from limitbatch_tf.analysis.store import StoredTrial

ACCURACY_FRACTION = 0.995
LOSS_FACTOR = 1.2
# The paper's MNIST bar as an error ratio: 99.5% of A = 99.2% is 98.70%, an
# error of 1.30% against 0.80% (You et al. 2020, Table 3 / Section 2):
# 1.3 / 0.8 = 1.625. On Fashion-MNIST (A ~ 89%) 99.5% of A lets the error
# grow only ~1.04x; error <= 1.625 x the baseline's error is as loose a bar
# as the paper's on MNIST.
MNIST_ERROR_RATIO = 1.3 / 0.8
# Config fields that may differ in a Definition 2.1 run (see the docstring).
LINEAR_FREE = frozenset({"batch_size", "learning_rate", "lr_scaling",
                         "base_batch_size", "tag", "micro_batch_size", "seed"})


class RegimeError(ValueError):
    """The store cannot answer the question (e.g. no baseline runs)."""


@functools.lru_cache(maxsize=1)
def _fields():
    """({name: default} of Config's fields, the names that are not
    result-defining (identity=False)); config.py imports no TensorFlow."""
    from limitbatch_tf.config import Config
    specs = list(Config.field_specs())
    return ({name: default for name, _, default, _ in specs},
            frozenset(name for name, _, _, meta in specs
                      if not meta.get("identity", True)))


def recipe(trial: StoredTrial, free=frozenset({"seed"})) -> tuple:
    """The result-defining config of ``trial`` without the ``free`` keys.

    Settings that do not change a result (Config fields with
    identity=False: where it ran, how often it reported) are dropped; so is
    a field at its default (or absent: a run made before the flag existed),
    so old and new runs of one recipe compare equal. Keys unknown to Config
    (a removed flag) stay: they may have mattered.
    """
    defaults, not_identity = _fields()
    return tuple(sorted(
        (key, json.dumps(value, sort_keys=True))
        for key, value in trial.config.items()
        if key not in free and key not in not_identity
        and not (key in defaults and value == defaults[key])))


def at_epochs(trial: StoredTrial, epochs: float):
    """(test accuracy, validation accuracy, loss) reached within ``epochs``.

    Test accuracy and loss as StoredTrial.metrics_within (None for a diverged or
    unstable run); the validation accuracy of the same evaluation, None
    when the run has no validation split.
    """
    test, loss = trial.metrics_within(epochs)
    if test is None:
        return None, None, None
    rows = [h for h in trial.history if h.get("eval_accuracy") is not None]
    if trial.planned_epochs > epochs * (1 + 1e-9):
        slack = trial.batch_size / max(trial.num_train, 1)
        rows = [h for h in rows if h["epoch"] <= (epochs + slack) * (1 + 1e-9)]
    val = rows[-1].get("validation_accuracy") if rows else None
    return test, val, loss


@dataclasses.dataclass
class Cell:
    """One recipe at one batch size: its seeds, judged at rho epochs."""

    trials: list
    epochs: float

    @property
    def batch_size(self) -> int:
        return self.trials[0].batch_size

    @functools.cached_property
    def _values(self):
        return [at_epochs(t, self.epochs) for t in self.trials]

    @property
    def test(self) -> list:
        """Test accuracy per seed (None: diverged or unstable)."""
        return [v[0] for v in self._values]

    @property
    def validations(self) -> list:
        """Validation accuracy per seed (None: failed, or no split)."""
        return [v[1] for v in self._values]

    @property
    def losses(self) -> list:
        return [v[2] for v in self._values]

    @property
    def failed(self) -> bool:
        return any(a is None for a in self.test)

    @property
    def validation(self) -> float | None:
        """Mean validation accuracy; None when a seed failed or has none."""
        vals = [v[1] for v in self._values]
        if self.failed or any(v is None for v in vals):
            return None
        return statistics.fmean(vals)

    @property
    def mean(self) -> float | None:
        return None if self.failed else statistics.fmean(self.test)

    @property
    def sd(self) -> float:
        ok = [a for a in self.test if a is not None]
        return statistics.stdev(ok) if len(ok) > 1 else 0.0

    @property
    def n(self) -> int:
        return len(self.trials)

    @property
    def paths(self) -> list:
        return [t.path for t in self.trials]

    def label(self) -> str:
        t = self.trials[0]
        name = t.rung or (t.optimizer + ("+layerwise" if t.layerwise else ""))
        warm = t.config.get("warmup_epochs")
        extra = f" warmup={warm:g}" if warm else ""
        return f"{name} lr={t.peak_learning_rate:g}{extra} seeds={self.n}"


def cells(trials, epochs) -> list:
    """Trials grouped by (batch size, recipe without the seed).

    A seed that ran twice (a seed store rerunning seed 0 of a grid's cell)
    is one sample, not two: the run with the first path is kept.
    """
    groups = {}
    for t in sorted(trials, key=lambda t: t.path):
        seeds = groups.setdefault((t.batch_size, recipe(t)), {})
        seeds.setdefault(t.seed, t)
    return [Cell(sorted(ts.values(), key=lambda t: t.seed), epochs)
            for ts in groups.values()]


def pick(candidates):
    """(the cell with the best mean validation accuracy, picked_on) among
    ``candidates``; a store without a validation split is picked on test
    accuracy ("test"), and a batch where every cell failed yields None."""
    ok = [c for c in candidates if not c.failed]
    if not ok:
        return None, None
    with_val = [c for c in ok if c.validation is not None]
    if with_val:
        return max(with_val, key=lambda c: c.validation), "validation"
    return max(ok, key=lambda c: c.mean), "test"


@dataclasses.dataclass
class Baseline:
    """The baseline cell: B0, A and xi per seed, rho."""

    cell: Cell
    picked_on: str

    @property
    def batch_size(self) -> int:
        return self.cell.batch_size

    @property
    def accuracies(self) -> list:
        return self.cell.test

    @property
    def losses(self) -> list:
        return self.cell.losses

    @property
    def accuracy(self) -> float:
        return self.cell.mean

    @property
    def loss(self) -> float | None:
        ls = [x for x in self.losses if x is not None]
        return statistics.fmean(ls) if ls else None

    @property
    def spread(self) -> float:
        return self.cell.sd

    @property
    def num_seeds(self) -> int:
        return self.cell.n

    @property
    def epochs(self) -> float:
        return self.cell.epochs

    @property
    def optimizer(self) -> str:
        return self.cell.trials[0].optimizer

    @property
    def peak_learning_rate(self) -> float:
        return self.cell.trials[0].peak_learning_rate


def find_baseline(trials, base_batch_size=None, optimizer="momentum"):
    """The baseline cell: B0 (given or the smallest batch of ``optimizer``)
    and, when several recipes ran there (an LR grid), the one with the best
    mean validation accuracy.

    ``trials`` may be only the baseline's own runs (its seeds in a store of
    their own), which names the baseline unambiguously.
    """
    candidates = [t for t in trials if t.optimizer == optimizer
                  and not t.layerwise and t.accuracy is not None]
    if base_batch_size is not None:
        candidates = [t for t in candidates if t.batch_size == base_batch_size]
    if not candidates:
        raise RegimeError(
            f"no finished baseline run ({optimizer}"
            + (f" at batch {base_batch_size}" if base_batch_size else "")
            + ") in the store: run the baseline first")
    b0 = min(t.batch_size for t in candidates)
    at_b0 = [t for t in candidates if t.batch_size == b0]
    rho = at_b0[0].planned_epochs
    best, picked_on = pick(cells(at_b0, rho))
    if best is None:
        raise RegimeError(f"no baseline recipe at batch {b0} finished every seed")
    return Baseline(best, picked_on)


def is_linear_scaling(cell: Cell, base: Baseline) -> bool:
    """Definition 2.1 evidence: the baseline's recipe with only the batch
    size and the linearly scaled LR changed (see the module docstring)."""
    t, b = cell.trials[0], base.cell.trials[0]
    if recipe(t, LINEAR_FREE) != recipe(b, LINEAR_FREE):
        return False
    expected = base.peak_learning_rate * t.batch_size / base.batch_size
    return abs(t.peak_learning_rate - expected) <= 1e-6 * max(expected, 1e-12)


@dataclasses.dataclass
class Row:
    """One batch size: the Definition 2.1 cell and the validation pick."""

    batch_size: int
    cells: list
    pick: Cell | None
    picked_on: str | None
    verdict: stats.Verdict
    linear: Cell | None
    linear_verdict: str | None
    linear_accuracy: stats.Verdict | None
    linear_loss: stats.Verdict | None
    flags: list

    @property
    def best_accuracy(self):
        """Test accuracy of the validation pick (None: every cell failed)."""
        return None if self.pick is None else self.pick.mean

    @property
    def linear_ok(self):
        """Compatibility: True / False / None (untested or undecided)."""
        return {"passes": True, "fails": False}.get(self.linear_verdict)

    @property
    def any_ok(self) -> bool:
        return self.verdict.verdict == "passes"


@dataclasses.dataclass
class RegimeReport:
    name: str
    reading: str
    confidence: float
    test: str
    baseline: Baseline
    target: stats.Target
    loss_target: stats.Target | None
    rows: list
    b_l_bracket: dict
    b_h_bracket: dict
    b_f: int
    flags: list
    more_seeds: list

    @property
    def target_accuracy(self) -> float:
        return self.target.mean

    @property
    def max_loss(self) -> float:
        return self.loss_target.mean if self.loss_target else math.inf

    @property
    def b_l(self):
        """The smallest batch size at which linear scaling fails."""
        return self.b_l_bracket["hi"]

    @property
    def b_h(self):
        """The largest batch size at which a technique passes."""
        return self.b_h_bracket["lo"]


def _judge(values, target, reading, confidence, test, seed_sd):
    if reading == "literal":
        return stats.point(values, target)
    return stats.judge(values, target, confidence, test, seed_sd=seed_sd)


def _itself(cell, target):
    """The baseline's own cell: it defines the bar, so it is not tested
    against it (its seeds are the bar's seeds: not independent)."""
    margin = cell.mean - target.mean if target.higher_is_better else math.nan
    return stats.Verdict("passes", margin, math.nan, (math.nan, math.nan),
                         math.nan, math.nan, cell.n, target.n, math.nan,
                         "the baseline itself", cell.mean)


def classify(trials, base_batch_size=None, baseline_optimizer="momentum",
             baseline_trials=None, *, reading="statistical", confidence=0.90,
             test="welch", bar="fraction", ratio=MNIST_ERROR_RATIO,
             seed_sd=None, name="baseline"):
    """Applies Definitions 2.1-2.3 to a store's trials; returns a RegimeReport.

    Args:
      trials: the sweep's runs (every cell at every batch size).
      base_batch_size, baseline_optimizer: where to find the baseline.
      baseline_trials: the baseline's runs, when they are not simply the
        best ``baseline_optimizer`` recipe at the smallest batch of
        ``trials`` (they are then judged with the rest too).
      reading: "statistical" (a one-sided test per cell) or "literal" (the
        paper's point estimates).
      confidence, test, seed_sd: passed to stats.judge.
      bar: "fraction" (99.5% of A, the paper's) or "error_ratio"
        (error <= ``ratio`` x the baseline's error).
      name: the baseline's name in reports.
    """
    if reading not in ("statistical", "literal"):
        raise RegimeError(f"reading must be 'statistical' or 'literal', got {reading!r}")
    if bar not in ("fraction", "error_ratio"):
        raise RegimeError(f"bar must be 'fraction' or 'error_ratio', got {bar!r}")
    if baseline_trials is not None:
        seen = {t.path for t in trials}
        trials = list(trials) + [t for t in baseline_trials if t.path not in seen]
    base = find_baseline(baseline_trials or trials, base_batch_size,
                         baseline_optimizer)
    if bar == "fraction":
        target = stats.Target.from_baseline(base.accuracies, ACCURACY_FRACTION)
    else:
        target = stats.Target.error_ratio(base.accuracies, ratio)
    losses = [x for x in base.losses if x is not None]
    loss_target = (stats.Target.loss_bound(losses, LOSS_FACTOR)
                   if losses else None)
    judge = functools.partial(_judge, reading=reading, confidence=confidence,
                              test=test, seed_sd=seed_sd)
    all_cells = cells(trials, base.epochs)
    rows = []
    for b in sorted({c.batch_size for c in all_cells}):
        here = [c for c in all_cells if c.batch_size == b]
        best, picked_on = pick(here)
        flags = []
        if best is None:
            verdict = stats.point([None], target)   # every cell failed
        elif set(best.paths) == set(base.cell.paths):
            verdict = _itself(best, target)
        else:
            verdict = judge(best.test, target)
            if picked_on == "test":
                flags.append("picked on test accuracy: no validation split")
        linear = [c for c in here if is_linear_scaling(c, base)]
        lin, lin_kind, lin_acc, lin_loss = None, None, None, None
        if linear:
            lin = pick(linear)[0] or linear[0]
            if set(lin.paths) == set(base.cell.paths):   # Def. 2.1 at B0: trivially
                lin_acc = _itself(lin, target)
                rows.append(Row(b, here, best, picked_on, verdict, lin,
                                "passes", lin_acc, None, flags))
                continue
            lin_acc = judge(lin.test, target)
            lin_losses = lin.losses
            if loss_target is not None and not lin.failed and all(
                    x is not None for x in lin_losses):
                lin_loss = judge(lin_losses, loss_target)
                lin_kind = stats.combine(lin_acc, lin_loss)
            else:
                lin_kind = lin_acc.verdict
        rows.append(Row(b, here, best, picked_on, verdict, lin, lin_kind,
                        lin_acc, lin_loss, flags))
    b_l = stats.brackets({r.batch_size: r.linear_verdict for r in rows
                          if r.linear_verdict is not None}, rule="first_fail")
    b_h = stats.brackets({r.batch_size: r.verdict.verdict for r in rows},
                         rule="last_pass")
    flags = []
    if b_l["non_monotone"]:
        flags.append(f"non-monotone: linear scaling fails at {b_l['hi']} but "
                     f"passes at {b_l['non_monotone']}")
    if b_h["non_monotone"]:
        flags.append(f"non-monotone: no technique passes at "
                     f"{b_h['non_monotone']}, below B_H's {b_h['lo']}")
    for which, br in (("B_L", b_l), ("B_H", b_h)):
        if (br["lo"] is not None and br["hi"] is not None
                and br["hi"] > 2 * br["lo"]
                and not any(br["lo"] < r.batch_size < br["hi"] for r in rows)):
            flags.append(f"{which}: finer grid needed between {br['lo']} "
                         f"and {br['hi']}")
    more = []
    by_b = {r.batch_size: r for r in rows}
    for b in b_l["undecided"]:
        more.append(f"B={b} linear scaling {by_b[b].linear.label()}: "
                    f"{by_b[b].linear_accuracy.describe()}")
    for b in b_h["undecided"]:
        more.append(f"B={b} {by_b[b].pick.label()}: {by_b[b].verdict.describe()}")
    b_f = max(t.num_train for t in trials)
    return RegimeReport(name, reading, confidence, test if reading == "statistical"
                  else "point estimate", base, target, loss_target, rows,
                  b_l, b_h, b_f, flags, more)
