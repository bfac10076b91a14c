"""The training loop's gradient measurement (train/steps.py) on the
synthetic least-squares workload, with the squared-error loss made explicit,
against the closed form of forecast/linear.py."""
import keras
import numpy as np
import pytest
import tensorflow as tf

from limitbatch_tf.data.base import StepLayout
from limitbatch_tf.forecast import linear
from limitbatch_tf.train.probes import NoiseScaleEMA
from limitbatch_tf.train.steps import StepFunctions


def _half_squared_error(labels, predictions):
    """Per-example (w.x - y)^2 / 2: the workload's loss (linear.py)."""
    return 0.5 * tf.square(predictions[:, 0] - labels)


def test_step_functions_measure_the_closed_form_noise_scale():
    dim, batch, micro = 16, 64, 16
    problem = linear.LinearProblem.make(dim=dim, sigma=1.0, seed=0)
    rng = np.random.default_rng(3)
    w = problem.w_star + 0.3 * rng.normal(size=dim)
    steps = 1500
    x, y = problem.sample(steps * batch, rng)
    strategy = tf.distribute.get_strategy()
    layout = StepLayout.resolve(batch, 1, micro_batch_size=micro)
    model = keras.Sequential([keras.Input((dim,)),
                              keras.layers.Dense(1, use_bias=False)])
    model.layers[0].kernel.assign(w[:, None].astype(np.float32))
    optimizer = keras.optimizers.SGD(0.0)  # measure at fixed weights
    optimizer.build(model.trainable_variables)
    fns = StepFunctions(strategy, model, optimizer, layout, _half_squared_error,
                        measure_gradients=True)
    data = tf.data.Dataset.from_tensor_slices(
        (x.astype(np.float32), y.astype(np.float32),
         np.ones(len(y), np.float32))).batch(micro)
    iterator = iter(strategy.experimental_distribute_dataset(data))
    _, small_sum, big_sum, _ = fns.train_loop(iterator, tf.constant(steps))
    ema = NoiseScaleEMA(decay=0.0)
    ema.update(float(small_sum) / steps, float(big_sum) / steps, micro, batch)
    truth = problem.closed_form(w)
    assert ema.grad_sq == pytest.approx(truth["grad_sq"], rel=0.10)
    assert ema.trace == pytest.approx(truth["trace_sigma"], rel=0.10)
    assert ema.b_simple == pytest.approx(truth["b_simple"], rel=0.10)
