"""Batch-size sweeps into a results store (the paper's Table 2 regimes).

    limitbatch-sweep --config=experiments/fashion_mnist_baseline.yaml \\
        --batch_sizes=256,512,...,32768,full --seeds 0,1,2 --lr_scaling linear \\
        --tune learning_rate=0.025,0.05,0.1 --store runs/sweeps/fmnist \\
        [--parallel N|auto] [--metric eval_accuracy] [--set key=value] [-- main flags]

For every batch size and seed one trial runs (with ``--tune``, one per cell
of the tuning grid: Shallue et al.'s per-batch-size tuning), N at a time,
resumable exactly like tools/grid_search.py. ``a,b,...,e`` in
``--batch_sizes`` is the geometric series a, b, b*(b/a), ... up to e.

Results store layout (a directory tree where every results.json is one
trial; this is what the analysis tools read)::

    STORE/
      <trial id>/              one main-job model_dir per trial, the id
                               naming batch size, seed and tuned values:
        results.json           batch_size=256,seed=0,learning_rate=0.05/
        config.json            the resolved config (also in results.json)
        trial.log              the main job's stdout and stderr
        train/ eval/           TensorBoard events, plus the HParams session
        checkpoints/
      sweep.json               the store's one index, kept in git with the
                               results.json files: the sweep's spec (config,
                               axes, fixed flags, metric), "best" (per batch
                               size the best tuned values: the best mean
                               metric over seeds, all seeds completed, and
                               their trial ids; null when no setting
                               completed) and "commands" (trial id -> its
                               main-job command line, the last launch its
                               trial.log records)
      sweep.csv, sweep.md      one row per trial: values, status, metric
      events.out.tfevents.0.hparams_config   (``tensorboard --logdir STORE``)

Trials of one batch size differ in their tuned values and seed only; the
regime tools recompute the best setting per batch size from the
results.json files; the drivers read sweep.json's "best".
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys

from limitbatch_tf.config import ConfigError
from limitbatch_tf.sweeps import grid, hparams, tables, trials
from limitbatch_tf.sweeps.grid import Axis
from limitbatch_tf.sweeps.grid_search import (add_common_flags, exit_code,
                                                   fail, split_extra,
                                                   summary_line)


def parse_batch_sizes(text: str) -> tuple:
    """'256,512,...,4096,full' -> ('256', '512', '1024', '2048', '4096', 'full').

    Raises:
      ConfigError: a term that is not a positive integer or 'full', a
        repeated size, or a '...' without two terms before it and an end
        that the series reaches exactly.
    """
    terms = [t.strip() for t in text.split(",")]
    out = []
    for i, term in enumerate(terms):
        if term == "...":
            if len(out) < 2 or i + 1 >= len(terms) or not all(
                    x.isdigit() for x in out[-2:]):
                raise ConfigError(f"--batch_sizes={text}: '...' needs two "
                                  f"sizes before it and one after, e.g. "
                                  f"256,512,...,8192")
            first, second = int(out[-2]), int(out[-1])
            end = _positive(terms[i + 1], text)
            if second <= first or second % first:
                raise ConfigError(f"--batch_sizes={text}: '...' continues a "
                                  f"geometric series; {second} is not an "
                                  f"integer multiple > 1 of {first}")
            ratio, size = second // first, second * (second // first)
            while size < end:
                out.append(str(size))
                size *= ratio
            if size != end:
                raise ConfigError(f"--batch_sizes={text}: {end} is not "
                                  f"{second} x {ratio}^k")
            continue
        out.append("full" if term == "full" else str(_positive(term, text)))
    if len(set(out)) != len(out):
        raise ConfigError(f"--batch_sizes={text}: a batch size is repeated")
    return tuple(out)


def _positive(term: str, text: str) -> int:
    if not term.isdigit() or int(term) < 1:
        raise ConfigError(f"--batch_sizes={text}: {term!r} is not a positive "
                          f"integer or 'full'")
    return int(term)


def parse_seeds(text: str) -> tuple:
    try:
        seeds = tuple(int(s) for s in text.split(","))
    except ValueError:
        raise ConfigError(f"--seeds={text}: expected comma-separated "
                          f"integers") from None
    if len(set(seeds)) != len(seeds):
        raise ConfigError(f"--seeds={text}: a seed is repeated")
    return seeds


def sweep_axes(batch_sizes, seeds, tune_axes) -> list:
    """Batch size slowest, then seed, then the tuning axes."""
    names = [a.name for a in tune_axes]
    for name in ("batch_size", "seed"):
        if name in names:
            raise ConfigError(f"--tune {name}=...: {name} is swept by "
                              f"--batch_sizes/--seeds")
    return [Axis("batch_size", tuple(batch_sizes)), Axis("seed", tuple(seeds))
            ] + list(tune_axes)


def best_per_batch_size(trial_list, outcomes, metric: str, goal: str) -> dict:
    """{batch size: best setting} over tuned values, by the mean over seeds.

    A setting counts only when every seed completed with a finite metric
    (a diverged seed makes it infeasible). Ties go to the first setting.
    """
    groups = {}  # batch -> tuned values -> [(trial, outcome)]
    for t in trial_list:
        values = t.overrides
        tuned = tuple((k, v) for k, v in t.values
                      if k not in ("batch_size", "seed"))
        groups.setdefault(values["batch_size"], {}).setdefault(tuned, []).append(
            (t, outcomes[t.trial_id]))
    best = {}
    sign = -1.0 if goal == "max" else 1.0
    for batch, settings in groups.items():
        scored = []
        for i, (tuned, runs) in enumerate(settings.items()):
            scores = [o.metric(metric) for _, o in runs]
            if all(o.status == "completed" for _, o in runs) and None not in scores:
                mean = math.fsum(scores) / len(scores)
                scored.append((sign * mean, i, tuned, mean, runs))
        if not scored:
            best[batch] = None
            continue
        _, _, tuned, mean, runs = min(scored)
        best[batch] = {"tuned": dict(tuned), "mean": mean,
                       "seeds": [t.overrides["seed"] for t, _ in runs],
                       "trials": [t.trial_id for t, _ in runs]}
    return best


SWEEP_FILE = "sweep.json"
_LEGACY_COMMANDS = "commands.txt"  # stores written before sweep.json held them


def read_index(store: str) -> dict:
    """``store``/sweep.json, or {} before the first sweep finished."""
    path = os.path.join(store, SWEEP_FILE)
    if not os.path.exists(path):
        return {}
    with open(path) as f:
        return json.load(f)


def commands(store: str, trial_list, command_of) -> dict:
    """{trial id: command line} for sweep.json's "commands".

    A trial's command is the last "$ ..." line trials.launch wrote to its
    trial.log; a trial never launched (or whose log is gone) keeps the line
    already recorded, else gets ``command_of(trial)``, the argv it would
    run. Commands of trials from earlier sweeps into the store are kept.
    """
    lines = dict(read_index(store).get("commands", {}))
    legacy = os.path.join(store, _LEGACY_COMMANDS)
    if os.path.exists(legacy):
        with open(legacy) as f:
            for line in f:
                key, _, command = line.rstrip("\n").partition("\t")
                lines.setdefault(key, command)
    for trial in trial_list:
        launched = _last_launch(os.path.join(trial.model_dir, trials.LOG_FILE))
        if launched or trial.trial_id not in lines:
            lines[trial.trial_id] = launched or " ".join(command_of(trial))
    return dict(sorted(lines.items()))


def _last_launch(log_path: str):
    """The command of the last "$ " line of a trial.log, or None."""
    try:
        with open(log_path, errors="replace") as f:
            launches = [ln[2:].rstrip("\n") for ln in f if ln.startswith("$ ")]
    except OSError:
        return None
    return launches[-1] if launches else None


def parse_args(argv):
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog="Main-job flags after '--' are passed to every trial verbatim.")
    p.add_argument("--batch_sizes", required=True,
                   help="Comma-separated global batch sizes; 'full' is the "
                        "whole training set; a,b,...,e a geometric series.")
    p.add_argument("--store", required=True, help="Results store folder.")
    p.add_argument("--seeds", default="0",
                   help="Comma-separated seeds. Defaults to 0.")
    p.add_argument("--tune", action="append", default=[], metavar="KEY=V1,V2",
                   help="A tuning axis, searched at every batch size "
                        "(repeatable).")
    p.add_argument("--lr_scaling", choices=("none", "linear", "sqrt"),
                   default=None, help="Main job's --lr_scaling for every "
                   "trial. Defaults to the config's.")
    add_common_flags(p)
    return p.parse_args(argv)


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    tool_args, extra = split_extra(argv)
    args = parse_args(tool_args)
    try:
        tune = [grid.parse_axis(spec) for spec in args.tune]
        axes = sweep_axes(parse_batch_sizes(args.batch_sizes),
                          parse_seeds(args.seeds), tune)
        sets = grid.parse_sets(args.set)
        if args.lr_scaling is not None:
            sets += (("lr_scaling", args.lr_scaling),)
        goal = grid.goal_of(args.metric, args.goal)
        parallel = grid.resolve_parallel(args.parallel)
        trial_list, report = grid.run(args.config, axes, args.store, sets=sets,
                                      extra_args=extra, parallel=parallel,
                                      pin=args.pin)
    except ConfigError as e:
        return fail(str(e))
    outcomes = report.outcomes
    rows = [grid.row(t, outcomes[t.trial_id], args.metric) for t in trial_list]
    best = best_per_batch_size(trial_list, outcomes, args.metric, goal)
    tables.write_json(
        {"config": args.config,
         "axes": {a.name: list(a.values) for a in axes},
         "set": dict(sets), "extra_args": extra,
         "metric": args.metric, "goal": goal,
         "best": {"metric": args.metric, "goal": goal, "batch_sizes": best},
         "commands": commands(args.store, trial_list, lambda t: trials.command(
             t, args.config, sets, extra))},
        os.path.join(args.store, SWEEP_FILE))
    tables.write_csv(rows, os.path.join(args.store, "sweep.csv"))
    best_rows = [{"batch_size": b, args.metric: "" if s is None else s["mean"],
                  "tuned": "" if s is None else trials.trial_id(s["tuned"].items()),
                  "seeds": "" if s is None else len(s["seeds"])}
                 for b, s in best.items()]
    tables.write_text(
        f"Best setting per batch size ({args.metric}, {goal}, mean over "
        f"seeds)\n\n{tables.markdown(best_rows)}\nAll trials\n\n"
        f"{tables.markdown(rows)}", os.path.join(args.store, "sweep.md"))
    hparams.write_config(args.store, axes, [args.metric, "eval_accuracy",
                                            "eval_loss", "train_loss"])
    print(tables.markdown(best_rows), end="")
    for key, outcome in report.errors:
        print(f"error: trial {key}: {outcome.error}", file=sys.stderr)
    print(summary_line(report))
    return exit_code(report)
