"""Thin wrappers over TensorFlow's fused training kernels.

Why: on CPU (no XLA), each elementwise TF op is one pass over memory, and
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
import keras
import tensorflow as tf


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
