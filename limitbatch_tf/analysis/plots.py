"""The paper's figures from a results store (matplotlib, Agg; PNG or PDF by
the output file's extension).

| function | figure of You et al. (2020) |
| --- | --- |
| accuracy_vs_batch | accuracy vs batch size with large/huge/full shading (Table 2, Fig. 21) |
| ladder | the optimization ladder at one batch size (Figure 1) |
| heatmap | a metric over two hyperparameters, e.g. LR x warmup (Figures 2, 7, 15) |
| train_longer | accuracy vs epochs for several batch sizes (Figures 8, 18, 19) |
| curves | loss and test error vs epochs (Figures 3-5) |
| weight_distance | ||w_t - w_0|| vs iterations, log-log (Figures 11-12) |
| trust_ratios | per-layer LARS trust ratios over time (appendix 6.3) |
| noise_scale | gradient noise scale B_simple vs the measured B_L / B_H |
"""
from __future__ import annotations

import math

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from limitbatch_tf.analysis import regimes  # noqa: E402
from limitbatch_tf.experiments.heatmap import draw as draw_heatmap  # noqa: E402


class PlotError(ValueError):
    """The store has no data for the requested figure."""


def _save(fig, path):
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def _label(t):
    return t.rung or (t.optimizer + ("+layerwise" if t.layerwise else ""))


def accuracy_vs_batch(trials, path, report=None):
    """Best accuracy per (batch, recipe) with the regimes shaded."""
    report = report or regimes.classify(trials)
    fig, ax = plt.subplots(figsize=(7, 4.5))
    by_label = {}
    for t in trials:
        acc = t.metrics_within(report.baseline.epochs)[0]
        if acc is not None:
            key = (_label(t), t.batch_size)
            by_label[key] = max(by_label.get(key, 0.0), acc)
    for name in sorted({k[0] for k in by_label}):
        points = sorted((b, a) for (n, b), a in by_label.items() if n == name)
        ax.plot([p[0] for p in points], [p[1] for p in points], "o-", label=name)
    ax.axhline(report.target_accuracy, color="k", ls="--", lw=1,
               label="99.5% of baseline")
    sizes = [r.batch_size for r in report.rows]
    lo, hi = min(sizes) / 1.5, report.b_f * 1.5
    if report.b_l is not None:
        ax.axvspan(report.b_l, report.b_h or report.b_l, color="tab:green",
                   alpha=0.12, label="large batch")
    if report.b_h is not None:
        ax.axvspan(report.b_h, report.b_f, color="tab:red", alpha=0.12,
                   label="huge batch")
    ax.axvline(report.b_f, color="tab:red", lw=2, label="full batch")
    ax.set(xscale="log", xlim=(lo, hi), xlabel="global batch size",
           ylabel=f"test accuracy within {report.baseline.epochs:.4g} epochs")
    ax.legend(fontsize=8)
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


def train_longer(trials, path):
    """Accuracy vs epochs for each batch size (the run with most epochs)."""
    fig, ax = plt.subplots(figsize=(7, 4.5))
    longest = {}
    for t in trials:
        if t.batch_size not in longest or t.epochs > longest[t.batch_size].epochs:
            longest[t.batch_size] = t
    for b, t in sorted(longest.items()):
        rows = [h for h in t.history if h.get("eval_accuracy") is not None]
        ax.plot([h["epoch"] for h in rows], [h["eval_accuracy"] for h in rows],
                label=f"B={b}")
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


def noise_scale(trials, path, report=None):
    """Measured B_simple per run against the regime boundaries."""
    report = report or regimes.classify(trials)
    fig, ax = plt.subplots(figsize=(7, 4))
    points = [(t.batch_size, t.telemetry["noise_scale"]["b_simple"])
              for t in trials if t.telemetry.get("noise_scale")]
    ax.plot([p[0] for p in points], [p[1] for p in points], "o",
            label="B_simple measured in the run")
    for value, name, color in ((report.b_l, "B_L", "tab:green"),
                               (report.b_h, "B_H", "tab:red")):
        if value is not None:
            ax.axhline(value, color=color, ls="--", label=f"measured {name}")
    ax.set(xscale="log", yscale="log", xlabel="batch size of the run",
           ylabel="batch size")
    ax.legend(fontsize=8)
    return _save(fig, path)


KINDS = {"accuracy_vs_batch": accuracy_vs_batch, "ladder": ladder,
         "heatmap": heatmap, "train_longer": train_longer, "curves": curves,
         "weight_distance": weight_distance, "trust_ratios": trust_ratios,
         "noise_scale": noise_scale}
