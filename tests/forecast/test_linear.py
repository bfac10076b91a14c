"""The synthetic least-squares workload: closed form vs per-example gradients,
and the package's estimator and forecast within 10% of the closed form."""
import numpy as np
import pytest

from limitbatch_tf.forecast import linear, predict
from limitbatch_tf.forecast.noise_scale import NoiseScaleEMA


def test_closed_form_matches_per_example_gradient_moments():
    """tr(Sigma), |G|^2 from 400K sampled per-example gradients (the
    definition, NumPy) against the derivation in linear.py's docstring."""
    problem = linear.LinearProblem.make(dim=8, sigma=0.7, seed=1)
    rng = np.random.default_rng(2)
    w = problem.w_star + 0.4 * rng.normal(size=8)
    x, y = problem.sample(400_000, rng)
    g = linear.per_example_gradients(x, y, w)
    mean = g.mean(0)
    trace = float(((g - mean) ** 2).sum(1).mean())
    truth = problem.closed_form(w)
    assert float(mean @ mean) == pytest.approx(truth["grad_sq"], rel=0.02)
    assert trace == pytest.approx(truth["trace_sigma"], rel=0.01)
    assert truth["b_simple"] == pytest.approx(
        8 + 1 + 8 * 0.49 / truth["grad_sq"])


def test_estimator_at_fixed_weights_within_10_percent():
    """Two-size estimates from micro-batch (16) and batch (64) gradients,
    averaged over 3000 steps as the loop's EMA would, vs the closed form."""
    problem = linear.LinearProblem.make(dim=16, sigma=1.0, seed=0)
    rng = np.random.default_rng(1)
    w = problem.w_star + 0.3 * rng.normal(size=16)
    small = big = 0.0
    steps = 3000
    for _ in range(steps):
        s, b, _ = linear.measured_squares(problem, w, 64, 16, rng)
        small, big = small + s, big + b
    ema = NoiseScaleEMA(decay=0.0)
    ema.update(small / steps, big / steps, 16, 64)
    truth = problem.closed_form(w)
    assert ema.grad_sq == pytest.approx(truth["grad_sq"], rel=0.10)
    assert ema.trace == pytest.approx(truth["trace_sigma"], rel=0.10)
    assert ema.b_simple == pytest.approx(truth["b_simple"], rel=0.10)


def test_forecast_on_trajectory_within_10_percent_of_closed_form():
    """Online SGD: the forecast's B_crit (last third of training) against
    the closed form's tr(Sigma)/|G|^2 over the same evaluations. B_simple
    grows ~100x over the run, so a wrong window or an end-of-run reading
    would miss by far more than 10%."""
    problem = linear.LinearProblem.make(dim=16, sigma=1.0, seed=0)
    history = linear.train(problem, batch=64, micro_batch=16,
                           learning_rate=0.05, steps=900, eval_every=10)
    estimate = predict.b_crit_from_history(history)
    window = [h for h in history if h["step"] > 600]
    assert (estimate.first_step, estimate.last_step) == (610, 900)
    truth = (np.mean([h["closed_form_trace_sigma"] for h in window])
             / np.mean([h["closed_form_grad_sq"] for h in window]))
    assert estimate.b_crit == pytest.approx(truth, rel=0.10)
    start = history[0]["closed_form_b_simple"]
    assert truth > 50 * start  # the trajectory matters
