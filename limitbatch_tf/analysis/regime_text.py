"""A RegimeReport (analysis/regimes.py) as text and as JSON: what
``limitbatch-regimes`` prints and the Fashion-MNIST report embeds."""
from __future__ import annotations

import math

from limitbatch_tf.analysis import stats
from limitbatch_tf.analysis.regimes import Cell, RegimeReport


def _bracket_text(which, br, rows, reading):
    lo, hi = br["lo"], br["hi"]
    by_b = {r.batch_size: r for r in rows}
    if which == "B_L":
        span = f"({lo if lo is not None else '-'}, {hi if hi is not None else '-'}]"
        point = hi
        meaning = "large batch: B >= B_L"
        deciding = [(b, by_b[b].linear) for b in (lo, hi) if b is not None]
    else:
        span = f"[{lo if lo is not None else '-'}, {hi if hi is not None else '-'})"
        point = lo
        meaning = "huge batch: B > B_H"
        deciding = [(b, by_b[b].pick) for b in (lo, hi) if b is not None]
    head = (f"{which} = {point}  bracket {span}" if reading == "literal"
            else f"{which} in {span}")
    lines = [f"{head}  ({meaning})"]
    for b, c in deciding:
        if c is not None:
            lines.append(f"    B={b}: {c.label()} ({', '.join(c.paths)})")
    if br["undecided"]:
        lines.append(f"    undecided at {br['undecided']}: more seeds would decide")
    return lines


def format_report(report: RegimeReport) -> str:
    """The report as text: baseline, bar, table of verdicts, brackets."""
    base, t = report.baseline, report.target
    how = ("point estimates (the paper's literal reading)"
           if report.reading == "literal" else
           f"one-sided {report.test} at {100 * report.confidence:g}% "
           "confidence, the bar's standard error included")
    loss = ("" if report.loss_target is None else
            f", loss <= {report.loss_target.mean:.4f} +- "
            f"{report.loss_target.stderr:.4f} (1.2 xi)")
    lines = [
        f"baseline '{report.name}': B0={base.batch_size} {base.optimizer} "
        f"lr={base.peak_learning_rate:g} A={base.accuracy:.4f} (sd "
        f"{base.spread:.4f}, {base.num_seeds} seeds) xi="
        f"{'-' if base.loss is None else f'{base.loss:.4f}'} "
        f"rho={base.epochs:.4g} epochs",
        f"bar: {t.name} = {t.mean:.4f} +- {t.stderr:.4f} (standard error)"
        f"{loss}, within {base.epochs:.4g} epochs",
        f"verdicts: {how}",
        "",
        f"{'batch':>7}  {'linear':<9}  {'any':<9}  {'test acc':>8}  "
        f"{'sd':>6}  {'n':>2}  {'margin':>8}  {'+-se':>6}  validation pick",
    ]
    for r in report.rows:
        lin = r.linear_verdict or "-"
        v = r.verdict
        if r.pick is None:
            lines.append(f"{r.batch_size:>7}  {lin:<9}  {v.verdict:<9}  "
                         f"{'failed':>8}  every run diverged or stopped unstable")
        else:
            se = "-" if not v.stderr or math.isnan(v.stderr) else f"{v.stderr:.4f}"
            sd = f"{r.pick.sd:.4f}" if r.pick.n > 1 else "-"
            lines.append(
                f"{r.batch_size:>7}  {lin:<9}  {v.verdict:<9}  "
                f"{r.pick.mean:>8.4f}  {sd:>6}  {r.pick.n:>2}  "
                f"{v.margin:>+8.4f}  {se:>6}  {r.pick.label()}")
        lines.extend(f"{'':>7}  ! {f}" for f in r.flags)
    lines.append("")
    lines += _bracket_text("B_L", report.b_l_bracket, report.rows, report.reading)
    lines += _bracket_text("B_H", report.b_h_bracket, report.rows, report.reading)
    lines.append(f"B_F = {report.b_f}  (full batch)")
    if report.more_seeds:
        lines.append("more seeds would decide:")
        lines += [f"    {m}" for m in report.more_seeds]
    lines += [f"! {f}" for f in report.flags]
    return "\n".join(lines)


def _verdict_json(v: stats.Verdict | None):
    if v is None:
        return None

    def num(x):
        return None if x is None or not math.isfinite(x) else x
    return dict(verdict=v.verdict, margin=num(v.margin), stderr=num(v.stderr),
                interval=[num(x) for x in v.interval], p_value=num(v.p_value),
                df=num(v.df), n=v.n, test=v.test)


def _cell_json(c: Cell | None):
    if c is None:
        return None
    return dict(label=c.label(), test_accuracy=c.test, mean=c.mean, sd=c.sd,
                n=c.n, validation=c.validation, paths=c.paths)


def to_json(report: RegimeReport) -> dict:
    """The report as plain data: {"B_L": {"bracket": [lo, hi], ...},
    "B_H": {...}, "B_F": ..., "confidence": ..., ...}."""
    by_b = {r.batch_size: r for r in report.rows}

    def bracket(br, attr):
        return dict(bracket=[br["lo"], br["hi"]], undecided=br["undecided"],
                    non_monotone=br["non_monotone"],
                    deciding={k: (getattr(by_b[br[k]], attr).paths
                                  if br[k] is not None and getattr(by_b[br[k]], attr)
                                  else None) for k in ("lo", "hi")})
    base = report.baseline
    return {
        "name": report.name, "reading": report.reading,
        "confidence": report.confidence if report.reading == "statistical" else None,
        "test": report.test,
        "baseline": dict(batch_size=base.batch_size, accuracies=base.accuracies,
                         mean=base.accuracy, sd=base.spread,
                         loss=base.loss, epochs=base.epochs,
                         peak_learning_rate=base.peak_learning_rate,
                         picked_on=base.picked_on, paths=base.cell.paths),
        "bar": dict(name=report.target.name, mean=report.target.mean,
                    stderr=report.target.stderr),
        "B_L": bracket(report.b_l_bracket, "linear"),
        "B_H": bracket(report.b_h_bracket, "pick"),
        "B_F": report.b_f,
        "rows": [dict(batch_size=r.batch_size, verdict=_verdict_json(r.verdict),
                      pick=_cell_json(r.pick), picked_on=r.picked_on,
                      linear=_cell_json(r.linear),
                      linear_verdict=r.linear_verdict,
                      linear_accuracy=_verdict_json(r.linear_accuracy),
                      linear_loss=_verdict_json(r.linear_loss), flags=r.flags)
                 for r in report.rows],
        "more_seeds": report.more_seeds, "flags": report.flags,
    }
