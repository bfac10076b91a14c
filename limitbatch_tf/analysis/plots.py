"""The paper's figures from a results store (matplotlib, Agg; PNG or PDF by
the output file's extension).

| function | figure of You et al. (2020) |
| --- | --- |
| accuracy_vs_batch | accuracy vs batch size, zoomed to the target band, per-seed points, the bar +- its standard error, failed runs marked (Table 2, Fig. 21) |
| ladder | the optimization ladder at one batch size (Figure 1) |
| heatmap | a metric over two hyperparameters, e.g. LR x warmup (Figures 2, 7, 15) |
| train_longer | accuracy vs epochs for several batch sizes, with the target (Figures 8, 18, 19) |
| curves | loss and test error vs epochs (Figures 3-5) |
| weight_distance | ||w_t - w_0|| vs iterations, log-log (Figures 11-12) |
| trust_ratios | per-layer LARS trust ratios over time (appendix 6.3) |
| noise_scale | gradient noise scale B_simple vs epoch (history records) against B_L / B_H |
| steps_to_target | steps to target vs batch size with the fitted critical batch (Shallue et al. 2019; McCandlish et al. 2018) |
| train_loss | final training loss vs batch size, per seed |
| calibration | forecast vs measured critical batch, and B_H intervals vs measured brackets (the forecast's calibration study, issue 19) |
"""
from __future__ import annotations

import math

import matplotlib
import matplotlib.ticker

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from limitbatch_tf.analysis import critical, regimes  # noqa: E402
from limitbatch_tf.analysis.heatmap import draw as draw_heatmap  # noqa: E402


class PlotError(ValueError):
    """The store has no data for the requested figure."""


def _save(fig, path):
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def _label(t):
    return t.rung or (t.optimizer + ("+layerwise" if t.layerwise else ""))


def _picks_by_label(trials, epochs):
    """{label: {batch: Cell or None}}: per recipe label and batch size, the
    validation pick among its cells (None: every cell failed)."""
    by_label = {}
    for t in trials:
        by_label.setdefault(_label(t), []).append(t)
    out = {}
    for name, ts in by_label.items():
        cells = regimes.cells(ts, epochs)
        out[name] = {b: regimes.pick([c for c in cells if c.batch_size == b])[0]
                     for b in sorted({c.batch_size for c in cells})}
    return out


def accuracy_vs_batch(trials, path, report=None):
    """Test accuracy per batch size of each recipe's validation pick, zoomed
    to the target band.

    Lines join the picks' seed means (bars), dots are the seeds; the bar (99.5% of
    A, or the report's) is a dashed line with its standard error as a band;
    a batch size where every run of a recipe diverged or stopped unstable is
    an x on the bottom edge, and a pick below the zoomed range a triangle
    there (nothing is dropped). Shading: B_L's and B_H's brackets (grey:
    undecided between lo and hi), large batch (green), huge (red).
    """
    report = report or regimes.classify(trials)
    bar, se = report.target.mean, report.target.stderr
    picks = _picks_by_label(trials, report.baseline.epochs)
    means = [c.mean for ps in picks.values() for c in ps.values() if c]
    top = max(means + [bar]) + 0.005
    bottom = bar - max(0.03, 8 * se)
    fig, ax = plt.subplots(figsize=(10, 5))
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for i, name in enumerate(sorted(picks)):
        color = colors[i % len(colors)]
        ok = [(b, c) for b, c in picks[name].items() if c is not None]
        ax.plot([b for b, _ in ok], [max(c.mean, bottom) for _, c in ok], "-",
                marker="_", ms=14, mew=2, color=color, label=name)
        for b, c in ok:
            seeds = [a for a in c.test]
            ax.plot([b] * len(seeds), [max(a, bottom) for a in seeds], ".",
                    color=color, ms=6, alpha=0.8)
            if c.mean < bottom:
                ax.plot([b], [bottom], "v", color=color, ms=9)
                ax.annotate(f"{100 * c.mean:.1f}%", (b, bottom), fontsize=7,
                            xytext=(3, 5 + 8 * i), textcoords="offset points",
                            color=color)
        failed = [b for b, c in picks[name].items() if c is None]
        ax.plot(failed, [bottom] * len(failed), "x", color=color, ms=10,
                mew=2)
    ax.plot([], [], "kx", mew=2, label="every run diverged / unstable")
    ax.plot([], [], "kv", label="below the axis (value annotated)")
    ax.axhline(bar, color="k", ls="--", lw=1, label=f"bar: {report.target.name}")
    ax.axhspan(bar - se, bar + se, color="k", alpha=0.12,
               label="bar +- its standard error")
    sizes = [r.batch_size for r in report.rows]
    lo, hi = min(sizes) / 1.5, report.b_f * 1.5
    bl, bh = report.b_l_bracket, report.b_h_bracket
    if bl["hi"] is not None:
        ax.axvspan(bl["lo"] or lo, bl["hi"], color="tab:grey", alpha=0.15,
                   hatch="//", label="B_L bracket (lo, hi]")
    if bh["lo"] is not None:
        ax.axvspan(bh["lo"], bh["hi"] or report.b_f, color="tab:grey",
                   alpha=0.15, hatch="\\\\", label="B_H bracket [lo, hi)")
        ax.axvspan(bh["hi"] or report.b_f, report.b_f, color="tab:red",
                   alpha=0.10, label="huge batch")
    if bl["hi"] is not None:
        ax.axvspan(bl["hi"], bh["lo"] if bh["lo"] and bh["lo"] > bl["hi"]
                   else bl["hi"], color="tab:green", alpha=0.10,
                   label="large batch")
    ax.axvline(report.b_f, color="tab:red", lw=2, label="full batch")
    ax.set(xscale="log", xlim=(lo, hi), ylim=(bottom - 0.004, top),
           xlabel="global batch size",
           ylabel=f"test accuracy within {report.baseline.epochs:.4g} epochs",
           title=f"{report.name}: {report.reading} reading"
           + ("" if report.reading == "literal"
              else f", {100 * report.confidence:g}% one-sided"))
    ax.yaxis.set_major_formatter(matplotlib.ticker.PercentFormatter(1.0))
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1))
    return _save(fig, path)


def ladder(trials, path, batch_size=None):
    """Accuracy per rung (the --tag of each run) at one batch size."""
    batch_size = batch_size or max(t.batch_size for t in trials)
    best = {}
    for t in trials:
        if t.batch_size == batch_size:
            best[_label(t)] = max(best.get(_label(t), 0.0), t.accuracy or 0.0)
    fig, ax = plt.subplots(figsize=(7, 4))
    names = list(best)
    ax.bar(names, [100 * best[n] for n in names], color="tab:blue")
    for i, n in enumerate(names):
        ax.text(i, 100 * best[n], f"{100 * best[n]:.2f}%", ha="center", va="bottom")
    ax.set(ylabel="top-1 accuracy (%)", title=f"batch size {batch_size}")
    return _save(fig, path)


def heatmap(trials, path, x="learning_rate", y="warmup_epochs",
            metric="accuracy"):
    """A metric over two config keys (best over seeds); diverged cells hatched.

    Builds the cells from a store and draws them with the grid tool's
    heatmap, so a sweep and a grid look the same.
    """
    cells = {}
    for t in trials:
        if t.config.get(x) is None or t.config.get(y) is None:
            continue  # not a cell of this grid
        key = (str(t.config[y]), str(t.config[x]))
        value = getattr(t, metric)
        old = cells.get(key)
        if old is None or (value is not None and (old[1] is None or value > old[1])):
            cells[key] = (t.status, value, t.diverged_step)
    if not cells:
        raise PlotError(f"no run in the store sets both {x} and {y}")
    order = lambda values: sorted(values, key=float)  # noqa: E731
    rows = order({k[0] for k in cells})
    cols = order({k[1] for k in cells})
    draw_heatmap(path, (y, rows), (x, cols), cells, metric)
    return path


def train_longer(trials, path, target=None):
    """Test accuracy vs epochs of every run (one line per batch size and
    seed), with the target (a stats.Target or a number) and its standard
    error when given."""
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for t in sorted(trials, key=lambda t: (t.batch_size, t.seed)):
        rows = [h for h in t.history if h.get("eval_accuracy") is not None]
        label = f"B={t.batch_size} seed {t.seed}" + (
            f" ({t.status})" if t.status != "completed" else "")
        ax.plot([h["epoch"] for h in rows], [h["eval_accuracy"] for h in rows],
                "o-", ms=3, label=label)
    if target is not None:
        bar = getattr(target, "mean", target)
        se = getattr(target, "stderr", 0.0)
        ax.axhline(bar, color="k", ls="--", lw=1,
                   label=getattr(target, "name", "target"))
        if se:
            ax.axhspan(bar - se, bar + se, color="k", alpha=0.12,
                       label="+- its standard error")
    ax.set(xscale="log", xlabel="epochs", ylabel="test accuracy")
    ax.legend(fontsize=8)
    return _save(fig, path)


def curves(trials, path):
    """Training loss, test loss and test error vs epochs for each run."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    for t in trials:
        rows = t.history
        epochs = [h["epoch"] for h in rows]
        name = f"B={t.batch_size} {_label(t)}"
        left.plot(epochs, [h.get("train_loss") for h in rows], label=f"{name} train")
        left.plot(epochs, [h.get("eval_loss") for h in rows], "--", label=f"{name} test")
        right.plot(epochs, [1 - h["eval_accuracy"] for h in rows], label=name)
    left.set(xlabel="epochs", ylabel="loss")
    right.set(xlabel="epochs", ylabel="test error")
    left.legend(fontsize=7)
    right.legend(fontsize=7)
    return _save(fig, path)


def weight_distance(trials, path):
    """||w_t - w_0|| vs iterations on log-log axes (global, per run)."""
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for t in trials:
        rows = t.telemetry.get("weight_distance", [])
        if rows:
            ax.plot([r["step"] for r in rows], [r["global"] for r in rows],
                    "o-", label=f"B={t.batch_size} {_label(t)}")
    ax.set(xscale="log", yscale="log", xlabel="iterations",
           ylabel="||w_t - w_0||")
    ax.legend(fontsize=8)
    return _save(fig, path)


def trust_ratios(trials, path):
    """Per-layer trust ratios over steps of the first run that logged them."""
    fig, ax = plt.subplots(figsize=(7, 4.5))
    run = next((t for t in trials if t.telemetry.get("trust_ratios")), None)
    if run is None:
        raise PlotError("no run logged trust ratios (--telemetry=trust_ratios)")
    rows = run.telemetry["trust_ratios"]
    for layer in rows[0]["per_layer"]:
        ax.plot([r["step"] for r in rows], [r["per_layer"][layer] for r in rows],
                label=layer)
    ax.set(yscale="log", xlabel="step", ylabel="trust ratio",
           title=f"B={run.batch_size} {_label(run)}")
    ax.legend(fontsize=7)
    return _save(fig, path)


NOISE_FIELD = "noise_scale_b_simple"   # results.json history (train/probes.py)


def noise_scale(trials, path, report=None):
    """B_simple vs epoch of every run that recorded the trajectory (the
    history records' ``noise_scale_b_simple``), against B_L's and B_H's
    brackets when a report is given. A run that kept only the end value
    (telemetry.noise_scale.b_simple, before the trajectory was stored) is
    one point at its last epoch."""
    fig, ax = plt.subplots(figsize=(7, 4.5))
    drawn = 0
    for t in sorted(trials, key=lambda t: (t.batch_size, t.seed)):
        rows = [h for h in t.history if h.get(NOISE_FIELD) is not None]
        name = f"B={t.batch_size} {_label(t)} seed {t.seed}"
        if rows:
            ax.plot([h["epoch"] for h in rows], [h[NOISE_FIELD] for h in rows],
                    "-", label=name)
            drawn += 1
        elif t.telemetry.get("noise_scale"):
            ax.plot([t.epochs], [t.telemetry["noise_scale"]["b_simple"]], "o",
                    label=f"{name}: end value only")
            drawn += 1
    if not drawn:
        raise PlotError("no run recorded the noise scale "
                        "(--telemetry=noise_scale)")
    if report is not None:
        for br, name, color in ((report.b_l_bracket, "B_L", "tab:green"),
                                (report.b_h_bracket, "B_H", "tab:red")):
            lo, hi = br["lo"], br["hi"]
            if lo is not None and hi is not None:
                ax.axhspan(lo, hi, color=color, alpha=0.12,
                           label=f"{name} bracket [{lo}, {hi}]")
            elif lo or hi:
                ax.axhline(lo or hi, color=color, ls="--", label=name)
    ax.set(yscale="log", xlabel="epoch", ylabel="B_simple (examples)")
    ax.set_xlim(left=0)
    ax.legend(fontsize=7)
    return _save(fig, path)


def steps_to_target(trials, path, result=None, target=None):
    """Steps to target vs batch size, log-log (Shallue et al. 2019, Fig. 1),
    every seed a dot, with the fit S = S_min (1 + B_crit / B) (McCandlish
    et al. 2018), B_crit and its bootstrap interval. ``result``: a
    critical.CriticalBatch (computed from ``trials`` and ``target`` or the
    baseline's 99.5% when absent)."""
    if result is None:
        try:
            if target is None:
                metric = ("validation_accuracy" if critical.has_validation(trials)
                          else "eval_accuracy")
                target = critical.baseline_target(trials, metric=metric)
            result = critical.critical_batch(trials, target)
        except critical.CriticalError as e:
            raise PlotError(str(e)) from None
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for p in result.points:
        ax.plot([p.batch_size] * len(p.steps), p.steps, ".", color="tab:blue",
                alpha=0.6)
    ax.plot([p.batch_size for p in result.points],
            [p.mean for p in result.points], "o", color="tab:blue",
            label=f"steps to {result.metric} >= {result.target:.4f}")
    sizes = [p.batch_size for p in result.points]
    grid = [min(sizes) / 2 * 1.25 ** i for i in range(60)
            if min(sizes) / 2 * 1.25 ** i <= max(sizes) * 2]
    f = result.fit
    ax.plot(grid, f.steps(grid), "-", color="tab:orange",
            label=f"S_min (1 + B_crit/B): S_min={f.s_min:.0f}, "
            f"B_crit={f.b_crit:.0f}")
    ax.axhline(f.s_min, color="tab:orange", ls=":", lw=1)
    ax.axvline(f.b_crit, color="tab:red", ls="--", lw=1, label="B_crit")
    lo, hi = result.b_crit_interval
    if math.isfinite(lo):  # an unbounded interval is shaded to the right edge
        ax.axvspan(lo, hi if math.isfinite(hi) else max(grid), color="tab:red",
                   alpha=0.1, label=f"{100 * result.confidence:g}% bootstrap "
                   f"[{critical.bound(lo)}, {critical.bound(hi)}]")
    ax.set(xscale="log", yscale="log", xlabel="global batch size",
           ylabel="steps to target")
    ax.legend(fontsize=8)
    return _save(fig, path)


def train_loss(trials, path, report=None):
    """Final training loss (history's train_loss within rho epochs) of each
    recipe's validation pick per batch size, every seed a dot."""
    report = report or regimes.classify(trials)
    epochs = report.baseline.epochs
    fig, ax = plt.subplots(figsize=(7, 4.5))
    drawn = 0
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for i, (name, picks) in enumerate(sorted(
            _picks_by_label(trials, epochs).items())):
        color = colors[i % len(colors)]
        xs, ys = [], []
        for b, c in picks.items():
            if c is None:
                continue
            losses = [_train_loss_at(t, epochs) for t in c.trials]
            losses = [x for x in losses if x is not None]
            if not losses:
                continue
            ax.plot([b] * len(losses), losses, ".", color=color, alpha=0.6)
            xs.append(b)
            ys.append(sum(losses) / len(losses))
        if xs:
            ax.plot(xs, ys, "o-", color=color, label=name)
            drawn += 1
    if not drawn:
        raise PlotError("no run recorded train_loss in its history")
    base = [_train_loss_at(t, epochs) for t in report.baseline.cell.trials]
    base = [x for x in base if x is not None]
    if base:
        ax.axhline(sum(base) / len(base), color="k", ls="--", lw=1,
                   label="baseline's final training loss")
    ax.set(xscale="log", yscale="log", xlabel="global batch size",
           ylabel=f"training loss at {epochs:.4g} epochs")
    ax.legend(fontsize=8)
    return _save(fig, path)


def _train_loss_at(trial, epochs):
    """The last train_loss logged within ``epochs`` (+ one step)."""
    if trial.status in ("diverged", "unstable"):
        return None
    slack = trial.batch_size / max(trial.num_train, 1)
    rows = [h for h in trial.history if h.get("train_loss") is not None
            and h["epoch"] <= (epochs + slack) * (1 + 1e-9)]
    return rows[-1]["train_loss"] if rows else None


KINDS = {"accuracy_vs_batch": accuracy_vs_batch, "ladder": ladder,
         "heatmap": heatmap, "train_longer": train_longer, "curves": curves,
         "weight_distance": weight_distance, "trust_ratios": trust_ratios,
         "noise_scale": noise_scale, "steps_to_target": steps_to_target,
         "train_loss": train_loss}


def calibration(points, path, factor=2.0):
    """The forecast's calibration study (experiments/forecast/report.py).

    Left: forecast B_crit vs the measured one (the McCandlish fit, with its
    bootstrap interval), log-log, against y = x and a ``factor`` band.
    Right: per workload, the B_H interval forecast from the other
    workloads (a bar) and the measured B_H bracket [lo, hi) (dots).
    ``points``: dicts with workload, forecast, measured,
    measured_interval, b_h_interval, b_h_bracket (None where missing).
    """
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.5))
    both = [p for p in points if p["measured"] is not None]
    for p in both:
        lo, hi = p["measured_interval"]
        err = ([[max(p["measured"] - lo, 0)], [max(hi - p["measured"], 0)]]
               if math.isfinite(lo) and math.isfinite(hi) else None)
        left.errorbar([p["forecast"]], [p["measured"]], yerr=err, fmt="o",
                      capsize=3, label=p["workload"])
    values = [v for p in both for v in (p["forecast"], p["measured"])]
    if values:
        span = [min(values) / 3, max(values) * 3]
        left.plot(span, span, "k-", lw=1, label="forecast = measured")
        left.fill_between(span, [v / factor for v in span],
                          [v * factor for v in span], color="0.5", alpha=0.15,
                          label=f"within {factor:g}x")
        left.legend(fontsize=7)
    else:
        left.text(0.5, 0.5, "no measured B_crit yet", ha="center",
                  transform=left.transAxes)
    left.set(xscale="log", yscale="log", xlabel="B_crit forecast",
             ylabel="B_crit measured (steps-to-target fit)")
    names = [p["workload"] for p in points]
    for y, p in enumerate(points):
        if p["b_h_interval"] is not None:
            lo, hi = p["b_h_interval"]
            right.plot([lo, hi], [y, y], "-", lw=6, alpha=0.35,
                       color="tab:blue", label="forecast interval" if y == 0
                       else None)
        right.plot([p["forecast"]], [y], "d", color="tab:green",
                   label="B_crit forecast" if y == 0 else None)
        for x, mark in zip(p["b_h_bracket"], ("o", "x")):
            if x is not None:
                right.plot([x], [y], mark, color="tab:red")
    right.plot([], [], "o", color="tab:red", label="measured B_H (passes)")
    right.plot([], [], "x", color="tab:red", label="first failure above")
    right.set(xscale="log", xlabel="batch size", yticks=range(len(names)),
              yticklabels=names)
    right.legend(fontsize=7)
    return _save(fig, path)
