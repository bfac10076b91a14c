"""Regenerates the tables and figures of experiments/fashion_mnist/REPORT.md.

    python experiments/fashion_mnist/report.py [--results DIR] [--report FILE]

Reads the sweep stores that experiments/fashion_mnist/run.sh writes under
``results/`` and rewrites the part of REPORT.md between the ``generated``
markers (the hand-written discussion around it stays), plus the figures in
``figures/``. Every number comes from a results.json; a part that has not run
yet says so. Learning rates are chosen per cell by *validation* accuracy (the
last 5,000 training images) and the *test* accuracy of that choice is
reported, so the test set never picks a hyperparameter. The regime boundaries
apply Definitions 2.1-2.3 of You et al. (2020) as tools/regimes.py does
(limitbatch_tf/analysis/regimes.py): every batch size "passes", "fails" or
is "undecided" against the bar with its standard error (one-sided Welch's t
at 90%), B_L and B_H are brackets, and the readings (the paper-style
baseline, a tuned B = 256 baseline, the paper's literal point estimates, and
the bar "error <= 1.625 x the baseline's error") print side by side. The
review stores of issue 17 (``results/review/``) join each section when they
exist; a section whose stores have not run says so.
"""
from __future__ import annotations

import argparse
import dataclasses
import glob
import json
import math
import os
import statistics
import sys

from limitbatch_tf.analysis import (critical, markdown, plots, regime_text,
                                    regimes, stats, store)
from limitbatch_tf.forecast import predict

HERE = os.path.dirname(os.path.abspath(__file__))


# You et al. 2020, Table 3 (MNIST / LeNet, 30 epochs): batch 256, then at 8K
# original / + layer-wise / + layer-wise and bound-ratio.
PAPER_TABLE3 = {
    "SGD (momentum)": ("99.2%", "diverge", "99.2%", "99.2%"),
    "AdaGrad": ("99.2%", "98.3%", "99.3%", "99.3%"),
    "RMSprop": ("99.2%", "98.6%", "diverge", "99.0%"),
    "Adam": ("99.3%", "99.1%", "unstable", "99.4%"),
    "LARS": ("99.3%", "99.4%", "n.a.", "n.a."),
    "LARS, biases in the trust ratio (ours)": ("-", "-", "n.a.", "n.a."),
    "SGD (momentum), biases in the trust ratio (ours)": ("-", "-", "-", "-"),
}
# Our stores for the same cells (run.sh table3()).
TABLE3_STORES = {
    "SGD (momentum)": ("b256_sgd", "sgd", "momentum_layerwise",
                       "momentum_layerwise_bound"),
    "AdaGrad": ("b256_adagrad", "adagrad", "adagrad_layerwise",
                "adagrad_layerwise_bound"),
    "RMSprop": ("b256_rmsprop", "rmsprop", "rmsprop_layerwise",
                "rmsprop_layerwise_bound"),
    "Adam": ("b256_adam", "adam", "adam_layerwise", "adam_layerwise_bound"),
    "LARS": ("b256_lars", "lars", None, None),
    "LARS, biases in the trust ratio (ours)": (None, "lars_all_layers", None,
                                               None),
    "SGD (momentum), biases in the trust ratio (ours)": (
        None, None, "momentum_layerwise_all_layers",
        "momentum_layerwise_bound_all_layers"),
}
REGIME_STORES = (("linear", "momentum, baseline recipe, LR x B/256 (Def. 2.1)"),
                 ("momentum", "momentum + warmup + poly decay, tuned LR"),
                 ("lars", "LARS + warmup + poly decay, tuned LR"),
                 ("lamb", "LAMB + warmup + poly decay, tuned LR"),
                 ("lars_all_layers", "LARS, biases in the trust ratio, tuned LR"),
                 ("lamb_seeds", "LAMB at its 8K pick, seeds 1-2 (B_H check)"))


# Issue 17's review stores (run.sh seeds / tuned_baseline / huge /
# huge_seeds / bounds / longer2), under results/review/.
REVIEW_REGIME = (("lamb_warmup", "LAMB, warmup 5/10/15 epochs, x2 LRs"),
                 ("lars_all_layers_warmup",
                  "LARS (biases in the trust ratio), warmup 5/10/15, x2 LRs"),
                 ("lamb_seeds", "LAMB, 3 seeds of the pick"),
                 ("lars_all_layers_seeds",
                  "LARS (biases in the trust ratio), 3 seeds of the pick"))
# (optimizer, Table 3's unbounded layer-wise store, the engaging-bound one)
TIGHT_BOUNDS = (("Adam", "adam_layerwise", "adam_layerwise_bound_tight"),
                ("RMSprop", "rmsprop_layerwise", "rmsprop_layerwise_bound_tight"))
CONFIDENCE = 0.90


def _load(path):
    """Finished trials under ``path``, [] when the part has not run yet."""
    try:
        return store.load_store(path)
    except store.StoreError:
        return []


def _validation(t):
    rows = [h for h in t.history if h.get("validation_accuracy") is not None]
    return rows[-1]["validation_accuracy"] if rows else None


def pick(trials):
    """The completed trial with the best validation accuracy, else None."""
    done = [t for t in trials if t.status == "completed"
            and t.accuracy is not None and _validation(t) is not None]
    return max(done, key=_validation) if done else None


def cell(trials, folder=None):
    """Table text for one tuned cell: test accuracy of the validation pick.

    ``folder``: the cell's sweep store; the cell is marked partial when it
    has fewer finished runs than its sweep.json's axes ask for per batch
    size (or no sweep.json yet: the sweep writes it when it stops).
    """
    if not trials:
        return "not run yet"
    if len({t.seed for t in trials}) > 1:
        return seeds_cell(trials)
    partial = ""
    sizes = {t.batch_size for t in trials}
    if folder and len(trials) < _expected_runs(
            folder, sizes.pop() if len(sizes) == 1 else None):
        partial = f" [partial: {len(trials)} run(s)]"
    return _cell(trials) + partial


def seeds_cell(trials):
    """Table text for one recipe run with several seeds: every seed's test
    accuracy, no pick (picking the best seed would flatter the recipe)."""
    trials = sorted(trials, key=lambda t: t.seed)
    accs = [f"{100 * t.accuracy:.1f}%" if t.status == "completed"
            and t.accuracy is not None else t.status for t in trials]
    return (f"seeds {', '.join(str(t.seed) for t in trials)}: "
            + ", ".join(accs))


def _expected_runs(folder, batch_size=None):
    """Runs per batch size the sweep in ``folder`` asks for (inf if unknown).

    A store's sweep.json is the spec of its last sweep; when that sweep
    covered other batch sizes only (regime(): the momentum grid extended
    below at B >= 4K), ``batch_size``'s own runs are whatever ran before:
    0 is expected of it.
    """
    try:
        with open(os.path.join(folder, "sweep.json")) as f:
            axes = json.load(f)["axes"]
    except (OSError, ValueError, KeyError):
        return float("inf")
    if batch_size is not None and not _in_sweep(
            batch_size, [str(v) for v in axes.get("batch_size", ["full"])]):
        return 0
    count = 1
    for name, values in axes.items():
        if name != "batch_size":
            count *= len(values)
    return count


def _in_sweep(batch_size, sizes):
    """Whether a trial's ``batch_size`` is one of a sweep's ``sizes``, where
    'full' (the training-set size, unknown here) is any size above the
    numeric ones."""
    numeric = [int(v) for v in sizes if v != "full"]
    return batch_size in numeric or (
        "full" in sizes and batch_size > max(numeric, default=0))


def _cell(trials):
    best = pick(trials)
    if best is None:
        if any(t.status == "unstable" for t in trials):
            return "unstable"
        steps = [t.diverged_step for t in trials if t.diverged_step is not None]
        return "diverge" + (f" (step {min(steps)})" if steps else "")
    lr = best.peak_learning_rate
    tried = sorted({t.peak_learning_rate for t in trials})
    edge = (", grid edge" if len(tried) > 1 and lr in (tried[0], tried[-1])
            else "")
    warmups = sorted({t.config.get("warmup_epochs") or 0 for t in trials})
    chosen = best.config.get("warmup_epochs") or 0
    # A warmup pick at the end of its axis is a lower bound too.
    warm = (f", warmup {chosen:g}"
            + (", warmup grid edge" if chosen in (warmups[0], warmups[-1])
               else "") if len(warmups) > 1 else "")
    return f"{100 * best.accuracy:.1f}% (lr {lr:.3g}{edge}{warm})"


def baseline_section(results):
    trials = _load(os.path.join(results, "baseline"))
    if not trials:
        return "### Baseline\n\nnot run yet\n", None
    accs = [t.accuracy for t in trials]
    losses = [t.loss for t in trials]
    noise = [t.telemetry["noise_scale"]["b_simple"] for t in trials
             if t.telemetry.get("noise_scale")]
    rows = [(t.seed, f"{100 * t.accuracy:.2f}%", f"{t.loss:.4f}",
             f"{t.telemetry.get('noise_scale', {}).get('b_simple', float('nan')):.0f}")
            for t in sorted(trials, key=lambda t: t.seed)]

    def spread(xs):
        return statistics.stdev(xs) if len(xs) > 1 else 0.0

    rows.append(("mean +- std", f"{100 * statistics.fmean(accs):.2f}% +- "
                 f"{100 * spread(accs):.2f}", f"{statistics.fmean(losses):.4f}"
                 f" +- {spread(losses):.4f}",
                 f"{statistics.fmean(noise):.0f} +- {spread(noise):.0f}"
                 if noise else "-"))
    rows.append(("standard error of the mean",
                 f"{100 * spread(accs) / len(accs) ** 0.5:.2f} point", "-", "-"))
    text = ("### Baseline (part 1)\n\nLeNet-5, B0 = 256, 30 epochs, momentum "
            "0.9, constant LR 0.05, 55K/5K/10K split. A = test accuracy, "
            "xi = validation loss at the end; B_simple = the gradient noise "
            "scale (EMA over the run, micro-batch 128 vs batch 256).\n\n"
            + markdown.table(("seed", "A (test)", "xi (val. loss)", "B_simple"), rows)
            + "\nThe bar 99.5% of A is a distribution: its standard error is "
            "0.995 x the standard error above (limitbatch_tf/analysis/stats.py)."
            "\n\nPaper (MNIST): 99.2% in 30 epochs at B = 256.\n")
    return text, trials


def table3_section(results):
    root = os.path.join(results, "table3")
    rows = []
    for name, stores in TABLE3_STORES.items():
        ours = [cell(_load(os.path.join(root, s)), os.path.join(root, s))
                if s else "n.a." for s in stores]
        paper = PAPER_TABLE3[name]
        rows.append((name,) + tuple(f"{o} / {p}" for o, p in zip(ours, paper)))
    return ("### Table 3 analog: B = 8192, 30 epochs (part 2)\n\nEach cell: "
            "ours (Fashion-MNIST, test accuracy of the LR picked by validation "
            "accuracy on a x4 grid of at least 3 values, grown past an edge "
            "that its best value sits on (grow_grid.py); warmup 2 epochs + "
            "poly decay) / the "
            "paper's (MNIST). \"diverge\": every LR of the grid hit a NaN/Inf "
            "loss; \"unstable\": no LR finished and one stopped on a loss "
            "10x its best (recipe.yaml); \"grid edge\": the pick is the "
            "smallest or largest LR tried, so the grid should grow that way."
            "\n\n"
            + markdown.table(("optimizer", "batch 256", "8K original",
                         "8K + layer-wise", "8K + layer-wise + bound"), rows))


def tuned_baseline_section(results):
    """The tuned B = 256 baseline: its LR grid's validation pick and the
    pick's seeds (run.sh tuned_baseline)."""
    grid = _load(os.path.join(results, "review", "baseline_tuned"))
    seeds = _load(os.path.join(results, "review", "baseline_tuned_seeds"))
    head = "### Tuned baseline, B = 256 (issue 17)\n\n"
    if not grid and not seeds:
        return head + "not run yet\n", None
    text = head + ("The large-batch recipe (momentum 0.9, warmup 2 epochs, "
                   "poly decay) with its LR on a x2 grid at B = 256, picked "
                   "by validation accuracy, then 5 seeds of the pick.\n\n")
    if grid:
        text += f"LR grid: {cell(grid, os.path.join(results, 'review', 'baseline_tuned'))}.\n\n"
    if not seeds:
        return text + "Seeds of the pick: not run yet.\n", None
    accs = [t.accuracy for t in seeds if t.accuracy is not None]
    sd = statistics.stdev(accs) if len(accs) > 1 else 0.0
    text += (f"Seeds of the pick: {seeds_cell(seeds)}; A = "
             f"{100 * statistics.fmean(accs):.2f}% +- {100 * sd:.2f} (sd; "
             f"standard error {100 * sd / len(accs) ** 0.5:.2f} point).\n")
    return text, seeds


def bounds_section(results):
    """Table 3's "+ bound" with bounds that engage (run.sh bounds), and three
    seeds of the layer-wise picks with and without them (review/table3/
    *_seeds), compared by a one-sided Welch test each way at CONFIDENCE."""
    review = os.path.join(results, "review", "table3")
    rows = []
    for name, free, tight in TIGHT_BOUNDS:
        free_grid = os.path.join(results, "table3", free)
        tight_grid = os.path.join(review, tight)
        free_seeds = _load(os.path.join(review, free + "_seeds"))
        tight_seeds = _load(os.path.join(review, tight + "_seeds"))
        rows.append((name, cell(_load(free_grid), free_grid),
                     cell(_load(tight_grid), tight_grid),
                     seeds_cell(free_seeds) if free_seeds else "not run yet",
                     seeds_cell(tight_seeds) if tight_seeds else "not run yet",
                     _compare(tight_seeds, free_seeds)))
    if all(r[2] == "not run yet" for r in rows):
        return ("### Table 3, bounds that engage (issue 17)\n\nnot run yet\n")
    return ("### Table 3, bounds that engage (issue 17)\n\nB = 8192, "
            "layer-wise, trust ratio clipped to [0.1, 1] (the unbounded "
            "runs' trust ratios stayed inside [0.01, 10], so Table 3's first "
            "bound never engaged); LR picked by validation on the grid "
            "(grown past an edge pick); then three seeds of each pick. "
            "\"Bound vs none\": the bounded seeds' mean against the "
            f"unbounded seeds' (one-sided Welch's t each way at "
            f"{100 * CONFIDENCE:g}%).\n\n"
            + markdown.table(("optimizer", "layer-wise (Table 3)",
                              "+ bound [0.1, 1]", "layer-wise, 3 seeds",
                              "+ bound, 3 seeds", "bound vs none"), rows))


def _compare(bounded, unbounded):
    """"better" / "worse" / "undecided": bounded seeds against the
    unbounded seeds' mean with its standard error (stats.judge)."""
    a = [t.accuracy for t in bounded if t.status == "completed"]
    b = [t.accuracy for t in unbounded if t.status == "completed"]
    if len(a) < 2 or len(b) < 2 or None in a + b:
        return "-"
    v = stats.judge(a, stats.Target(tuple(b), name="unbounded"),
                    confidence=CONFIDENCE)
    word = {"passes": "better", "fails": "worse"}.get(v.verdict, "undecided")
    return (f"{word}: {100 * v.margin:+.2f} point +- {100 * v.stderr:.2f} "
            f"(p = {v.p_value:.2g})")


def _relative(text):
    """``text`` with the checkout's absolute paths made repository-relative
    (the evidence column names results.json files)."""
    root = os.path.dirname(os.path.dirname(HERE)) + os.sep
    return text.replace(root, "")


def _regime_stores(results):
    """[(name, label, folder, trials)] of the regime map's stores, the
    review's included; trials [] for a store that has not run."""
    out = [(name, label, os.path.join(results, "regime", name))
           for name, label in REGIME_STORES]
    out += [(f"review/{name}", label, os.path.join(results, "review", name))
            for name, label in REVIEW_REGIME]
    return [(n, l, f, _load(f)) for n, l, f in out]


def map_reading(results):
    """The regime map's paper-style reading (regime and review stores
    against the baseline's seeds, as regime_section's first reading): the
    brackets issue 19's find_limit is to recover. None before they ran."""
    baseline = _load(os.path.join(results, "baseline"))
    trials = [t for *_, ts in _regime_stores(results) for t in ts]
    if not (baseline and trials):
        return None
    return _readings(trials, baseline, None)[0][1]


def _readings(trials, baseline, tuned):
    """[(name, RegimeReport)]: the readings side by side (tools/regimes.py)."""
    out = []
    for base_name, base in (("paper-style", baseline), ("tuned", tuned)):
        if not base:
            continue
        out.append((base_name, regimes.classify(
            trials, baseline_trials=base, confidence=CONFIDENCE,
            name=base_name)))
        out.append((f"{base_name}, literal", regimes.classify(
            trials, baseline_trials=base, reading="literal",
            name=f"{base_name}, literal")))
        out.append((f"{base_name}, error ratio", regimes.classify(
            trials, baseline_trials=base, bar="error_ratio",
            ratio=regimes.MNIST_ERROR_RATIO, confidence=CONFIDENCE,
            name=f"{base_name}, error ratio {regimes.MNIST_ERROR_RATIO:g}")))
    return out


def _span(br, kind):
    lo = "-" if br["lo"] is None else br["lo"]
    hi = "-" if br["hi"] is None else br["hi"]
    return f"({lo}, {hi}]" if kind == "B_L" else f"[{lo}, {hi})"


def readings_table(readings):
    """One row per reading: the bar, B_L's and B_H's brackets, undecided."""
    rows = []
    for name, r in readings:
        und = sorted(set(r.b_l_bracket["undecided"] + r.b_h_bracket["undecided"]))
        rows.append((name, f"{r.target.name}: {100 * r.target.mean:.2f}% +- "
                     f"{100 * r.target.stderr:.2f}",
                     _span(r.b_l_bracket, "B_L"), _span(r.b_h_bracket, "B_H"),
                     ", ".join(map(str, und)) or "-"))
    return markdown.table(("reading", "bar (+- standard error)",
                      "B_L in", "B_H in", "undecided at"), rows)


def _store_args(ran):
    """The stores that ran, as tools/regimes.py arguments (repository-relative)."""
    return " ".join(_relative(f) for _, _, f, _ in ran)


def _cell_folder(folder, batch_size, sizes):
    """The sweep store of one batch size: the review's stores keep one per
    batch size (review/lamb_warmup/8192, .../full), the regime map's one
    for all."""
    for name in (str(batch_size), "full" if batch_size == max(sizes) else None):
        if name and os.path.isdir(os.path.join(folder, name)):
            return os.path.join(folder, name)
    return folder


def _plot_label(store_name, t):
    """The curve a run belongs to in the figures (cosmetic)."""
    if store_name == "linear":
        return "momentum, LR x B/256"
    name = ("lars, biases in the trust ratio" if "lars_all_layers" in store_name
            else t.rung or t.optimizer)
    if (t.config.get("warmup_epochs") or 0) > 2:
        name += ", long warmup"
    return name


def regime_section(results, baseline, figures, tuned=None):
    stores = _regime_stores(results)
    sizes = sorted({t.batch_size for *_, ts in stores for t in ts})
    if not sizes or not baseline:
        return "### Regime map (part 3)\n\nnot run yet\n", None
    ran = [(n, l, f, ts) for n, l, f, ts in stores if ts]
    rows = []
    for b in sizes:
        rows.append((b,) + tuple(
            cell([t for t in ts if t.batch_size == b], _cell_folder(f, b, sizes))
            if any(t.batch_size == b for t in ts) else "-"
            for _, _, f, ts in ran))
    header = ("B",) + tuple(label for _, label, _, _ in ran)
    not_run = [label for _, label, _, ts in stores if not ts]
    trials = [t for *_, ts in ran for t in ts]
    readings = _readings(trials, baseline, tuned)
    report = readings[0][1]
    # The plot labels curves by recipe: name the linear-scaling, all-layers
    # LARS and long-warmup runs apart (after classifying: the label is
    # cosmetic). Seeds join their recipe's cell.
    labelled = [dataclasses.replace(t, rung=_plot_label(n, t))
                for n, _, _, ts in ran for t in ts]
    labelled_base = [dataclasses.replace(t, rung="baseline") for t in baseline]
    os.makedirs(figures, exist_ok=True)
    plots.accuracy_vs_batch(labelled + labelled_base, os.path.join(
        figures, "accuracy_vs_batch.png"), report)
    figs = "![accuracy vs batch](figures/accuracy_vs_batch.png)\n"
    tuned_report = next((r for n, r in readings if n == "tuned"), None)
    if tuned_report is not None:
        labelled_tuned = [dataclasses.replace(t, rung="tuned baseline")
                          for t in tuned]
        plots.accuracy_vs_batch(labelled + labelled_base + labelled_tuned,
                                os.path.join(figures,
                                             "accuracy_vs_batch_tuned.png"),
                                tuned_report)
        figs += ("\n![accuracy vs batch, tuned baseline]"
                 "(figures/accuracy_vs_batch_tuned.png)\n")
    try:
        plots.train_loss(labelled + labelled_base,
                         os.path.join(figures, "train_loss.png"), report)
    except plots.PlotError as e:
        figs += f"\nTraining loss vs batch: not available ({e}).\n"
    else:
        figs += ("\nFinal training loss (30 epochs) of each recipe's "
                 "validation pick per batch size:\n\n![training loss vs batch]"
                 "(figures/train_loss.png)\n")
    full = "\n\n".join(_relative(regime_text.format_report(r))
                         for _, r in readings)
    text = ("### Regime map (part 3)\n\nTest accuracy after 30 epochs of the "
            "setting picked by validation accuracy per batch size (one seed "
            "unless the cell says seeds; B = 55,000 is full batch on the 55K "
            "training split).\n\n"
            + markdown.table(header, rows)
            + (f"\nNot run yet: {'; '.join(not_run)}.\n" if not_run else "")
            + f"\nReadings (`python tools/regimes.py {_store_args(ran)} "
            "--baseline_store "
            "paper-style=experiments/fashion_mnist/results/baseline"
            + (" --baseline_store tuned=experiments/fashion_mnist/results/"
               "review/baseline_tuned_seeds" if tuned else "")
            + " --literal --error_ratio 1.625`): each batch "
            "size's validation pick (any technique) and its Definition 2.1 "
            "cell (the baseline's own recipe, LR x B/256) are judged "
            f"\"passes\", \"fails\" or \"undecided\" (one-sided Welch's t at "
            f"{100 * CONFIDENCE:g}%, the bar's standard error included; "
            "\"literal\" = the paper's point estimates; \"error ratio\" = "
            f"error <= {regimes.MNIST_ERROR_RATIO:g} x the baseline's error, "
            "the paper's MNIST bar 0.8% -> 1.3%). B_L in (lo, hi]: lo the "
            "largest passing B below the first failing hi; B_H in [lo, hi): "
            "lo the largest passing B, hi the smallest failing B above it.\n\n"
            + readings_table(readings)
            + ("\nThe tuned baseline: not run yet.\n" if not tuned else "")
            + "\n<details><summary>Full regime reports</summary>\n\n```\n"
            + full + "\n```\n\n</details>\n\n" + figs
            + "\nPaper (MNIST): large batch [2K, 8K], huge batch (8K, 60K), "
            "full batch 60K.\n")
    return text, report


def _bracket_words(report):
    return (f"B_L in {_span(report.b_l_bracket, 'B_L')}, B_H in "
            f"{_span(report.b_h_bracket, 'B_H')}, B_F = {report.b_f}")


def noise_section(results, baseline, report, figures, noise_run=None):
    """B_simple of the baseline runs, and the trajectory of ``noise_run``
    (the baseline recipe trained with --telemetry=noise_scale(_layers):
    the forecast study's lenet5_momentum noise run) when it exists."""
    if not baseline or report is None:
        return "### Noise-scale forecast (part 5)\n\nwaits for parts 1 and 3\n"
    extra = [dataclasses.replace(t, rung="baseline recipe, noise run")
             for t in (_load(noise_run) if noise_run else [])
             if any(h.get(plots.NOISE_FIELD) is not None for h in t.history)]
    noise = [t.telemetry["noise_scale"]["b_simple"] for t in baseline
             if t.telemetry.get("noise_scale")]
    trajectory = [t for t in baseline
                  if any(h.get(plots.NOISE_FIELD) is not None for h in t.history)]
    if not noise and not trajectory:
        return ("### Noise-scale forecast (part 5)\n\nthe baseline runs "
                "recorded no noise scale (--telemetry=noise_scale)\n"
                + critical_section(results, baseline, figures))
    plots.noise_scale(baseline + extra, os.path.join(figures, "noise_scale.png"),
                      report)
    text = ("### Noise-scale forecast (part 5)\n\n"
            + (f"B_simple at the end of the baseline runs: "
               f"{statistics.fmean(noise):.0f} (seeds: "
               f"{', '.join(f'{n:.0f}' for n in noise)}); " if noise else "")
            + f"Measured {_bracket_words(report)} (paper-style baseline, "
            f"{100 * CONFIDENCE:g}%). ")
    if trajectory:
        text += (f"{len(trajectory)} of the {len(baseline)} baseline runs "
                 "stored B_simple at every evaluation (the figure's lines)"
                 + ("; the others only their end value (a dot). "
                    if len(trajectory) < len(baseline) else ". "))
    else:
        text += ("These runs stored only the end value (the figure's dots): "
                 "B_simple at every evaluation is in the history of runs made "
                 "since (issue 19), and grows during training, so one end "
                 "value is not the noise scale of the run. ")
    for t in extra:
        text += _trajectory_words(t, noise_run)
    text += ("McCandlish et al. read B_simple as the batch size beyond which "
             "returns diminish (B_crit ~ B_simple up to a factor); the paper's "
             "MNIST figures are B_crit ~ 200, B_simple ~ 900.\n\n"
             "![noise scale](figures/noise_scale.png)\n")
    return text + critical_section(results, baseline, figures)


def _trajectory_words(trial, where):
    """How B_simple grew over one run, and the forecast's reading of it."""
    rows = [h for h in trial.history if h.get(plots.NOISE_FIELD) is not None]
    picks = [rows[0]] + [min(rows, key=lambda h: abs(h["epoch"] - e))
                         for e in (10, 20)] + [rows[-1]]
    estimate = predict.b_crit_from_history(trial.history)
    return (f"The baseline recipe trained again with the probe at every "
            f"evaluation (`{_relative(os.path.abspath(where))}`, seed "
            f"{trial.seed}, micro-batch 128 of 256; the figure's line): "
            + ", ".join(f"B_simple {h[plots.NOISE_FIELD]:,.0f} at epoch "
                        f"{h['epoch']:.0f}" for h in picks)
            + f"; the forecast's rule (tools/forecast.py: mean tr(Sigma) / "
            f"mean |G|^2 over the last third) reads B_crit = "
            f"{estimate.b_crit:,.0f}. ")


def critical_section(results, baseline, figures):
    """Steps to target per batch size and the empirical critical batch."""
    ran = [r for r in _regime_stores(results) if r[3]]
    trials = [t for *_, ts in ran for t in ts] + baseline
    head = "\n#### Empirical critical batch (issue 19)\n\n"
    try:
        target = critical.baseline_target(trials, baseline)
        result = critical.critical_batch(trials, target)
    except (critical.CriticalError, regimes.RegimeError) as e:
        return head + f"not available: {e}\n"
    plots.steps_to_target(trials, os.path.join(figures, "steps_to_target.png"),
                          result)
    rows = [(p.batch_size, f"{p.mean:.0f}", f"{p.examples:,.0f}",
             ", ".join(map(str, p.steps)), p.label) for p in result.points]
    f = result.fit
    lo, hi = result.b_crit_interval
    return (head + "Steps to target S(B): per batch size, the step at "
            "which the validation-picked recipe (the map's pick: best final "
            "validation accuracy, limitbatch_tf/analysis/critical.py) first "
            f"reaches {100 * target:.2f}% validation accuracy (99.5% "
            "of the paper-style baseline's final validation accuracy) on "
            "every seed, read at the evaluations (every epoch: an upper "
            "bound by up to one epoch's steps); E(B) = B S(B) "
            f"(`python tools/critical_batch.py {_store_args(ran)} "
            "experiments/fashion_mnist/results/baseline --baseline_store "
            "experiments/fashion_mnist/results/baseline`).\n\n"
            + markdown.table(("B", "S (steps)", "E (examples)", "per seed",
                         "picked recipe"), rows)
            + f"\nFit S = S_min (1 + B_crit / B) (McCandlish et al. 2018): "
            f"B_crit = {f.b_crit:.0f} ({100 * result.confidence:g}% "
            f"bootstrap over seeds and batch sizes: [{critical.bound(lo)}, "
            f"{critical.bound(hi)}]), "
            f"S_min = {f.s_min:.0f} steps, E_min = {f.e_min:,.0f} examples; "
            f"RMS relative residual {f.residual:.2f}.\n\n"
            "![steps to target](figures/steps_to_target.png)\n")


LONGER_STORES = (("longer/lamb", "LAMB, warmup 30, 300 epochs (part 4)"),
                 ("review/longer/lamb_16k", "LAMB 16K, warmup 20, 200 epochs"),
                 ("review/longer/lamb_32k_seed1",
                  "LAMB 32K seed 1, warmup 30, 300 epochs"))


def longer_section(results, figures, target=None, baseline=None):
    stores = [(label, _load(os.path.join(results, name)))
              for name, label in LONGER_STORES]
    trials = [t for _, ts in stores for t in ts]
    if not trials:
        return "### Train longer (part 4)\n\nnot run yet\n"
    bar = None if target is None else target.mean
    rows = []
    for label, ts in stores:
        for t in sorted(ts, key=lambda t: (t.batch_size, t.seed)):
            hist = [h for h in t.history if h.get("eval_accuracy") is not None]
            best = max(hist, key=lambda h: h["eval_accuracy"]) if hist else None
            at30 = [h for h in hist if h["epoch"] <= 30.5]
            final = hist[-1] if hist else None
            reached = ("-" if bar is None or final is None
                       else "yes" if final["eval_accuracy"] >= bar else "no")
            loss = final.get("train_loss") if final else None
            rows.append((label, t.batch_size, t.seed, f"{t.peak_learning_rate:.3g}",
                         t.status, f"{t.epochs:.0f}",
                         f"{100 * at30[-1]['eval_accuracy']:.1f}%" if at30 else "-",
                         f"{100 * final['eval_accuracy']:.1f}%" if final else "-",
                         reached,
                         f"{100 * best['eval_accuracy']:.1f}% (epoch "
                         f"{best['epoch']:.0f})" if best else "-",
                         "-" if loss is None else f"{loss:.3f}"))
    plots.train_longer(trials, os.path.join(figures, "train_longer.png"), target)
    not_run = [label for label, ts in stores if not ts]
    return ("### Train longer (part 4)\n\nLAMB, poly decay over the whole "
            "run; \"final\" is the last evaluation (no early stopping), "
            "\"best\" the best test accuracy seen, which only early stopping "
            "on the test set would keep."
            + ("" if bar is None else
               f" Bar: {100 * bar:.2f}% (99.5% of the paper-style A, +- "
               f"{100 * target.stderr:.2f}).")
            + "\n\n"
            + markdown.table(("run", "B", "seed", "peak LR", "status", "epochs",
                         "test acc. at ~30", "final test acc.",
                         "final >= bar", "best test acc.", "final train loss"),
                        rows)
            + (f"\nNot run yet: {'; '.join(not_run)}.\n" if not_run else "")
            + full_batch_rate(results, baseline)
            + "\n![train longer](figures/train_longer.png)\n\nPaper (MNIST): "
            "B = 32768 best 99.16% after 1000 epochs; B = 60K 98.30%.\n")


def _final_train_loss(t):
    rows = [h for h in t.history if h.get("train_loss") is not None]
    return rows[-1]["train_loss"] if rows else None


def full_batch_rate(results, baseline):
    """Issue 17.5: how long full batch would have to train to fit the
    training set as well as the baseline. From LAMB's full-batch runs of 30
    epochs (the regime pick, warmup 2) and 300 epochs (warmup 30), both
    poly decay to zero over their own length: a power law L ~ epochs^-a
    through the two final training losses, extrapolated to the baseline's
    mean final training loss, and its cost at the long run's speed."""
    long_runs = [t for t in _load(os.path.join(results, "longer", "lamb"))
                 if t.batch_size == t.num_train and t.status == "completed"]
    short = pick([t for t in _load(os.path.join(results, "regime", "lamb"))
                  if t.batch_size == t.num_train])
    if not long_runs or short is None or not baseline:
        return ""
    long = long_runs[0]
    l_long, l_short = _final_train_loss(long), _final_train_loss(short)
    bases = [_final_train_loss(t) for t in baseline]
    if l_long is None or l_short is None or None in bases:
        return ""
    l_base = statistics.fmean(bases)
    head = (f"\nFull batch, training loss: {l_short:.3f} after {short.epochs:.0f}"
            f" epochs (the regime's LAMB pick), {l_long:.3f} after "
            f"{long.epochs:.0f}; the paper-style baseline ends at {l_base:.3f} "
            f"(mean of {len(bases)} seeds). ")
    if l_long <= l_base:
        return head + "The long run reached it.\n"
    if l_long >= l_short:
        return head + "The loss did not fall with the longer schedule.\n"
    a = math.log(l_short / l_long) / math.log(long.epochs / short.epochs)
    need = long.epochs * (l_long / l_base) ** (1 / a)
    with open(long.path) as f:
        wall = json.load(f).get("wall_time_s") or 0.0
    return (head + f"A power law through the two, L ~ epochs^-{a:.2f}, puts "
            f"the baseline's loss at ~{need:,.0f} epochs (a schedule of that "
            f"length), ~{need * wall / long.epochs / 3600:.1f} hours at the "
            f"300-epoch run's {wall / long.epochs:.1f} s per epoch: an "
            "extrapolation from two schedules, not a measurement.\n")


def provenance_section(results):
    files = glob.glob(os.path.join(results, "**", "results.json"), recursive=True)
    runs = [json.load(open(f)) for f in files]
    if not runs:
        return ""
    hours = sum(r.get("wall_time_s", 0.0) for r in runs) / 3600
    machine, versions = runs[0].get("machine", {}), runs[0].get("versions", {})
    sweeps = sorted(glob.glob(os.path.join(results, "**", "sweep.json"),
                              recursive=True))
    lines = [f"### Provenance\n\n{len(runs)} runs, {hours:.1f} hours of "
             f"training wall time in total, on {machine.get('cpu_count')} CPU cores "
             f"({machine.get('platform')}; devices {machine.get('devices')}), "
             f"oneDNN {machine.get('onednn')}, versions {versions}. Every "
             f"trial folder keeps its results.json (resolved config, versions, "
             f"machine) and every store its sweep.json (spec, picks and each "
             f"trial's command line); trial.log, mllog.txt and TensorBoard events stay out of "
             f"git (experiments/fashion_mnist/.gitignore). Sweeps "
             f"(`bash experiments/fashion_mnist/run.sh PART`):\n"]
    for path in sweeps:
        spec = json.load(open(path))
        rel = os.path.relpath(os.path.dirname(path), results)
        axes = ", ".join(f"{k}={','.join(map(str, v))}"
                         for k, v in spec["axes"].items())
        sets = " ".join(f"{k}={v}" for k, v in spec.get("set", {}).items())
        lines.append(f"- `{rel}`: {spec['config']}; {axes}; {sets}")
    return "\n".join(lines) + "\n"


def generate(results, figures, noise_run=None):
    base_text, baseline = baseline_section(results)
    tuned_text, tuned = tuned_baseline_section(results)
    regime_text, report = regime_section(results, baseline, figures, tuned)
    return "\n".join([base_text, tuned_text, table3_section(results),
                      bounds_section(results), regime_text,
                      longer_section(results, figures,
                                     report.target if report else None,
                                     baseline),
                      noise_section(results, baseline, report, figures,
                                    noise_run),
                      provenance_section(results)])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", default=os.path.join(HERE, "results"))
    parser.add_argument("--report", default=os.path.join(HERE, "REPORT.md"))
    parser.add_argument(
        "--noise_run", default=os.path.join(
            HERE, "..", "forecast", "results", "lenet5_momentum", "noise"),
        help="A run of the baseline recipe with the noise-scale trajectory "
             "(default: the forecast study's, issue 19); skipped if absent.")
    args = parser.parse_args(argv)
    figures = os.path.join(os.path.dirname(args.report), "figures")
    body = generate(args.results, figures, args.noise_run)
    try:
        markdown.replace_generated(args.report, body, "Fashion-MNIST reproduction")
    except markdown.MarkersError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"wrote {args.report}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
