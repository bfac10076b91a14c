"""Cosine decay with the paper's fine-grained / regular / coarse-grained variants."""
import math

import keras
import tensorflow as tf

from limitbatch_tf.schedules._base import float_step, register
from limitbatch_tf.schedules._checks import check_int, check_number

# Relative slack when flooring step / granularity_steps in float32: an exact
# block boundary such as step 8 with 8/7 steps per epoch must land in block 7,
# but 8 / float32(8/7) = 6.9999995 floors to 6. Steps closer to a fractional
# boundary than float32 resolves may still fall on either side of it.
_FLOOR_SLACK = 2.0 ** -21


@register
class CosineDecay(keras.optimizers.schedules.LearningRateSchedule):
    """Half-cosine decay from ``initial_learning_rate`` to ``end_learning_rate``.

    Loshchilov & Hutter (2017) without restarts, the "cosine LR decay" of the
    paper's optimization 0 (section 3.1):

    ```
    s = step                                          # fine-grained
    s = floor((step + offset) / g) * g - offset       # granular, g = granularity_steps
    p = min(max(s, 0), decay_steps) / decay_steps
    lr = end + (initial - end) * 0.5 * (1 + cos(pi * p))
    ```

    Appendix 6.5 compares a *fine-grained* cosine (evaluated every step), a
    *regular* one (held constant over each epoch: ``g = steps_per_epoch``)
    and a *coarse-grained* one (held over N epochs: ``g = N *
    steps_per_epoch``). ``granularity_offset`` aligns the blocks with absolute
    epochs when this schedule's step 0 is not the start of training (after a
    warmup of ``offset`` steps). Keras's ``CosineDecay(alpha=a)`` equals
    ``end_learning_rate = a * initial_learning_rate`` here.

    Args:
        initial_learning_rate: learning rate at step 0, >= 0.
        decay_steps: steps of the decay, >= 1; later steps give ``end``.
        end_learning_rate: final learning rate, >= 0. Defaults to 0.0.
        granularity_steps: block length g in steps (may be fractional, e.g.
            ``num_examples / batch_size``), > 0, or None to evaluate the cosine
            at every step. Defaults to None.
        granularity_offset: steps of training before this schedule's step 0
            (e.g. the warmup), >= 0; only with ``granularity_steps``.
            Defaults to 0.0.

    References:
        Loshchilov & Hutter, "SGDR: Stochastic Gradient Descent with Warm
        Restarts", ICLR 2017; You et al. 2020, appendix 6.5, Figures 25-27.
    """

    def __init__(self, initial_learning_rate, decay_steps, end_learning_rate=0.0,
                 granularity_steps=None, granularity_offset=0.0):
        self.initial_learning_rate = check_number(
            "initial_learning_rate", initial_learning_rate, minimum=0.0)
        self.decay_steps = check_int("decay_steps", decay_steps, minimum=1)
        self.end_learning_rate = check_number(
            "end_learning_rate", end_learning_rate, minimum=0.0)
        if granularity_steps is not None:
            granularity_steps = check_number(
                "granularity_steps", granularity_steps, minimum=0.0,
                minimum_inclusive=False)
        self.granularity_steps = granularity_steps
        self.granularity_offset = check_number(
            "granularity_offset", granularity_offset, minimum=0.0)
        if granularity_steps is None and self.granularity_offset != 0.0:
            raise ValueError("`granularity_offset` needs `granularity_steps`.")

    def __call__(self, step):
        step = float_step(step)
        if self.granularity_steps is not None:  # static config, not a tensor
            g = tf.constant(self.granularity_steps, tf.float32)
            absolute = step + self.granularity_offset
            block = tf.floor(absolute / g * (1.0 + _FLOOR_SLACK))
            step = block * g - self.granularity_offset
        progress = tf.minimum(tf.maximum(step, 0.0), float(self.decay_steps))
        progress = progress / float(self.decay_steps)
        cosine = 0.5 * (1.0 + tf.cos(math.pi * progress))
        return (self.end_learning_rate
                + (self.initial_learning_rate - self.end_learning_rate) * cosine)

    def get_config(self):
        return {
            "initial_learning_rate": self.initial_learning_rate,
            "decay_steps": self.decay_steps,
            "end_learning_rate": self.end_learning_rate,
            "granularity_steps": self.granularity_steps,
            "granularity_offset": self.granularity_offset,
        }
