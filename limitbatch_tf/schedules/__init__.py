"""Learning-rate scaling rules and schedules (section 3.1 and appendix 6.5).

All schedules count optimizer update steps; ``to_steps`` converts epochs.
"""
from keras.optimizers.schedules import PolynomialDecay

from limitbatch_tf.schedules.cosine import CosineDecay
from limitbatch_tf.schedules.cyclical import CYCLE_STARTS, TriangularCyclical
from limitbatch_tf.schedules.decay import ConstantSchedule, StepDecay
from limitbatch_tf.schedules.durations import steps_per_epoch, to_steps
from limitbatch_tf.schedules.factory import (COSINE_GRANULARITIES, DECAYS,
                                             build_schedule)
from limitbatch_tf.schedules.scaling import SCALING_RULES, scaled_learning_rate
from limitbatch_tf.schedules.warmup import WARMUP_SHAPES, Warmup

__all__ = [
    "COSINE_GRANULARITIES", "CYCLE_STARTS", "DECAYS", "SCALING_RULES",
    "WARMUP_SHAPES", "ConstantSchedule", "CosineDecay", "PolynomialDecay",
    "StepDecay", "TriangularCyclical", "Warmup", "build_schedule",
    "scaled_learning_rate", "steps_per_epoch", "to_steps",
]
