"""Learning-rate warmup as a wrapper around any decay schedule."""
import math

import keras
import tensorflow as tf

from limitbatch_tf.schedules._base import float_step, register
from limitbatch_tf.schedules._checks import check_choice, check_int, check_number

WARMUP_SHAPES = ("linear", "cosine")


@register
class Warmup(keras.optimizers.schedules.LearningRateSchedule):
    """Ramps up to a decay schedule's first value, then hands over to it.

    ```
    target = decay_schedule(0)
    f      = step / warmup_steps                          (shape="linear")
    f      = 0.5 * (1 - cos(pi * step / warmup_steps))    (shape="cosine")
    lr     = start + (target - start) * f        if step < warmup_steps
    lr     = decay_schedule(step - warmup_steps) otherwise
    ```

    The decay schedule counts its own steps from the end of the warmup, as
    MLPerf's ResNet-50 does (poly decay over ``total - warmup`` steps) and
    optax's ``join_schedules`` / big_vision's warmup do. The ramp ends at the
    decay's own first value, so the composition is continuous by construction
    and the peak is stated once (in the decay schedule). Step 0 gives
    ``start_learning_rate``: with the default 0 the first update is a no-op,
    as in MLPerf and Keras's ``CosineDecay(warmup_steps=...)``.

    The linear ramp is the "gradual warmup" of Goyal et al. (2017), the
    paper's optimization 1 (section 3.1); the half-cosine ramp is the "cosine
    learning rate warmup" of appendix 6.5, Figure 29.

    Args:
        decay_schedule: a ``LearningRateSchedule`` used after the warmup.
        warmup_steps: length of the ramp in update steps, >= 1.
        start_learning_rate: learning rate at step 0, >= 0. Defaults to 0.0.
        shape: "linear" or "cosine". Defaults to "linear".
    """

    def __init__(self, decay_schedule, warmup_steps, start_learning_rate=0.0,
                 shape="linear"):
        if not isinstance(decay_schedule, keras.optimizers.schedules.LearningRateSchedule):
            raise ValueError(
                "`decay_schedule` must be a keras LearningRateSchedule, got "
                f"{type(decay_schedule).__name__}.")
        self.decay_schedule = decay_schedule
        self.warmup_steps = check_int("warmup_steps", warmup_steps, minimum=1)
        self.start_learning_rate = check_number(
            "start_learning_rate", start_learning_rate, minimum=0.0)
        self.shape = check_choice("shape", shape, WARMUP_SHAPES)

    def __call__(self, step):
        step = float_step(step)
        warmup = float(self.warmup_steps)
        target = tf.cast(self.decay_schedule(tf.constant(0.0)), tf.float32)
        fraction = tf.minimum(step / warmup, 1.0)
        if self.shape == "cosine":  # static config, not a tensor
            fraction = 0.5 * (1.0 - tf.cos(math.pi * fraction))
        ramp = self.start_learning_rate + (target - self.start_learning_rate) * fraction
        after = tf.cast(self.decay_schedule(tf.maximum(step - warmup, 0.0)), tf.float32)
        return tf.where(step < warmup, ramp, after)

    def get_config(self):
        return {
            "decay_schedule": keras.optimizers.schedules.serialize(self.decay_schedule),
            "warmup_steps": self.warmup_steps,
            "start_learning_rate": self.start_learning_rate,
            "shape": self.shape,
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["decay_schedule"] = keras.optimizers.schedules.deserialize(
            config["decay_schedule"])
        return cls(**config)
