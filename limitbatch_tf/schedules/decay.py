"""Constant and step-decay schedules, counted in optimizer update steps.

All schedules here are elementwise in ``step`` (pure TF ops, no Python
branching on tensors): they run in graph mode and under XLA, and a vector of
steps returns the vector of learning rates (used by ``tools/plot_schedule.py``).
Polynomial decay is Keras's own ``keras.optimizers.schedules.PolynomialDecay``
(its non-cycling formula is MLPerf's poly decay), re-exported by the package.
"""
import keras
import tensorflow as tf

from limitbatch_tf.schedules._base import float_step, register
from limitbatch_tf.schedules._checks import check_int, check_number


@register
class ConstantSchedule(keras.optimizers.schedules.LearningRateSchedule):
    """A constant learning rate, ``lr(step) = learning_rate``.

    Useful as the "decay" after a warmup (optimization 1 of section 3.1 with
    no decay) so that every configuration is a schedule object.

    Args:
        learning_rate: the constant learning rate, >= 0.
    """

    def __init__(self, learning_rate):
        self.learning_rate = check_number("learning_rate", learning_rate, minimum=0.0)

    def __call__(self, step):
        return tf.zeros_like(float_step(step)) + self.learning_rate

    def get_config(self):
        return {"learning_rate": self.learning_rate}


@register
class StepDecay(keras.optimizers.schedules.LearningRateSchedule):
    """Piecewise-constant learning rate that changes *at* each boundary step.

    ```
    lr(step) = values[i], i = number of boundaries b with step >= b
    ```

    Unlike ``keras.optimizers.schedules.PiecewiseConstantDecay`` (which
    switches one step *after* a boundary, ``step > b``), the new value applies
    from the boundary step itself: a boundary at the first step of epoch 30
    gives the first update of epoch 30 the decayed rate (Goyal et al. 2017:
    divide by 10 at epochs 30, 60, 80).

    Args:
        boundaries: strictly increasing step counts, each >= 1.
        values: learning rates, one more than ``boundaries``, each >= 0.
    """

    def __init__(self, boundaries, values):
        boundaries = [check_int("boundaries[]", b, minimum=1) for b in boundaries]
        values = [check_number("values[]", v, minimum=0.0) for v in values]
        if any(b2 <= b1 for b1, b2 in zip(boundaries, boundaries[1:])):
            raise ValueError(f"`boundaries` must be strictly increasing, got {boundaries}.")
        if len(values) != len(boundaries) + 1:
            raise ValueError(
                f"`values` must have len(boundaries) + 1 = {len(boundaries) + 1} "
                f"entries, got {len(values)}.")
        self.boundaries = boundaries
        self.values = values

    def __call__(self, step):
        step = float_step(step)
        boundaries = tf.constant(self.boundaries, tf.float32)
        index = tf.reduce_sum(
            tf.cast(step[..., tf.newaxis] >= boundaries, tf.int32), axis=-1)
        return tf.gather(tf.constant(self.values, tf.float32), index)

    def get_config(self):
        return {"boundaries": list(self.boundaries), "values": list(self.values)}
