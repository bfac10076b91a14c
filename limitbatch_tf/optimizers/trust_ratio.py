"""The layer-wise trust ratio and the small numeric helpers it needs.

Every layer-wise optimizer in this package scales one variable's update by

    r = numerator / denominator   when both defining norms are positive,
    r = 1                         otherwise (zero weights or zero update),

optionally clipped to ``[r_min, r_max]`` (the "bound-ratio" of You et al.
2020, Table 3, an AdaBound-like bound on the ratio). The fallback of 1 is the
plain, unadapted step; it is not clipped, so a zero-initialised variable moves
by the inner step exactly as in MLPerf LARS and keras.optimizers.Lamb.

All norms are computed in float32 whatever the variable dtype (bfloat16 or
float16 norms of large tensors overflow or lose most of their precision).
"""
import math

import tensorflow as tf


def l2_norm(x):
    """Euclidean norm of a whole tensor, computed in float32.

    ``tf.nn.l2_loss`` (sum of squares / 2) is one fused pass; the textbook
    ``sqrt(reduce_sum(square(x)))`` writes a full temporary first, which
    doubled the cost of the norms in the benchmark.
    """
    x = tf.cast(x, tf.float32)
    return tf.sqrt(2.0 * tf.nn.l2_loss(x))


def clip(x, bounds):
    """Clips ``x`` to ``bounds = (lo, hi)``; either end may be None (open)."""
    if bounds is None:
        return x
    lo, hi = bounds
    if lo is not None:
        x = tf.maximum(x, lo)
    if hi is not None:
        x = tf.minimum(x, hi)
    return x


def safe_ratio(numerator, denominator, norms_positive, bounds=None):
    """Trust ratio ``numerator / denominator``, 1 where a defining norm is 0.

    Args:
        numerator: float32 scalar, e.g. ``eeta * phi(||w||)``.
        denominator: float32 scalar, e.g. ``||g|| + wd * ||w|| + eps``.
        norms_positive: boolean scalar; where False the ratio is 1 (the
            optimizer's own zero-norm rule decides what is tested).
        bounds: optional ``(r_min, r_max)`` applied to the computed ratio
            only. Defaults to None (unbounded).

    Returns:
        float32 scalar trust ratio.
    """
    ratio = clip(tf.math.divide_no_nan(numerator, denominator), bounds)
    return tf.where(norms_positive, ratio, tf.ones_like(ratio))


def validate_interval(name, value, *, lower_limit=None):
    """Checks an optional ``(lo, hi)`` pair and returns it as a tuple or None.

    Either end may be None (open). Finite numbers only; ``lo <= hi``; with
    ``lower_limit`` set, ``lo`` must be >= it.

    Raises:
        ValueError: naming ``name`` and what was expected.
    """
    if value is None:
        return None
    try:
        lo, hi = value
    except (TypeError, ValueError):
        raise ValueError(
            f"`{name}` must be None or a pair (lo, hi); received {value!r}"
        ) from None
    for end in (lo, hi):
        if end is not None and (
            isinstance(end, bool) or not isinstance(end, (int, float))
            or not math.isfinite(end)
        ):
            raise ValueError(
                f"`{name}` ends must be finite numbers or None; "
                f"received {value!r}")
    if lo is not None and hi is not None and lo > hi:
        raise ValueError(f"`{name}` must have lo <= hi; received {value!r}")
    if lower_limit is not None and lo is not None and lo < lower_limit:
        raise ValueError(
            f"`{name}` lower end must be >= {lower_limit}; received {value!r}")
    return (None if lo is None else float(lo), None if hi is None else float(hi))
