"""The optimizers' private numerics: trust ratio, norms, fused kernels.

One room for the arithmetic that LARS, LAMB and the wrappers share; the
optimizer classes hold only their published update rules.

Trust ratio. Every layer-wise optimizer in this package scales one variable's update by

    r = numerator / denominator   when both defining norms are positive,
    r = 1                         otherwise (zero weights or zero update),

optionally clipped to ``[r_min, r_max]`` (the "bound-ratio" of You et al.
2020, Table 3, an AdaBound-like bound on the ratio). The fallback of 1 is the
plain, unadapted step; it is not clipped, so a zero-initialised variable moves
by the inner step exactly as in MLPerf LARS and keras.optimizers.Lamb.

All norms are computed in float32 whatever the variable dtype (bfloat16 or
float16 norms of large tensors overflow or lose most of their precision).

Fused kernels. On CPU (no XLA), each elementwise TF op is one pass over memory, and
an optimizer update is memory-bound. Keras's SGD momentum writes its update
as ~5 ops; LARS on top needs two norms and the decayed gradient. The fused
``ResourceApply*`` kernels (the ones tf.compat.v1 optimizers used) do the
momentum recursion and the variable update in one pass, so LARS costs
about what Keras SGD momentum costs (benchmarks/optimizer_overhead.py).
They have CPU, GPU and XLA kernels for float16/bfloat16/float32/float64.

They work on variable handles, so they are used only inside
``update_step``, which tf.distribute runs per device within
``extended.update`` (where a distributed variable's ``.handle`` is the
local component's), exactly where Keras's own ``assign`` ops run.
"""
import math

import keras
import tensorflow as tf


def dense(x):
    """Densifies sparse gradients (``tf.IndexedSlices``): every update here
    needs the whole tensor's norm anyway."""
    if isinstance(x, tf.IndexedSlices):
        return tf.convert_to_tensor(x)
    return x


def as_float32(x):
    """Casts a (densified) tensor or variable to float32; no-op if it is."""
    return tf.cast(dense(x), tf.float32)


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


def _handle(variable):
    if isinstance(variable, keras.Variable):
        variable = variable.value
    return variable.handle


def _as(x, dtype):
    return tf.cast(x, dtype)


def apply_gradient_descent(variable, alpha, delta):
    """``variable -= alpha * delta``."""
    dtype = variable.dtype
    tf.raw_ops.ResourceApplyGradientDescent(
        var=_handle(variable), alpha=_as(alpha, dtype), delta=_as(delta, dtype))


def apply_momentum(variable, accum, lr, grad, momentum, nesterov):
    """``accum = momentum * accum + grad; variable -= lr * accum``.

    With ``nesterov``: ``variable -= lr * (grad + momentum * accum)``.
    """
    dtype = variable.dtype
    tf.raw_ops.ResourceApplyMomentum(
        var=_handle(variable), accum=_handle(accum), lr=_as(lr, dtype),
        grad=_as(grad, dtype), momentum=_as(momentum, dtype),
        use_nesterov=nesterov)


def apply_keras_momentum(variable, accum, lr, grad, momentum, nesterov):
    """``accum = momentum * accum - lr * grad; variable += accum``.

    Keras SGD's form (lr inside the buffer, buffer = minus the velocity).
    With ``nesterov``: ``variable += momentum * accum - lr * grad``.
    """
    dtype = variable.dtype
    tf.raw_ops.ResourceApplyKerasMomentum(
        var=_handle(variable), accum=_handle(accum), lr=_as(lr, dtype),
        grad=_as(grad, dtype), momentum=_as(momentum, dtype),
        use_nesterov=nesterov)
