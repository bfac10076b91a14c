"""Command line of tools/find_limit.py (the search: forecast/search.py).

    python tools/find_limit.py --config=RECIPE.yaml --store=DIR --budget_hours=H
        [--forecast_run=RUN_DIR | --start_batch=B] [--max_batch=32768]
        [--lr_factors=0.125,0.25,0.5,1,2] [--baseline_seeds=3] [--max_seeds=5]
        [--confidence=0.9] [-- extra main flags]

The recipe's --batch_size is B0, its peak LR (after its --lr_scaling) the
baseline's, its --epochs rho. The budget is in CPU-hours of the trials
(user + system time of the main-job processes). Rerunning the same command
resumes: finished trials are replayed from STORE/find_limit.json. Exit 0
when the search ended (bracketed or budget spent), 2 on bad input, 3 when
interrupted (rerun to resume).
"""
from __future__ import annotations

import argparse
import math
import sys

from limitbatch_tf.config import ConfigError
from limitbatch_tf.sweeps import grid, trials
from limitbatch_tf.sweeps.grid_search import split_extra
from limitbatch_tf.forecast import predict, search
from limitbatch_tf.forecast.main_job import Interrupted, MainJobTrainer


def fail(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return 2


def parse_args(argv):
    p = argparse.ArgumentParser(prog="find_limit.py",
                                description=__doc__.split("\n\n")[0])
    p.add_argument("--config", required=True, help="The recipe's YAML config.")
    p.add_argument("--store", required=True, help="Results store folder.")
    p.add_argument("--budget_hours", type=float, required=True,
                   help="CPU-hours the trials may spend in all.")
    start = p.add_mutually_exclusive_group()
    start.add_argument("--forecast_run", default=None,
                       help="A --telemetry=noise_scale run: start at its "
                            "B_crit forecast (tools/forecast.py).")
    start.add_argument("--start_batch", type=int, default=None,
                       help="Start at this batch size. Defaults to 2 x B0 "
                            "without --forecast_run.")
    p.add_argument("--max_batch", type=int, default=32768,
                   help="Largest batch size of the power-of-2 grid. "
                        "Defaults to 32768.")
    p.add_argument("--lr_factors", default="0.125,0.25,0.5,1,2",
                   help="LR candidates per batch size, as multiples of the "
                        "linearly scaled LR.")
    p.add_argument("--baseline_seeds", type=int, default=3)
    p.add_argument("--max_seeds", type=int, default=5)
    p.add_argument("--confidence", type=float, default=0.90)
    p.add_argument("--parallel", default="auto",
                   help="Independent trials (the baseline's seeds, one "
                        "successive-halving rung) at once: N or 'auto' (one "
                        "per CPU, as the sweep tools; grid.resolve_parallel)."
                        " The budget then counts each trial's wall seconds "
                        "times its share of the CPUs.")
    return p.parse_args(argv)


def _factors(text):
    try:
        out = tuple(float(x) for x in text.split(","))
    except ValueError:
        raise ConfigError(f"--lr_factors={text}: expected comma-separated "
                          f"positive numbers") from None
    if not out or any(not (f > 0 and math.isfinite(f)) for f in out):
        raise ConfigError(f"--lr_factors={text}: expected positive numbers")
    return out


def recipe_of(args, extra) -> dict:
    """What every trial shares: the config's identity, less what the search
    sets per trial (the find_limit ledger is valid for this recipe only)."""
    config = trials.resolve_config(args.config, (), extra)
    owned = ("batch_size", "learning_rate", "epochs", "seed", "lr_scaling")
    return {k: v for k, v in config.identity().items() if k not in owned}


def settings_from(args, extra) -> search.Settings:
    """Search settings from the flags and the recipe's config."""
    config = trials.resolve_config(args.config, (), extra)
    if config.batch_size == "full":
        raise ConfigError(f"--config={args.config}: batch_size full cannot "
                          f"be B0; give the baseline's batch size")
    if config.train_steps is not None:
        raise ConfigError(f"--config={args.config}: train_steps is set; "
                          f"find_limit varies --epochs (rho), so leave it unset")
    b0 = int(config.batch_size)
    # The recipe's peak LR at B0 (schedules/scaling.py's rules).
    ratio = b0 / config.base_batch_size
    lr = config.learning_rate * {"none": 1.0, "linear": ratio,
                                 "sqrt": math.sqrt(ratio)}[config.lr_scaling]
    if args.budget_hours <= 0:
        raise ConfigError(f"--budget_hours={args.budget_hours}: expected > 0")
    for name in ("baseline_seeds", "max_seeds"):
        if getattr(args, name) < (2 if name == "baseline_seeds" else 1):
            raise ConfigError(f"--{name}={getattr(args, name)} is too small")
    if not 0.5 < args.confidence < 1:
        raise ConfigError(f"--confidence={args.confidence}: expected (0.5, 1)")
    if args.max_batch < 2 * b0:
        raise ConfigError(f"--max_batch={args.max_batch} must be at least "
                          f"2 x B0 = {2 * b0}")
    start = args.start_batch
    if args.forecast_run:
        estimate = predict.read_run(args.forecast_run)
        start = max(1, round(estimate.b_crit))
        print(f"start: B_crit forecast {estimate.b_crit:.0f} of "
              f"{args.forecast_run}")
    elif start is not None and start < 1:
        raise ConfigError(f"--start_batch={start}: expected a positive integer")
    return search.Settings(
        base_batch=b0, base_lr=lr, epochs=config.epochs,
        max_batch=args.max_batch, budget_s=args.budget_hours * 3600.0,
        start_batch=start, lr_factors=_factors(args.lr_factors),
        baseline_seeds=args.baseline_seeds, max_seeds=args.max_seeds,
        confidence=args.confidence, parallel=grid.resolve_parallel(args.parallel))


def main(argv=None, trainer=None) -> int:
    """``trainer`` replaces the main job (tests)."""
    argv = sys.argv[1:] if argv is None else argv
    tool_args, extra = split_extra(argv)
    args = parse_args(tool_args)
    try:
        settings = settings_from(args, extra)
        if trainer is None:
            trainer = MainJobTrainer(args.config, args.store, extra)
            trainer.check(search.TrialSpec(settings.base_batch,
                                           search.round_lr(settings.base_lr),
                                           0, float(settings.epochs)))
        s = search.Search(settings, trainer, args.store,
                          recipe=recipe_of(args, extra))
        summary = s.run()
    except (ConfigError, predict.ForecastError, ValueError) as e:
        return fail(str(e))
    except Interrupted as e:
        print(f"interrupted ({e}); rerun the same command to resume",
              file=sys.stderr)
        return 3
    print(search.format_summary(summary))
    return 0
