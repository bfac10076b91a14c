"""Helpers shared by the schedules: step casting, serialization registration."""
import keras
import tensorflow as tf

# Every schedule of this package is registered under this package name, so
# `keras.optimizers.schedules.deserialize` finds it by its registered name.
register = keras.saving.register_keras_serializable(package="limitbatch_tf")


def float_step(step):
    """The optimizer step as float32, elementwise (scalars or vectors of steps).

    float32 counts whole steps exactly up to 2**24 (16.7M updates), far beyond
    the step counts of the paper's runs.
    """
    return tf.cast(step, tf.float32)
