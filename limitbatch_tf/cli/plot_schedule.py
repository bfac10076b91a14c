"""Draws a configured learning-rate schedule to a PNG file.

Example (the paper's Table 4 recipe: ImageNet at 128K, LR 28, 25 warmup
epochs, cosine over 90 epochs):

    limitbatch-plot-schedule --num_examples=1281167 --batch_size=131072 \
        --peak_lr=28 --warmup_epochs=25 --decay=cosine --total_epochs=90 \
        --output=/tmp/lr.png

The flags mirror ``limitbatch_tf.schedules.build_schedule``; every duration
is given in epochs *or* steps and converted by ``schedules.to_steps``.
"""
import argparse
import sys

from limitbatch_tf import schedules
from limitbatch_tf.config import Config, ConfigError


def _float_list(text):
    return [float(x) for x in text.split(",") if x.strip()]


def parse_args(argv):
    """Parses command-line flags (``argv`` without the program name)."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--output", required=True, help="PNG file to write.")
    p.add_argument("--num_examples", type=int, required=True,
                   help="Training examples per epoch.")
    p.add_argument("--batch_size", type=int, required=True, help="Global batch size B.")
    p.add_argument("--peak_lr", type=float, required=True,
                   help="Peak LR tuned at --base_batch_size; scaled to --batch_size "
                        "by --lr_scaling.")
    p.add_argument("--base_batch_size", type=int, default=None,
                   help="Batch size B0 of --peak_lr. Defaults to --batch_size.")
    p.add_argument("--lr_scaling", choices=schedules.SCALING_RULES, default="none")
    for name, required in (("total", True), ("warmup", False)):
        group = p.add_mutually_exclusive_group(required=required)
        group.add_argument(f"--{name}_epochs", type=float, default=None)
        group.add_argument(f"--{name}_steps", type=int, default=None)
    p.add_argument("--warmup", choices=schedules.WARMUP_SHAPES, default="linear")
    p.add_argument("--warmup_start_lr", type=float, default=0.0)
    p.add_argument("--decay", choices=schedules.DECAYS, default="constant")
    p.add_argument("--end_lr", type=float, default=0.0)
    p.add_argument("--poly_power", type=float, default=None)
    p.add_argument("--step_boundaries_epochs", type=_float_list, default=(),
                   help="Comma-separated absolute epochs, e.g. 30,60,80.")
    p.add_argument("--step_factor", type=float, default=None)
    cycle = p.add_mutually_exclusive_group()
    cycle.add_argument("--cycle_epochs", type=float, default=None)
    cycle.add_argument("--cycle_steps", type=int, default=None)
    p.add_argument("--cycle_start", choices=schedules.CYCLE_STARTS, default="min")
    p.add_argument("--cosine_granularity", choices=schedules.COSINE_GRANULARITIES,
                   default="step")
    p.add_argument("--coarse_epochs", type=float, default=None)
    return p.parse_args(argv)


def _steps(epochs, steps, steps_per_epoch):
    if epochs is None and steps is None:
        return None
    return schedules.to_steps(epochs=epochs, steps=steps, steps_per_epoch=steps_per_epoch)


def check_applies(args):
    """Refuses a flag of another decay by Config's one table (APPLIES_TO):
    build_schedule trusts its arguments."""
    cycle = args.cycle_epochs if args.cycle_steps is None else float(args.cycle_steps)
    boundaries = ",".join(str(e) for e in args.step_boundaries_epochs) or None
    config = Config(lr_decay=args.decay, end_lr=args.end_lr, poly_power=args.poly_power,
                    step_boundaries_epochs=boundaries, step_factor=args.step_factor,
                    cycle_epochs=cycle, cycle_start=args.cycle_start,
                    cosine_granularity=args.cosine_granularity,
                    coarse_epochs=args.coarse_epochs)
    try:
        config.check_applies()
    except ConfigError as e:  # this tool's --decay is Config's --lr_decay
        raise ValueError(str(e).replace("--lr_decay", "--decay")) from None


def schedule_from_args(args):
    """Returns (schedule, total_steps, steps_per_epoch, peak_lr) for parsed flags."""
    check_applies(args)
    spe = schedules.steps_per_epoch(args.num_examples, args.batch_size)
    base_batch = args.batch_size if args.base_batch_size is None else args.base_batch_size
    peak_lr = schedules.scaled_learning_rate(args.peak_lr, args.batch_size, base_batch,
                                             args.lr_scaling)
    total = _steps(args.total_epochs, args.total_steps, spe)
    warmup = _steps(args.warmup_epochs, args.warmup_steps, spe)
    schedule = schedules.build_schedule(
        peak_lr, total_steps=total, steps_per_epoch=spe,
        warmup_steps=0 if warmup is None else warmup, warmup=args.warmup,
        warmup_start_lr=args.warmup_start_lr, decay=args.decay, end_lr=args.end_lr,
        poly_power=args.poly_power, step_boundaries_epochs=args.step_boundaries_epochs,
        step_factor=args.step_factor,
        cycle_steps=_steps(args.cycle_epochs, args.cycle_steps, spe),
        cycle_start=args.cycle_start, cosine_granularity=args.cosine_granularity,
        coarse_epochs=args.coarse_epochs)
    return schedule, total, spe, peak_lr


def plot(schedule, total_steps, steps_per_epoch, output, title=""):
    """Evaluates ``schedule`` at every step of the run and writes a PNG."""
    import matplotlib
    matplotlib.use("Agg")  # files only, no display
    import matplotlib.pyplot as plt
    import tensorflow as tf

    steps = tf.range(total_steps + 1, dtype=tf.int64)  # one step past the end
    lrs = schedule(steps).numpy()  # schedules are elementwise in the step
    fig, ax = plt.subplots(figsize=(8, 4.5))
    ax.plot(steps.numpy(), lrs, drawstyle="steps-post", linewidth=1.2)
    ax.set_xlabel("optimizer update step")
    ax.set_ylabel("learning rate")
    ax.set_title(title, fontsize=8)
    ax.grid(alpha=0.3)
    epochs_axis = ax.secondary_xaxis(
        "top", functions=(lambda s: s / steps_per_epoch, lambda e: e * steps_per_epoch))
    epochs_axis.set_xlabel("epoch")
    fig.tight_layout()
    fig.savefig(output, dpi=100)
    plt.close(fig)
    return lrs


def main(argv=None):
    """Parses ``argv`` (default: ``sys.argv[1:]``), plots, returns 0."""
    args = parse_args(sys.argv[1:] if argv is None else argv)
    schedule, total, spe, peak_lr = schedule_from_args(args)
    title = (f"{args.decay} decay, {args.warmup} warmup, peak {peak_lr:g}, "
             f"{total} steps, {spe:g} steps/epoch")
    plot(schedule, total, spe, args.output, title)
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
