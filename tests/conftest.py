"""Shared pytest setup.

The CPU is split into 8 logical devices once, before TensorFlow creates its
devices, so MirroredStrategy tests can run 2, 4 or 8 replicas in one process.
Single-device tests are unaffected: they run on the first logical CPU.
"""
import limitbatch_tf  # noqa: F401  (sets TF env vars before TF loads)

import tensorflow as tf

NUM_LOGICAL_CPUS = 8


def _split_cpu():
    cpus = tf.config.list_physical_devices("CPU")
    try:
        tf.config.set_logical_device_configuration(
            cpus[0], [tf.config.LogicalDeviceConfiguration()] * NUM_LOGICAL_CPUS)
    except RuntimeError:
        pass  # already initialised by an earlier import; keep what exists


_split_cpu()


def logical_cpus(n):
    """Names of the first ``n`` logical CPU devices."""
    devices = tf.config.list_logical_devices("CPU")
    assert len(devices) >= n, f"need {n} logical CPUs, have {len(devices)}"
    return [d.name for d in devices[:n]]
