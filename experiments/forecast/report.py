"""Regenerates experiments/forecast/REPORT.md and calibration.json (issue 19).

    python experiments/forecast/report.py [--results DIR] [--report FILE]
        [--calibration FILE] [--exhaustive DIR]

Reads what run.sh writes under ``results/``: per real workload its noise
run (``W/noise``) and find_limit's store (``W/search`` with its
find_limit.json), and the synthetic workload (``synthetic``). Per workload:
the forecast (limitbatch_tf/forecast/predict.py's rule on the noise run),
the brackets find_limit measured and the compute it spent, the measured
critical batch (McCandlish et al.'s fit of steps to target over the search
store's runs, limitbatch_tf/analysis/critical.py) and the ratio of the two.
Then the calibration: each workload's B_L and B_H intervals from the
*other* workloads of its optimizer family (leave one out, so no workload
calibrates its own forecast), the goals of issue 19 and a
predicted-vs-measured figure. calibration.json's rows are rewritten from
the same numbers, so tools/forecast.py's factors are the committed study's.
The part of REPORT.md between the ``generated`` markers is rewritten; the
hand-written discussion around it stays.
"""
from __future__ import annotations

import argparse
import glob
import importlib.util
import json
import math
import os
import sys

from limitbatch_tf.analysis import (critical, markdown, plots, regimes, stats,
                                    store)
from limitbatch_tf.forecast import predict

HERE = os.path.dirname(os.path.abspath(__file__))
REAL = ("lenet5_momentum", "lenet5_lamb", "mlp_momentum",
        "softmax_momentum")
# Issue 19's goals (measured here, not asserted by tests).
SHARE_GOAL = 0.25      # find_limit's trial-epochs / the exhaustive map's
FACTOR_GOAL = 2.0      # forecast B_crit within this factor of the measured
CONFIDENCE = 0.90


def _num(x, digits=0):
    return "-" if x is None else f"{x:,.{digits}f}"


def _size(x):
    """A batch size; past 10^7 (a prediction interval from two rows can
    reach there) in scientific notation."""
    return f"{x:,.0f}" if x < 1e7 else f"{x:.1e}"


def _epochs(x):
    return f"{x:,.0f}" if x >= 10 else f"{x:.2g}"


def _bracket_text(ends, kind):
    """A [lo, hi] pair (calibration.json's brackets) as _bracket writes it."""
    return _bracket(dict(lo=ends[0], hi=ends[1]), kind)


def _bracket(b, kind):
    """find_limit's bracket as text: B_L (lo, hi], B_H [lo, hi)."""
    if not b:
        return "not reached"
    lo, hi = ("?" if x is None else x for x in (b["lo"], b["hi"]))
    text = f"({lo}, {hi}]" if kind == "b_l" else f"[{lo}, {hi})"
    if b.get("undecided"):
        text += f", undecided at {', '.join(map(str, b['undecided']))}"
    return text


def measure(folder, name):
    """Everything the study measured for one real workload (a dict; an
    entry is None, or an ``*_error`` string, where that part is missing)."""
    out = dict(workload=name, forecast=None, family=None, summary=None,
               critical=None)
    try:
        est = predict.read_run(os.path.join(folder, "noise"))
        out["forecast"], out["family"] = est, est.optimizer
    except predict.ForecastError as e:
        out["forecast_error"] = str(e)
    ledger = os.path.join(folder, "search", "find_limit.json")
    try:
        with open(ledger) as f:
            data = json.load(f)
    except (OSError, ValueError) as e:
        out["search_error"] = f"{ledger}: {e}"
        return out
    out["summary"] = data.get("summary")
    # The search's bar: 99.5% of its own baseline's mean test accuracy
    # (search.py; the baseline is the recipe at B0 with its own LR).
    st = data.get("settings") or {}
    base = [row["result"]["accuracy"] for row in data.get("trials", [])
            if row["spec"]["batch_size"] == st.get("base_batch")
            and row["spec"]["epochs"] == st.get("epochs")
            and row["result"]["accuracy"] is not None
            and abs(row["spec"]["learning_rate"] - st.get("base_lr", 0)) < 1e-9]
    out["bar"] = stats.Target.from_baseline(base).mean if base else None
    out["family"] = out["family"] or (data.get("recipe") or {}).get("optimizer")
    try:
        trials = store.load_store(os.path.join(folder, "search"))
        base = data["settings"]["base_batch"]
        target = critical.baseline_target(trials, base_batch_size=base,
                                          optimizer=out["family"] or "momentum")
        out["critical"] = critical.critical_batch(trials, target,
                                                  confidence=CONFIDENCE)
    except (store.StoreError, critical.CriticalError, regimes.RegimeError,
            KeyError) as e:
        out["critical_error"] = str(e)
    return out


def calibration_rows(measured, source):
    """calibration.json's rows: b_l = B_L's bracket hi (the smallest batch
    where linear scaling failed), b_h = B_H's bracket lo (the largest where
    the tuned recipe passed), as experiments/forecast/README.md defines;
    with an undecided band, the middle of the sizes left (``point``)."""
    rows = []
    for m in measured:
        if m["forecast"] is None:
            continue
        s = m["summary"] or {}
        rows.append(dict(
            workload=m["workload"], family=m["family"],
            b_crit_forecast=round(m["forecast"].b_crit, 1),
            b_crit_measured=(None if m["critical"] is None
                             else round(m["critical"].fit.b_crit, 1)),
            b_l=point(s.get("b_l"), "b_l"), b_h=point(s.get("b_h"), "b_h"),
            # The whole brackets: an undecided band makes the point above
            # one end of a wider range (the goals check against these).
            b_l_bracket=_ends(s.get("b_l")), b_h_bracket=_ends(s.get("b_h")),
            source=f"{source}/{m['workload']}"))
    return rows


MAX_SPAN = 4  # a bracket's candidate sizes spanning more calibrate nothing


def point(bracket, bound):
    """A bracket's calibration point: the geometric mean of the grid sizes
    the boundary can still be. B_L in (lo, hi] can be 2 lo, ..., hi; B_H
    in [lo, hi) can be lo, ..., hi / 2. A decided factor-2 bracket gives
    the size the definitions name (B_L = hi, the smallest failing size;
    B_H = lo, the largest passing one); an undecided band widens the
    candidates, and the point is then within sqrt(span) of the truth. A
    bracket open at an end, or whose candidates span more than MAX_SPAN,
    calibrates nothing (None); the goals still check it whole."""
    if not bracket or None in (bracket["lo"], bracket["hi"]):
        return None
    lo, hi = bracket["lo"], bracket["hi"]
    first, last = (2 * lo, hi) if bound == "b_l" else (lo, hi / 2)
    if last / first > MAX_SPAN:
        return None
    return round(math.sqrt(first * last), 1)


def _ends(bracket):
    return None if not bracket else [bracket["lo"], bracket["hi"]]


def consistent(interval, bracket, bound):
    """Whether a forecast interval [a, b] meets a measured bracket: B_L in
    (lo, hi], B_H in [lo, hi) (hi None: open above). None when there is no
    interval (one other row gives a point, which has no spread to judge)
    or nothing measured."""
    if not interval or interval[0] == interval[1] or not bracket:
        return None
    (a, b), (lo, hi) = interval, bracket
    if bound == "b_l":
        if hi is None:
            return None
        return a <= hi and (lo is None or b > lo)
    if lo is None:
        return None
    return b >= lo and (hi is None or a < hi)


def leave_one_out(rows):
    """{(workload, bound): (low, high) or None}: the interval for a row from
    the other rows of its family (None: no other row with that bound)."""
    out = {}
    for row in rows:
        others = [r for r in rows if r is not row]
        by_family = predict.factors(others).get(row["family"], {})
        for bound in ("b_l", "b_h"):
            f = by_family.get(bound)
            out[(row["workload"], bound)] = (
                None if f is None else f.interval(row["b_crit_forecast"],
                                                  CONFIDENCE))
    return out


def exhaustive_trial_epochs(results):
    """Trial-epochs of the issue-9 LeNet-5 map: its baseline and regime
    stores (what find_limit's search replaces); None when absent."""
    total, found = 0.0, False
    for part in ("baseline", "regime"):
        for path in glob.glob(os.path.join(results, part, "**", "results.json"),
                              recursive=True):
            with open(path) as f:
                data = json.load(f)
            total += data.get("epochs_completed") or 0.0
            found = True
    return total if found else None


def workloads_section(measured):
    rows = []
    for m in measured:
        s, est, crit = m["summary"], m["forecast"], m["critical"]
        c = (s or {}).get("compute", {})
        ratio = (est.b_crit / crit.fit.b_crit
                 if est is not None and crit is not None else None)
        rows.append((
            m["workload"], m["family"] or "-",
            _num(est.b_crit) if est else "-",
            _bracket((s or {}).get("b_l"), "b_l") if s else "-",
            _bracket((s or {}).get("b_h"), "b_h") if s else "-",
            (f"{crit.fit.b_crit:,.0f} [{critical.bound(crit.b_crit_interval[0])}, "
             f"{critical.bound(crit.b_crit_interval[1])}]") if crit else "-",
            "-" if ratio is None else f"{ratio:.2f}",
            (f"{c.get('trials', 0)} / {_epochs(c.get('trial_epochs', 0))} / "
             f"{c.get('cpu_s', 0) / 3600:.2f}") if c else "-",
            (s or {}).get("stopped", "-")))
    text = ("### Workloads\n\nB_crit forecast: mean tr(Sigma) / mean |G|^2 "
            "over the last third of the B0 = 256 noise run "
            "(limitbatch_tf/forecast/predict.py). B_L, B_H: find_limit's "
            f"brackets ({100 * CONFIDENCE:g}% one-sided tests against 99.5% of "
            "the baseline's A, analysis/stats.py). Measured B_crit: the "
            "McCandlish fit S = S_min (1 + B_crit / B) of steps to 99.5% of "
            "the baseline's validation accuracy over the search store's runs, "
            f"with its {100 * CONFIDENCE:g}% bootstrap interval. Compute: "
            "trials / trial-epochs / CPU-hours find_limit spent.\n\n"
            + markdown.table(("workload", "family", "B_crit forecast", "B_L in",
                         "B_H in", "B_crit measured", "forecast / measured",
                         "compute", "stopped"), rows))
    missing = [f"{m['workload']}: {m[k]}" for m in measured
               for k in ("forecast_error", "search_error", "critical_error")
               if m.get(k)]
    if missing:
        text += "\nNot available:\n" + "".join(f"- {x}\n" for x in missing)
    layers = [(m["workload"], m["forecast"].layers if m["forecast"] else {})
              for m in measured]
    if any(ls for _, ls in layers):
        text += ("\nPer-layer B_crit forecasts (the same rule on each "
                 "variable's |G|^2 and tr(Sigma), --telemetry="
                 "noise_scale_layers):\n\n")
        for name, ls in layers:
            if ls:
                text += f"- {name}: " + ", ".join(
                    f"{k.split('/', 1)[-1]} {_num(v)}" for k, v in ls.items()) + "\n"
    return text


def calibration_section(rows, loo):
    factor_rows = []
    for family, bounds in sorted(predict.factors(rows).items()):
        for bound in ("b_l", "b_h"):
            f = bounds.get(bound)
            if f is not None:
                factor_rows.append((
                    family, "B_L" if bound == "b_l" else "B_H",
                    f"{f.geometric_mean:.3g}",
                    "-" if f.log_sd is None else f"{f.log_sd:.3f}", f.n,
                    ", ".join(f"{w} {r:.3g}" for w, r in
                              zip(f.workloads, f.ratios))))
    table = []
    for row in rows:
        cells = [row["workload"]]
        for bound in ("b_l", "b_h"):
            interval = loo.get((row["workload"], bound))
            bracket = row.get(bound + "_bracket")
            measured = ("-" if not bracket else _bracket_text(bracket, bound)
                        + ("" if row[bound] is None
                           else f" (point {_num(row[bound])})"))
            if interval is None:
                cells += ["n.a. (no other workload of its family)", measured]
                continue
            lo, hi = interval
            if lo == hi:
                cells += [f"{_size(lo)} (one other row: a point, no interval)",
                          measured]
                continue
            meets = consistent(interval, bracket, bound)
            cells += [f"[{_size(lo)}, {_size(hi)}]", measured + (
                "" if meets is None else
                f": {'meets it' if meets else 'outside'}")]
        table.append(tuple(cells))
    return ("### Calibration\n\nFactors B_L / B_crit_forecast and B_H / "
            "B_crit_forecast per optimizer family (geometric mean, standard "
            "deviation of the logs, rows), as tools/forecast.py prints them "
            "from calibration.json:\n\n"
            + (markdown.table(("family", "bound", "factor", "log-sd", "n", "rows"),
                         factor_rows) if factor_rows else "no rows yet\n")
            + "\nLeave one out: each workload's interval from the *other* "
            f"workloads of its family ({100 * CONFIDENCE:g}% log-normal "
            "prediction interval, Student's t with n - 1 degrees of freedom; "
            "one other row gives a point), against find_limit's bracket: "
            "'meets it' when they overlap. A bracket's point is what the "
            "factors above use: the size the definitions name for a decided "
            "bracket (B_L its hi, B_H its lo), the geometric middle of the "
            "sizes left by an undecided band, none for an open or too wide "
            "bracket (report.py `point`):\n\n"
            + (markdown.table(("workload", "B_L forecast", "B_L measured",
                          "B_H forecast", "B_H measured"), table)
               if table else "no rows yet\n"))


def map_reading(exhaustive_results):
    """The issue-9/17 LeNet-5 map's paper-style reading, from
    experiments/fashion_mnist/report.py (the one home of its stores and
    reading); None when that study's stores are absent."""
    path = os.path.join(HERE, "..", "fashion_mnist", "report.py")
    spec = importlib.util.spec_from_file_location("fashion_mnist_report", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.map_reading(exhaustive_results)


def lenet_brackets(measured):
    """find_limit's LeNet-5 brackets as the map reads them: B_L from the
    baseline recipe's search (lenet5_momentum: Definition 2.1 is about
    that recipe), B_H over both LeNet-5 searches (Definition 2.2: any
    technique): the largest passing lo, closed by that search's hi."""
    searches = {m["workload"]: m["summary"] for m in measured
                if m["workload"].startswith("lenet5") and m["summary"]}
    b_l = (searches.get("lenet5_momentum") or {}).get("b_l")
    highs = [s["b_h"] for s in searches.values()
             if s.get("b_h") and s["b_h"]["lo"] is not None]
    b_h = None
    if highs:
        lo = max(b["lo"] for b in highs)
        his = [b["hi"] for b in highs if b["lo"] == lo]
        b_h = dict(lo=lo, hi=None if None in his else max(his))
    return b_l, b_h


def _recovered(found, wanted, kind):
    if not found:
        return f"{kind}: not measured yet"
    same = (found["lo"], found["hi"]) == (wanted["lo"], wanted["hi"])
    # A wider bracket that holds the map's (an undecided band, or open
    # where the budget ran out) agrees with it without recovering it.
    holds = ((found["lo"] is None or found["lo"] <= wanted["lo"])
             and (found["hi"] is None or (wanted["hi"] is not None
                                          and wanted["hi"] <= found["hi"])))
    return (f"{kind} {_bracket(found, kind.lower())} vs the "
            f"map's {_bracket(wanted, kind.lower())}: "
            + ("recovered" if same else
               "not recovered, but holds the map's" if holds
               else "not recovered"))


def goals_section(measured, loo, exhaustive, reading=None):
    lines = ["### Issue 19's goals\n"]
    if reading is None:
        lines.append("- Brackets: the issue-9/17 map's stores are absent, "
                     "nothing to compare with.")
    else:
        b_l, b_h = lenet_brackets(measured)
        lines.append(
            "- find_limit's LeNet-5 brackets vs the issue-9/17 map's "
            "(paper-style reading, experiments/fashion_mnist/REPORT.md; B_L "
            "from lenet5_momentum, B_H the best of the two LeNet-5 searches): "
            + _recovered(b_l, reading.b_l_bracket, "B_L") + "; "
            + _recovered(b_h, reading.b_h_bracket, "B_H") + ". Each search "
            "judges against its own baseline's bar (99.5% of A at B0 with "
            "its own recipe): "
            + ", ".join(f"{m['workload']} {100 * m['bar']:.2f}%"
                        for m in measured if m["workload"].startswith("lenet5")
                        and m.get("bar") is not None)
            + f"; the map's {100 * reading.target.mean:.2f}% (the momentum "
            "baseline's).")
    lenet = [m for m in measured if m["workload"].startswith("lenet5")
             and m["summary"]]
    if exhaustive and lenet:
        for m in lenet:
            spent = m["summary"]["compute"]["trial_epochs"]
            share = spent / exhaustive
            lines.append(
                f"- {m['workload']}: find_limit spent {spent:,.0f} "
                f"trial-epochs = {100 * share:.0f}% of the issue-9 map's "
                f"{exhaustive:,.0f} (goal <= {100 * SHARE_GOAL:.0f}%: "
                f"{'met' if share <= SHARE_GOAL else 'not met'}).")
        if len(lenet) > 1:  # B_H is read from both searches
            spent = sum(m["summary"]["compute"]["trial_epochs"] for m in lenet)
            share = spent / exhaustive
            lines.append(
                f"- Both LeNet-5 searches (B_H is read from both): {spent:,.0f} "
                f"trial-epochs = {100 * share:.0f}% of the map's (goal <= "
                f"{100 * SHARE_GOAL:.0f}%: "
                f"{'met' if share <= SHARE_GOAL else 'not met'}).")
    else:
        lines.append("- Compute share: waits for a LeNet-5 search and the "
                     "issue-9 map's stores.")
    pairs = [(m["workload"], m["forecast"].b_crit / m["critical"].fit.b_crit)
             for m in measured if m["forecast"] and m["critical"]]
    within = [w for w, r in pairs if 1 / FACTOR_GOAL <= r <= FACTOR_GOAL]
    lines.append(
        f"- Forecast within {FACTOR_GOAL:g}x of the measured B_crit: "
        f"{len(within)} of {len(pairs)} workloads with both numbers"
        + (f" ({', '.join(within)})" if within else "")
        + f" (goal: at least 3 of {len(REAL)}).")
    checks = []
    for m in measured:
        interval = loo.get((m["workload"], "b_h"))
        if not interval:
            continue
        meets = consistent(interval, _ends((m["summary"] or {}).get("b_h")),
                           "b_h")
        checks.append(f"{m['workload']} " + (
            "n.a. (a point from one other row)" if interval[0] == interval[1]
            else "not measured yet" if meets is None
            else "yes" if meets else "no"))
    lines.append("- B_H interval (leave one out) meets the measured B_H "
                 "bracket: "
                 + (", ".join(checks) if checks
                    else "no workload has another of its family yet") + ".")
    return "\n".join(lines) + "\n"



def synthetic_section(results):
    path = os.path.join(results, "synthetic", "results.json")
    try:
        with open(path) as f:
            data = json.load(f)
    except (OSError, ValueError):
        return "### Synthetic workload\n\nnot run yet\n"
    got, want = data["forecast_b_crit"], data["closed_form_b_crit_window"]
    cfg = data["config"]
    return ("### Synthetic workload\n\nLeast squares, d = "
            f"{cfg['dim']}, noise sigma = {cfg['sigma']:g}, batch "
            f"{cfg['batch']} (micro-batch {cfg['micro_batch']}), "
            f"{cfg['steps']} steps of SGD at LR {cfg['learning_rate']:g} "
            "(forecast/linear.py). The forecast's rule on the estimator's "
            f"trajectory: B_crit {got:,.0f}; the closed form B_simple = d + 1 "
            "+ d sigma^2 / |w - w*|^2 averaged the same way over the same "
            f"window: {want:,.0f} (ratio {got / want:.3f}; the test "
            "tests/forecast/test_linear.py holds it within 10%).\n")


def provenance_section(results):
    runs = []
    for path in sorted(glob.glob(os.path.join(results, "**", "results.json"),
                                 recursive=True)):
        with open(path) as f:
            runs.append(json.load(f))
    real = [r for r in runs if r.get("machine")]
    if not real:
        return ""
    hours = sum(r.get("wall_time_s", 0.0) for r in real) / 3600
    machine, versions = real[0]["machine"], real[0].get("versions", {})
    return ("### Provenance\n\n"
            f"{len(real)} training runs, {hours:.1f} hours of training wall "
            f"time, on {machine.get('cpu_count')} CPU cores "
            f"({machine.get('platform')}), versions {versions}. Commands: "
            "`bash experiments/forecast/run.sh` (each workload's noise run, "
            "tools/forecast.py, tools/find_limit.py; their command lines are "
            "in each trial's results.json and the stores' find_limit.json), "
            "then `python experiments/forecast/report.py`.\n")


def figure(measured, rows, loo, figures):
    points = []
    for m in measured:
        if m["forecast"] is None:
            continue
        b_h = ((m["summary"] or {}).get("b_h") or {})
        points.append(dict(
            workload=m["workload"], forecast=m["forecast"].b_crit,
            measured=None if m["critical"] is None else m["critical"].fit.b_crit,
            measured_interval=(None if m["critical"] is None
                               else m["critical"].b_crit_interval),
            b_h_interval=loo.get((m["workload"], "b_h")),
            b_h_bracket=(b_h.get("lo"), b_h.get("hi"))))
    if not points:
        return ""
    os.makedirs(figures, exist_ok=True)
    plots.calibration(points, os.path.join(figures, "calibration.png"),
                      factor=FACTOR_GOAL)
    return "\n![forecast vs measured](figures/calibration.png)\n"


def generate(results, figures, exhaustive_results):
    measured = [measure(os.path.join(results, w), w) for w in REAL
                if os.path.isdir(os.path.join(results, w))]
    rows = calibration_rows(measured, os.path.relpath(
        results, os.path.dirname(os.path.dirname(HERE))))
    loo = leave_one_out(rows)
    exhaustive = exhaustive_trial_epochs(exhaustive_results)
    body = "\n".join([
        workloads_section(measured) if measured
        else "### Workloads\n\nnot run yet\n",
        calibration_section(rows, loo),
        goals_section(measured, loo, exhaustive,
                      map_reading(exhaustive_results)),
        synthetic_section(results),
        provenance_section(results)])
    return body + figure(measured, rows, loo, figures), rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", default=os.path.join(HERE, "results"))
    parser.add_argument("--report", default=os.path.join(HERE, "REPORT.md"))
    parser.add_argument("--calibration",
                        default=os.path.join(HERE, "calibration.json"))
    parser.add_argument("--exhaustive", default=os.path.join(
        HERE, "..", "fashion_mnist", "results"),
        help="The issue-9 map's results (its baseline and regime stores).")
    args = parser.parse_args(argv)
    figures = os.path.join(os.path.dirname(args.report), "figures")
    body, rows = generate(args.results, figures, args.exhaustive)
    try:
        markdown.replace_generated(args.report, body,
                                   "Forecast calibration study (issue 19)")
    except markdown.MarkersError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    try:
        with open(args.calibration) as f:
            table = json.load(f)
    except (OSError, ValueError):
        table = {}
    table["rows"] = rows
    with open(args.calibration, "w") as f:
        json.dump(table, f, indent=2)
        f.write("\n")
    print(f"wrote {args.report} and {args.calibration} ({len(rows)} rows)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
