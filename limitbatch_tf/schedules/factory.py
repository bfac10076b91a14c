"""One entry point from a config's numbers to a learning-rate schedule."""
import keras

from limitbatch_tf.schedules._checks import check_choice, check_int, check_number
from limitbatch_tf.schedules.cosine import CosineDecay
from limitbatch_tf.schedules.cyclical import TriangularCyclical
from limitbatch_tf.schedules.decay import ConstantSchedule, StepDecay
from limitbatch_tf.schedules.durations import to_steps
from limitbatch_tf.schedules.warmup import WARMUP_SHAPES, Warmup

DECAYS = ("constant", "cosine", "poly", "step", "cyclical")
COSINE_GRANULARITIES = ("step", "epoch", "coarse")
DEFAULT_POLY_POWER = 2.0
DEFAULT_STEP_FACTOR = 0.1


def build_schedule(peak_lr, *, total_steps, steps_per_epoch, warmup_steps=0,
                   warmup="linear", warmup_start_lr=0.0, decay="constant",
                   end_lr=0.0, poly_power=None, step_boundaries_epochs=(),
                   step_factor=None, cycle_steps=None, cycle_start="min",
                   cosine_granularity="step", coarse_epochs=None):
    """Builds warmup + decay, the schedules of section 3.1 and appendix 6.5.

    Durations are in optimizer update steps (convert epochs with
    ``to_steps``), except the step-decay boundaries and the coarse cosine
    block, which the paper states in epochs. The decay runs over the
    ``total_steps - warmup_steps`` steps after the warmup (MLPerf's
    convention); step-decay boundaries are absolute training epochs.

    | decay      | after the warmup                                          |
    |------------|-----------------------------------------------------------|
    | "constant" | ``peak_lr``                                               |
    | "cosine"   | cosine from ``peak_lr`` to ``end_lr``, per step / epoch / |
    |            | ``coarse_epochs`` (``cosine_granularity``)                |
    | "poly"     | ``(peak - end) * (1 - s / D) ** poly_power + end``        |
    | "step"     | ``peak_lr * step_factor ** k`` after the k-th boundary    |
    | "cyclical" | triangle between ``end_lr`` and ``peak_lr``               |

    Arguments that belong to one decay (``poly_power``, ``step_*``,
    ``cycle_*``, ``cosine_granularity``, ``coarse_epochs``, ``end_lr``) are
    ignored by the others: the factory trusts a validated Config, whose
    ``check_applies`` (``config.APPLIES_TO``) refuses such flags. A
    zero-length warmup is no warmup, whatever ``warmup`` and
    ``warmup_start_lr`` say.

    Args:
        peak_lr: learning rate at the end of the warmup (already scaled to
            the batch size, see ``scaled_learning_rate``), >= 0.
        total_steps: update steps of the whole run, > ``warmup_steps`` unless
            the decay is "constant".
        steps_per_epoch: update steps per epoch (may be fractional), > 0.
        warmup_steps: steps of the warmup ramp, >= 0. Defaults to 0.
        warmup: ramp shape, "linear" or "cosine". Defaults to "linear".
        warmup_start_lr: learning rate at step 0, >= 0. Defaults to 0.0.
        decay: one of ``DECAYS``. Defaults to "constant".
        end_lr: final learning rate of "cosine" / "poly", minimum of
            "cyclical", >= 0. Defaults to 0.0 (MLPerf's poly uses 1e-4).
        poly_power: exponent of "poly"; None means 2.0 (MLPerf). Defaults to None.
        step_boundaries_epochs: increasing absolute epochs at which "step"
            multiplies the rate by ``step_factor``; each must fall after the
            warmup. Defaults to ().
        step_factor: multiplier per "step" boundary, > 0; None means 0.1.
            Defaults to None.
        cycle_steps: full cycle length of "cyclical" in steps, >= 2.
            Defaults to None.
        cycle_start: "min" or "max", where "cyclical" starts after the warmup.
            Defaults to "min" (Smith 2017).
        cosine_granularity: "step" (fine-grained), "epoch" (regular) or
            "coarse" (every ``coarse_epochs`` epochs), appendix 6.5.
            Defaults to "step".
        coarse_epochs: block length in epochs for "coarse", > 0.
            Defaults to None.

    Returns:
        A ``keras.optimizers.schedules.LearningRateSchedule``.
    """
    peak_lr = check_number("peak_lr", peak_lr, minimum=0.0)
    total_steps = check_int("total_steps", total_steps, minimum=1)
    steps_per_epoch = check_number("steps_per_epoch", steps_per_epoch,
                                   minimum=0.0, minimum_inclusive=False)
    warmup_steps = check_int("warmup_steps", warmup_steps, minimum=0)
    check_choice("warmup", warmup, WARMUP_SHAPES)
    check_number("warmup_start_lr", warmup_start_lr, minimum=0.0)
    check_choice("decay", decay, DECAYS)
    end_lr = check_number("end_lr", end_lr, minimum=0.0)
    check_choice("cosine_granularity", cosine_granularity, COSINE_GRANULARITIES)
    decay_steps = total_steps - warmup_steps
    if decay != "constant" and decay_steps < 1:
        raise ValueError(
            f"`warmup_steps` ({warmup_steps}) must be < `total_steps` "
            f"({total_steps}) for decay {decay!r}.")

    if decay == "constant":
        schedule = ConstantSchedule(peak_lr)
    elif decay == "cosine":
        schedule = _cosine(peak_lr, decay_steps, end_lr, steps_per_epoch,
                           warmup_steps, cosine_granularity, coarse_epochs)
    elif decay == "poly":
        power = DEFAULT_POLY_POWER if poly_power is None else poly_power
        power = check_number("poly_power", power, minimum=0.0)
        schedule = keras.optimizers.schedules.PolynomialDecay(
            peak_lr, decay_steps, end_learning_rate=end_lr, power=power)
    elif decay == "step":
        schedule = _step(peak_lr, steps_per_epoch, warmup_steps,
                         step_boundaries_epochs, step_factor)
    else:
        if cycle_steps is None:
            raise ValueError('`cycle_steps` is required for decay="cyclical".')
        schedule = TriangularCyclical(end_lr, peak_lr, cycle_steps, start=cycle_start)

    if warmup_steps == 0:
        return schedule
    return Warmup(schedule, warmup_steps, start_learning_rate=warmup_start_lr,
                  shape=warmup)


def _cosine(peak_lr, decay_steps, end_lr, steps_per_epoch, warmup_steps,
            granularity, coarse_epochs):
    if granularity == "coarse":
        if coarse_epochs is None:
            raise ValueError('`coarse_epochs` is required for cosine_granularity="coarse".')
        coarse_epochs = check_number("coarse_epochs", coarse_epochs, minimum=0.0,
                                     minimum_inclusive=False)
        block = coarse_epochs * steps_per_epoch
    elif granularity == "epoch":
        block = steps_per_epoch
    else:
        return CosineDecay(peak_lr, decay_steps, end_learning_rate=end_lr)
    # Blocks are aligned with absolute epochs: offset by the warmup.
    return CosineDecay(peak_lr, decay_steps, end_learning_rate=end_lr,
                       granularity_steps=block, granularity_offset=warmup_steps)


def _step(peak_lr, steps_per_epoch, warmup_steps, boundaries_epochs, factor):
    if not tuple(boundaries_epochs):
        raise ValueError('`step_boundaries_epochs` must be non-empty for decay="step".')
    factor = DEFAULT_STEP_FACTOR if factor is None else factor
    factor = check_number("step_factor", factor, minimum=0.0, minimum_inclusive=False)
    boundaries = []
    for epoch in boundaries_epochs:
        step = to_steps(epochs=epoch, steps_per_epoch=steps_per_epoch)
        if step <= warmup_steps:
            raise ValueError(
                f"`step_boundaries_epochs` entry {epoch} (step {step}) must fall "
                f"after the warmup ({warmup_steps} steps).")
        boundaries.append(step - warmup_steps)
    values = [peak_lr * factor ** i for i in range(len(boundaries) + 1)]
    return StepDecay(boundaries, values)
