"""Learning-rate scaling rules for a batch size B relative to a base B0.

The paper's optimization 0 (section 3.1) uses linear scaling,
``lr = base_lr * B / B0`` (Goyal et al. 2017), "or sqrt scaling if it is
better", ``lr = base_lr * sqrt(B / B0)`` (Krizhevsky 2014; Hoffer et al. 2017).
"""
import math

from limitbatch_tf.schedules._checks import check_choice, check_number

SCALING_RULES = ("none", "linear", "sqrt")


def scaled_learning_rate(base_lr, batch_size, base_batch_size, rule="linear"):
    """Scales ``base_lr``, tuned at ``base_batch_size``, to ``batch_size``.

    ```
    none:   lr = base_lr
    linear: lr = base_lr * B / B0
    sqrt:   lr = base_lr * sqrt(B / B0)
    ```

    Args:
        base_lr: learning rate at the base batch size, >= 0.
        batch_size: the (global) batch size B, > 0.
        base_batch_size: the batch size B0 at which ``base_lr`` was tuned, > 0.
        rule: one of ``SCALING_RULES``. Defaults to "linear".

    Returns:
        The scaled learning rate as a Python float.

    Raises:
        ValueError: on an unknown rule or a non-positive batch size.
    """
    check_choice("rule", rule, SCALING_RULES)
    base_lr = check_number("base_lr", base_lr, minimum=0.0)
    batch_size = check_number("batch_size", batch_size, minimum=0.0,
                              minimum_inclusive=False)
    base_batch_size = check_number("base_batch_size", base_batch_size,
                                   minimum=0.0, minimum_inclusive=False)
    ratio = batch_size / base_batch_size
    if rule == "linear":
        return base_lr * ratio
    if rule == "sqrt":
        return base_lr * math.sqrt(ratio)
    return base_lr
