"""Schedules as Keras objects: serialization, optimizers, tf.function and XLA."""
import json

import keras
import numpy as np
import pytest
import tensorflow as tf

from limitbatch_tf.schedules import (ConstantSchedule, CosineDecay, PolynomialDecay,
                                     StepDecay, TriangularCyclical, Warmup,
                                     build_schedule)

SCHEDULES = {
    "constant": lambda: ConstantSchedule(0.3),
    "cosine": lambda: CosineDecay(1.0, 50, end_learning_rate=0.1),
    "cosine_granular": lambda: CosineDecay(1.0, 50, granularity_steps=8 / 7,
                                           granularity_offset=7),
    "step": lambda: StepDecay([10, 20], [1.0, 0.5, 0.25]),
    "cyclical": lambda: TriangularCyclical(0.1, 1.0, 12, start="max"),
    "warmup_poly": lambda: Warmup(PolynomialDecay(2.0, 40, end_learning_rate=1e-4),
                                  warmup_steps=8, start_learning_rate=0.01),
    "warmup_cos_nested": lambda: Warmup(Warmup(CosineDecay(1.0, 30), 5), 3, shape="cosine"),
    "factory": lambda: build_schedule(1.0, total_steps=60, steps_per_epoch=6,
                                      warmup_steps=6, decay="step",
                                      step_boundaries_epochs=[4, 8]),
}
STEPS = np.array([0, 1, 3, 5, 8, 9, 10, 17, 20, 33, 50, 60, 75], np.int64)


@pytest.mark.parametrize("name", sorted(SCHEDULES))
def test_serialization_round_trip(name):
    schedule = SCHEDULES[name]()
    config = json.loads(json.dumps(keras.optimizers.schedules.serialize(schedule)))
    restored = keras.optimizers.schedules.deserialize(config)
    assert type(restored) is type(schedule)
    assert restored.get_config() == schedule.get_config()
    np.testing.assert_array_equal(restored(STEPS).numpy(), schedule(STEPS).numpy())


def test_registered_under_package_name():
    config = keras.optimizers.schedules.serialize(ConstantSchedule(0.1))
    assert config["registered_name"] == "limitbatch_tf>ConstantSchedule"


@pytest.mark.parametrize("name", ["warmup_poly", "cosine_granular", "cyclical"])
def test_sgd_applies_schedule_in_tf_function(name):
    schedule = SCHEDULES[name]()
    optimizer = keras.optimizers.SGD(learning_rate=schedule)
    var = keras.Variable(np.zeros(3, np.float32))
    grad = tf.constant([1.0, -2.0, 0.5])

    @tf.function
    def train(n):
        for _ in tf.range(n):
            optimizer.apply_gradients([(grad, var)])
        return optimizer.learning_rate

    num_steps = 12
    last_lr = train(tf.constant(num_steps))
    lrs = schedule(np.arange(num_steps)).numpy().astype(np.float64)
    np.testing.assert_allclose(var.numpy(), -lrs.sum() * grad.numpy(), rtol=1e-5)
    # After 12 updates the optimizer reports the rate of step 12.
    assert float(last_lr) == pytest.approx(float(schedule(num_steps)), rel=1e-6)

    restored = keras.optimizers.SGD.from_config(optimizer.get_config())
    assert type(restored._learning_rate) is type(schedule)


def test_all_schedules_compile_with_xla():
    steps = tf.constant(STEPS)
    for name, make in SCHEDULES.items():
        schedule = make()
        compiled = tf.function(schedule.__call__, jit_compile=True)
        # XLA may fuse and reorder float32 ops: equal up to float32 rounding.
        np.testing.assert_allclose(compiled(steps).numpy(), schedule(steps).numpy(),
                                   rtol=1e-6, atol=1e-6, err_msg=name)
