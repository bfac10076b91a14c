"""Grid search CLI: every cell of a hyperparameter grid as one main-job run.

    limitbatch-grid --config=experiments/ladder/mnist/1_warmup.yaml \\
        --grid learning_rate=0.025,0.05,0.1 --grid warmup_epochs=1,2,5 \\
        --out runs/grid/mnist --parallel 2 --metric validation_accuracy \\
        [--set key=value ...] [-- extra main flags]

Output folder::

    DIR/cells/<cell id>/   one main-job model_dir per cell, e.g.
                           cells/learning_rate=0.05,warmup_epochs=2/
                           (results.json, config.json, trial.log, train/,
                           eval/, checkpoints/, HParams session events)
    DIR/grid.csv           one row per cell: axes, status, metric, diverged step
    DIR/grid.md            the same as a Markdown table, best cell first line
    DIR/heatmap.png        metric over the two axes (2-axis grids only)
    DIR/best.json          the best completed cell (null when none)
    DIR/events.out.tfevents.0.hparams_config   ``tensorboard --logdir DIR``

Running the same command again resumes: finished cells (completed, diverged,
unstable) are read, preempted or crashed ones restarted (the main job
resumes them from their checkpoints). Exit codes: 0 every cell finished;
1 some cell crashed (run again to resume it); 2 bad input (one line on
stderr); 3 interrupted by SIGTERM/SIGINT (running cells checkpointed).
"""
from __future__ import annotations

import argparse
import os
import sys

from limitbatch_tf.config import ConfigError
from limitbatch_tf.sweeps import grid, hparams, tables, trials

EXIT_OK, EXIT_CRASHED, EXIT_BAD_INPUT, EXIT_INTERRUPTED = 0, 1, 2, 3


def split_extra(argv):
    """(tool args, main-job args after the first '--')."""
    argv = list(argv)
    if "--" in argv:
        i = argv.index("--")
        return argv[:i], argv[i + 1:]
    return argv, []


def add_common_flags(p: argparse.ArgumentParser) -> None:
    """Flags shared by the grid and sweep tools."""
    p.add_argument("--config", default=None,
                   help="Base YAML config of main-job flags. Defaults to "
                        "the main job's defaults.")
    p.add_argument("--parallel", default="auto",
                   help="Trials running at once: N, or 'auto' (the default:"
                        " one per CPU, memory permitting; grid.resolve_parallel"
                        "). With N > 1 each trial is pinned to its own share "
                        "of the CPUs (TensorFlow then sizes its thread pools "
                        "to it).")
    p.add_argument("--nopin", dest="pin", action="store_false",
                   help="Let --parallel trials share every CPU instead of "
                        "pinning each to its own.")
    p.add_argument("--metric", default="eval_accuracy",
                   help="results.json metric to rank trials by. Defaults to "
                        "eval_accuracy.")
    p.add_argument("--goal", choices=("max", "min"), default=None,
                   help="Whether a larger or smaller metric is better. "
                        "Defaults to min for *loss metrics, else max.")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="A main-job flag fixed for every trial (repeatable).")


def parse_args(argv):
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog="Main-job flags after '--' are passed to every cell verbatim.")
    p.add_argument("--grid", action="append", default=[], metavar="KEY=V1,V2",
                   help="An axis of the grid (repeatable; any number).")
    p.add_argument("--out", required=True, help="Output folder.")
    add_common_flags(p)
    return p.parse_args(argv)


def fail(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return EXIT_BAD_INPUT


def exit_code(report) -> int:
    """The tool's exit code for a GridReport (see the module docstring)."""
    if report.errors:
        return EXIT_BAD_INPUT
    if report.interrupted:
        return EXIT_INTERRUPTED
    return EXIT_CRASHED if report.unfinished else EXIT_OK


def summary_line(report) -> str:
    return (f"ran {report.ran} trial(s); {report.skipped} already finished"
            + (f"; unfinished: {len(report.unfinished)}"
               if report.unfinished else ""))


def heatmap_cells(trial_list, outcomes, metric, rows_name, cols_name):
    """{(row text, col text): (status, value, diverged step)} for heatmap.draw."""
    cells = {}
    for t in trial_list:
        v, o = t.overrides, outcomes[t.trial_id]
        key = (trials.format_value(v[rows_name]), trials.format_value(v[cols_name]))
        cells[key] = (o.status, o.metric(metric),
                      (o.results or {}).get("diverged_step"))
    return cells


def draw_heatmap(path, axes, trial_list, outcomes, metric, title="") -> bool:
    """heatmap.draw for a 2-axis grid; False when matplotlib is missing."""
    try:
        from limitbatch_tf.analysis import heatmap
        heatmap.draw(path, *[(a.name, [trials.format_value(v) for v in a.values])
                             for a in axes],
                     heatmap_cells(trial_list, outcomes, metric, axes[0].name,
                                   axes[1].name), metric, title)
    except ImportError:
        print("heatmap skipped: matplotlib is not installed "
              "(pip install limitbatch_tf[plot])")
        return False
    return True


def best_payload(trial, outcomes, metric, goal) -> dict:
    payload = {"metric": metric, "goal": goal, "cell": None}
    if trial is not None:
        outcome = outcomes[trial.trial_id]
        payload.update(cell=trial.trial_id, values=trial.overrides,
                       value=outcome.metric(metric), model_dir=trial.model_dir,
                       peak_learning_rate=outcome.results.get("peak_learning_rate"))
    return payload


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    tool_args, extra = split_extra(argv)
    args = parse_args(tool_args)
    try:
        if not args.grid:
            raise ConfigError("--grid: give at least one axis, e.g. "
                              "--grid learning_rate=0.1,0.2")
        axes = [grid.parse_axis(spec) for spec in args.grid]
        sets = grid.parse_sets(args.set)
        goal = grid.goal_of(args.metric, args.goal)
        parallel = grid.resolve_parallel(args.parallel)
        trial_list, report = grid.run(
            args.config, axes, os.path.join(args.out, "cells"), sets=sets,
            extra_args=extra, parallel=parallel, pin=args.pin)
    except ConfigError as e:
        return fail(str(e))
    outcomes = report.outcomes
    rows = [grid.row(t, outcomes[t.trial_id], args.metric) for t in trial_list]
    best = grid.best(trial_list, outcomes, args.metric, goal)
    payload = best_payload(best, outcomes, args.metric, goal)
    tables.write_csv(rows, os.path.join(args.out, "grid.csv"))
    head = (f"Grid over {', '.join(a.name for a in axes)} "
            f"(config: {args.config or 'defaults'}); metric {args.metric} "
            f"({goal}); best: {payload['cell'] or 'none completed'}\n\n")
    tables.write_text(head + tables.markdown(rows),
                      os.path.join(args.out, "grid.md"))
    tables.write_json(payload, os.path.join(args.out, "best.json"))
    hparams.write_config(args.out, axes, [args.metric, "eval_accuracy",
                                          "eval_loss", "train_loss"])
    if len(axes) == 2:
        draw_heatmap(os.path.join(args.out, "heatmap.png"), axes, trial_list,
                     outcomes, args.metric, title=args.config or "")
    print(tables.markdown(rows), end="")
    if best is None:
        print(f"best: none (no completed cell with a finite {args.metric})")
    else:
        print(f"best: {best.trial_id} {args.metric}={payload['value']:.4f} "
              f"({best.model_dir})")
    for key, outcome in report.errors:
        print(f"error: cell {key}: {outcome.error}", file=sys.stderr)
    print(summary_line(report))
    return exit_code(report)
