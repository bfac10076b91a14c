"""Large, huge and full batch: Definitions 2.1-2.3 of You et al. (2020).

Baseline: batch B0, test accuracy A, validation loss xi, rho epochs.
- Large batch (Def. 2.1): B < B_L trains with the linearly scaled LR
  (lr * B / B0) to >= 99.5% A and <= 1.2 xi in rho epochs; B >= B_L is large.
- Huge batch (Def. 2.2): for B > B_H no available technique reaches 99.5% A
  in rho epochs.
- Full batch (Def. 2.3): B_F = the number of training examples.

Trials of the same recipe that differ only in the seed are one *group*; a
group's accuracy and loss are means over its seeds, and its seed spread (the
standard deviation) decides whether a verdict is too close to call.
B_L is the smallest batch size at which linear scaling fails; B_H the
largest at which any technique succeeds. Non-monotone outcomes (a failure
below B_H, a success above B_L) are reported, never smoothed over.
"""
from __future__ import annotations

import dataclasses
import statistics

from limitbatch_tf.analysis.store import Trial

ACCURACY_FRACTION = 0.995
LOSS_FACTOR = 1.2


class RegimeError(ValueError):
    """The store cannot answer the question (e.g. no baseline runs)."""


@dataclasses.dataclass
class Group:
    """Seeds of one recipe at one batch size."""

    trials: list

    @property
    def batch_size(self):
        return self.trials[0].batch_size

    def within(self, epochs):
        """Mean accuracy and loss within ``epochs`` (None if any seed failed), spread."""
        values = [t.metrics_within(epochs) for t in self.trials]
        if any(a is None for a, _ in values):
            return None, None, 0.0
        accs = [a for a, _ in values]
        losses = [l for _, l in values if l is not None]
        spread = statistics.stdev(accs) if len(accs) > 1 else 0.0
        return (statistics.fmean(accs),
                statistics.fmean(losses) if losses else None, spread)

    def label(self):
        t = self.trials[0]
        name = t.rung or (t.optimizer + ("+layerwise" if t.layerwise else ""))
        return (f"{name} lr={t.peak_learning_rate:g} "
                f"seeds={len(self.trials)} ({t.path})")


@dataclasses.dataclass
class Baseline:
    batch_size: int
    accuracy: float
    loss: float
    epochs: float
    spread: float
    optimizer: str
    peak_learning_rate: float
    num_seeds: int


@dataclasses.dataclass
class Row:
    batch_size: int
    best_accuracy: float | None
    linear_ok: bool | None
    any_ok: bool
    evidence: str
    flags: list
    steps_to_target: int | None


@dataclasses.dataclass
class Report:
    baseline: Baseline
    target_accuracy: float
    max_loss: float
    rows: list
    b_l: int | None
    b_h: int | None
    b_f: int
    flags: list


def _groups(trials):
    groups = {}
    for t in trials:
        groups.setdefault((t.batch_size, t.technique), []).append(t)
    return [Group(ts) for ts in groups.values()]


def find_baseline(trials, base_batch_size=None, optimizer="momentum"):
    """The baseline group: B0 (given or the smallest batch of ``optimizer``).

    ``trials`` may be only the baseline's own runs (e.g. its seeds in a
    store of their own), which is how a store where other recipes also ran
    at B0 names its baseline unambiguously.
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
    groups = [g for g in _groups([t for t in candidates if t.batch_size == b0])]
    # Several baseline recipes (e.g. an LR grid): the best one is the baseline.
    group = max(groups, key=lambda g: g.within(float("inf"))[0] or -1.0)
    acc, loss, spread = group.within(float("inf"))
    first = group.trials[0]
    return Baseline(b0, acc, loss, first.planned_epochs, spread, optimizer,
                    first.peak_learning_rate, len(group.trials))


def _is_linear_scaling(group: Group, base: Baseline) -> bool:
    """The baseline recipe with the LR scaled by B/B0 (Definition 2.1)."""
    t = group.trials[0]
    if t.optimizer != base.optimizer or t.layerwise:
        return False
    if t.rung not in (None, "msgd", "baseline"):
        return False
    expected = base.peak_learning_rate * t.batch_size / base.batch_size
    return (t.lr_scaling == "linear"
            or abs(t.peak_learning_rate - expected) <= 1e-6 * max(expected, 1e-12))


def steps_to_target(trials, target):
    """Shallue et al. (2018): per batch size, the fewest steps to ``target``."""
    best = {}
    for t in trials:
        steps = [h["step"] for h in t.history
                 if h.get("eval_accuracy") is not None
                 and h["eval_accuracy"] >= target]
        if steps:
            b = t.batch_size
            best[b] = min(best.get(b, steps[0]), steps[0])
    return best


def classify(trials, base_batch_size=None, baseline_optimizer="momentum",
             baseline_trials=None):
    """Applies Definitions 2.1-2.3 to a store's trials; returns a Report.

    ``baseline_trials``: the baseline's runs, when they are not simply the
    best ``baseline_optimizer`` recipe at the smallest batch of ``trials``
    (they are then judged with the rest too). Defaults to None.
    """
    if baseline_trials is not None:
        trials = list(trials) + [t for t in baseline_trials
                                 if t.path not in {u.path for u in trials}]
    base = find_baseline(baseline_trials or trials, base_batch_size,
                         baseline_optimizer)
    target = ACCURACY_FRACTION * base.accuracy
    max_loss = LOSS_FACTOR * base.loss if base.loss is not None else float("inf")
    to_target = steps_to_target(trials, target)
    rows = []
    for b in sorted({t.batch_size for t in trials}):
        groups = [g for g in _groups(trials) if g.batch_size == b]
        flags, linear_ok, any_ok, evidence = [], None, False, "no run reached the target"
        best = None
        for g in groups:
            acc, loss, spread = g.within(base.epochs)
            if acc is None:  # diverged (or never evaluated within rho)
                if _is_linear_scaling(g, base):
                    linear_ok = bool(linear_ok)
                continue
            best = acc if best is None else max(best, acc)
            reached = acc >= target
            if reached and not any_ok:
                any_ok, evidence = True, g.label()
            if abs(acc - target) <= max(spread, 0.0) and spread > 0:
                flags.append(f"{g.label()}: {acc:.4f} is within its seed "
                             f"spread ({spread:.4f}) of the target: more seeds")
            if len({t.seed for t in g.trials}) == 1 and abs(acc - target) < 0.002:
                flags.append(f"{g.label()}: one seed, {acc:.4f} vs target "
                             f"{target:.4f}: more seeds")
            if _is_linear_scaling(g, base):
                ok = reached and (loss is None or loss <= max_loss)
                linear_ok = ok if linear_ok is None else (linear_ok or ok)
        rows.append(Row(b, best, linear_ok, any_ok, evidence, flags,
                        to_target.get(b)))
    tested = [r for r in rows if r.linear_ok is not None]
    b_l = next((r.batch_size for r in tested if not r.linear_ok), None)
    successes = [r.batch_size for r in rows if r.any_ok]
    b_h = max(successes) if successes else None
    flags = []
    if b_l is not None and any(r.linear_ok for r in tested if r.batch_size > b_l):
        flags.append(f"non-monotone: linear scaling fails at {b_l} but succeeds "
                     f"at a larger batch size")
    if b_h is not None and any(not r.any_ok for r in rows if r.batch_size < b_h):
        flags.append("non-monotone: some batch size below B_H reached no target")
    for boundary in (b_l, b_h):
        if boundary is None:
            continue
        sizes = [r.batch_size for r in rows]
        i = sizes.index(boundary)
        for j in (i - 1, i + 1):
            if 0 <= j < len(sizes) and max(sizes[i], sizes[j]) > 2 * min(sizes[i], sizes[j]):
                flags.append(f"finer grid needed between {min(sizes[i], sizes[j])} "
                             f"and {max(sizes[i], sizes[j])}")
    b_f = max(t.num_train for t in trials)
    return Report(base, target, max_loss, rows, b_l, b_h, b_f, flags)


def format_report(report: Report) -> str:
    """The report as text: baseline, table, boundaries, flags."""
    base = report.baseline
    lines = [
        f"baseline: B0={base.batch_size} {base.optimizer} lr={base.peak_learning_rate:g} "
        f"A={base.accuracy:.4f} (spread {base.spread:.4f}, {base.num_seeds} seeds) "
        f"xi={base.loss if base.loss is None else round(base.loss, 4)} "
        f"rho={base.epochs:.4g} epochs",
        f"targets: accuracy >= {report.target_accuracy:.4f} (99.5% A), "
        f"loss <= {report.max_loss:.4f} (1.2 xi), within {base.epochs:.4g} epochs",
        "",
        f"{'batch':>9} {'best acc':>9} {'linear':>7} {'any':>5} {'steps':>7}  evidence",
    ]
    for r in report.rows:
        linear = "-" if r.linear_ok is None else ("yes" if r.linear_ok else "no")
        acc = "div" if r.best_accuracy is None else f"{r.best_accuracy:.4f}"
        steps = "-" if r.steps_to_target is None else str(r.steps_to_target)
        lines.append(f"{r.batch_size:>9} {acc:>9} {linear:>7} "
                     f"{'yes' if r.any_ok else 'no':>5} {steps:>7}  {r.evidence}")
        lines.extend(f"{'':>9} ! {f}" for f in r.flags)
    lines += ["", f"B_L = {report.b_l}  (large batch: B >= B_L)",
              f"B_H = {report.b_h}  (huge batch: B > B_H)",
              f"B_F = {report.b_f}  (full batch)"]
    lines += [f"! {f}" for f in report.flags]
    return "\n".join(lines)
