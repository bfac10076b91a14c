"""Durations in epochs or steps, converted to optimizer update steps in one place.

Every schedule in this package counts *optimizer update steps* (the
``iterations`` a Keras optimizer passes to its schedule). Configs may give a
duration in epochs instead; ``to_steps`` is the single conversion.

An epoch holds ``steps_per_epoch = num_examples / batch_size`` update steps,
kept as a fraction: with a repeating input pipeline the batches run across
epoch boundaries, and the paper counts that way ("90 epochs = 141 steps" at
B = 819200 on ImageNet's 1,281,167 images, section 3.1). A duration of
``e`` epochs is the smallest whole number of steps that covers it,
``ceil(e * steps_per_epoch)``.
"""
import math

from limitbatch_tf.schedules._checks import check_int, check_number

# Relative slack so that e.g. 3 * (10 / 3) = 10.000000000000002 rounds to 10.
_CEIL_TOLERANCE = 1e-9


def steps_per_epoch(num_examples, batch_size):
    """Update steps per epoch, ``num_examples / batch_size`` (a float).

    Args:
        num_examples: examples in one epoch of the training set, > 0.
        batch_size: global batch size per update step, > 0.
    """
    num_examples = check_int("num_examples", num_examples, minimum=1)
    batch_size = check_int("batch_size", batch_size, minimum=1)
    return num_examples / batch_size


def to_steps(epochs=None, steps=None, steps_per_epoch=None):
    """Converts a duration given in epochs *or* steps to update steps.

    Args:
        epochs: duration in epochs (may be fractional), >= 0, or None.
        steps: duration in update steps (a whole number), >= 0, or None.
        steps_per_epoch: update steps per epoch (may be fractional, see
            ``steps_per_epoch()``), > 0; needed only with ``epochs``.
            Defaults to None.

    Returns:
        The duration in whole update steps: ``steps`` as given, or
        ``ceil(epochs * steps_per_epoch)``.

    Raises:
        ValueError: if both or neither of ``epochs`` and ``steps`` are given,
            or ``epochs`` is given without ``steps_per_epoch``.
    """
    if (epochs is None) == (steps is None):
        raise ValueError(
            f"give exactly one of `epochs` and `steps`, got epochs={epochs!r}, "
            f"steps={steps!r}.")
    if steps is not None:
        return check_int("steps", steps, minimum=0)
    epochs = check_number("epochs", epochs, minimum=0.0)
    if steps_per_epoch is None:
        raise ValueError("`steps_per_epoch` is required to convert `epochs` to steps.")
    spe = check_number("steps_per_epoch", steps_per_epoch, minimum=0.0,
                       minimum_inclusive=False)
    return int(math.ceil(epochs * spe * (1.0 - _CEIL_TOLERANCE)))
