"""Triangular cyclical learning rate (Smith 2017), tried for MNIST in appendix 6.5."""
import keras
import tensorflow as tf

from limitbatch_tf.schedules._base import float_step, register
from limitbatch_tf.schedules._checks import check_choice, check_int, check_number

CYCLE_STARTS = ("min", "max")


@register
class TriangularCyclical(keras.optimizers.schedules.LearningRateSchedule):
    """Triangular cyclical learning rate between a minimum and a maximum.

    ```
    phase = (step mod cycle_steps) / cycle_steps          # in [0, 1)
    tri   = 1 - |2 * phase - 1|    (start="min")          # 0 -> 1 -> 0
    tri   = |2 * phase - 1|        (start="max")          # 1 -> 0 -> 1
    lr    = min + (max - min) * tri
    ```

    ``start="min"`` is Smith's "triangular" policy with stepsize =
    ``cycle_steps / 2``. ``start="max"`` is the same wave shifted by half a
    cycle, which continues a warmup to the maximum without a jump. The cycle
    repeats forever: the paper's point (Figures 32-33) is that the cycle
    length is one more hyperparameter to tune.

    Args:
        min_learning_rate: lowest learning rate, >= 0.
        max_learning_rate: highest learning rate, >= ``min_learning_rate``.
        cycle_steps: steps of one full cycle (up and down), >= 2.
        start: "min" or "max", where the cycle starts. Defaults to "min".

    References:
        L. N. Smith, "Cyclical Learning Rates for Training Neural Networks",
        WACV 2017 (the paper's reference [38]).
    """

    def __init__(self, min_learning_rate, max_learning_rate, cycle_steps, start="min"):
        self.min_learning_rate = check_number(
            "min_learning_rate", min_learning_rate, minimum=0.0)
        self.max_learning_rate = check_number(
            "max_learning_rate", max_learning_rate, minimum=self.min_learning_rate)
        self.cycle_steps = check_int("cycle_steps", cycle_steps, minimum=2)
        self.start = check_choice("start", start, CYCLE_STARTS)

    def __call__(self, step):
        step = float_step(step)
        cycle = float(self.cycle_steps)
        phase = tf.math.floormod(step, cycle) / cycle
        tri = tf.abs(2.0 * phase - 1.0)
        if self.start == "min":  # static config, not a tensor
            tri = 1.0 - tri
        return (self.min_learning_rate
                + (self.max_learning_rate - self.min_learning_rate) * tri)

    def get_config(self):
        return {
            "min_learning_rate": self.min_learning_rate,
            "max_learning_rate": self.max_learning_rate,
            "cycle_steps": self.cycle_steps,
            "start": self.start,
        }
