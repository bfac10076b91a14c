"""LayerwiseTrustRatio and CoupledWeightDecay: equivalences and references."""
import keras
import numpy as np
import pytest

import optimizer_helpers as h
import optimizer_refs as refs
from limitbatch_tf.optimizers import (LAMB, LARS, CoupledWeightDecay,
                                      LayerwiseTrustRatio)


@pytest.mark.parametrize("nesterov", [False, True])
def test_sgd_momentum_equals_lars_lr_after_momentum(nesterov):
    # The schedule changes lr at steps 3 and 30, so the lr-inside-the-buffer
    # form (MLPerf default) would differ: the equality is the form.
    params, grads = h.make_problem(seed=8)
    wrapper = LayerwiseTrustRatio(
        keras.optimizers.SGD(h.lr_schedule(), momentum=0.9,
                             nesterov=nesterov),
        eeta=1e-3, weight_decay=1e-2)
    lars = LARS(h.lr_schedule(), momentum=0.9, nesterov=nesterov, eeta=1e-3,
                weight_decay=1e-2, decayed_grad_norm=True,
                lr_after_momentum=True)
    ours, _ = h.run_eager(wrapper, params, grads)
    theirs, _ = h.run_eager(lars, params, grads)
    h.assert_histories_close(ours, theirs)
    expected = refs.lars(params, grads, h.lr_values(), momentum=0.9,
                         nesterov=nesterov, wd=1e-2, decayed_grad_norm=True,
                         lr_after_momentum=True, **h.default_masks())
    h.assert_histories_close(ours, expected)
    assert wrapper.ratio_placement == "gradient"


def test_adam_with_bounds_equals_lamb_with_bounds():
    # Keras Adam adds epsilon before bias correction, LAMB after; with a
    # tiny epsilon both are m_hat / sqrt(v_hat) to float32 precision.
    params, grads = h.make_problem(seed=9)
    bounds = (0.5, 2.0)
    wrapper = LayerwiseTrustRatio(
        keras.optimizers.Adam(h.lr_schedule(0.1), epsilon=1e-12),
        weight_decay=1e-2, trust_ratio_bounds=bounds)
    lamb = LAMB(h.lr_schedule(0.1), epsilon=1e-12, weight_decay=1e-2,
                trust_ratio_bounds=bounds)
    ours, _ = h.run_eager(wrapper, params, grads)
    theirs, _ = h.run_eager(lamb, params, grads)
    # Looser than 1e-6: Keras Adam computes 1 - beta ** t in float32 (LAMB
    # in float64), a 1e-5..1e-6 relative error on its step. The trust ratio
    # normalises it away, except for the excluded bias and wherever the
    # bounds clip the ratio; over 50 steps that adds up to ~1e-6 absolute.
    h.assert_histories_close(ours, theirs, atol=5e-6, rtol=1e-5)
    ratios = {k: float(v) for k, v in wrapper.trust_ratios.items()}
    assert ratios == pytest.approx(
        {k: float(v) for k, v in lamb.trust_ratios.items()}, rel=1e-5)
    assert wrapper.ratio_placement == "update"


def test_adagrad_against_numpy_reference():
    params, grads = h.make_problem(seed=10)
    wrapper = LayerwiseTrustRatio(
        keras.optimizers.Adagrad(h.lr_schedule(0.1), epsilon=1e-7),
        eeta=0.5, weight_decay=1e-2, trust_ratio_bounds=(None, 1.5),
        exclude_from_adaptation=["zero/"])
    history, _ = h.run_eager(wrapper, params, grads)
    masks = h.default_masks()
    masks["adapt_mask"] = [True, True, False, False]
    expected = refs.layerwise_adagrad(
        params, grads, h.lr_values(0.1), eeta=0.5, wd=1e-2,
        trust_ratio_bounds=(None, 1.5), **masks)
    h.assert_histories_close(history, expected)


def test_inner_iterations_follow_the_wrapper():
    params, grads = h.make_problem(seed=11, steps=3)
    inner = keras.optimizers.Nadam(0.01)
    wrapper = LayerwiseTrustRatio(inner)
    h.run_eager(wrapper, params, grads)
    assert int(inner.iterations) == int(wrapper.iterations) == 3
    # Nadam's per-step hook ran once per step: u_product = prod of u_t.
    u = [0.9 * (1 - 0.5 * 0.96 ** t) for t in (1, 2, 3)]
    np.testing.assert_allclose(float(inner._u_product), np.prod(u), rtol=1e-6)
    # Inner slots travel with the wrapper (saving, checkpoints).
    assert all(any(v is w for w in wrapper.variables)
               for v in inner.variables)


def test_inner_iterations_count_real_steps_under_accumulation():
    params, grads = h.make_problem(seed=11, steps=4)
    inner = keras.optimizers.Adam(0.01)
    wrapper = LayerwiseTrustRatio(inner, gradient_accumulation_steps=2)
    h.run_eager(wrapper, params, grads)
    assert int(wrapper.iterations) == int(inner.iterations) == 2


def test_coupled_weight_decay_momentum_against_reference():
    params, grads = h.make_problem(seed=12)
    opt = CoupledWeightDecay(
        keras.optimizers.SGD(h.lr_schedule(0.1), momentum=0.9),
        weight_decay=1e-2, exclude_from_weight_decay=["conv"])
    history, _ = h.run_eager(opt, params, grads)
    expected = refs.l2_momentum(params, grads, h.lr_values(0.1), wd=1e-2,
                                decay_mask=[True, False, False, True])
    h.assert_histories_close(history, expected)
    assert opt.trust_ratios == {}


def test_bfloat16_variables_keep_small_updates_and_float32_norms():
    # At unit lr the SGD step r * g is ~1e-3 * |w|, below half a bfloat16
    # ulp (2**-9 |w|): applying it and diffing would measure 0 and never
    # move. The captured increment is exact, so lr = 10 moves w by ~1e-2|w|.
    params, grads = h.make_problem(seed=13, steps=1)
    wrapper = LayerwiseTrustRatio(keras.optimizers.SGD(10.0), eeta=1e-3)
    _, variables = h.run_eager(wrapper, params, grads, dtype="bfloat16")
    assert variables[0].dtype == "bfloat16"

    def bf16(x):
        return keras.ops.convert_to_numpy(keras.ops.cast(
            keras.ops.cast(x, "bfloat16"), "float32")).astype(np.float64)

    w0, g0 = bf16(params[0]), bf16(grads[0][0])
    want = 1e-3 * np.linalg.norm(w0) / np.linalg.norm(g0)  # float32 norms
    np.testing.assert_allclose(
        float(wrapper.trust_ratios["dense/kernel"]), want, rtol=1e-5)
    got = bf16(variables[0])
    np.testing.assert_allclose(got, w0 - 10.0 * want * g0, rtol=2 ** -8)
    assert np.abs(got - w0).max() > 4 * 2 ** -9 * np.abs(w0).max() / 10


@pytest.mark.parametrize("make_inner, match", [
    (lambda: keras.optimizers.Ftrl(), "cannot wrap Ftrl"),
    (lambda: keras.optimizers.Lamb(), "cannot wrap Lamb"),
    (lambda: LARS(), "cannot wrap LARS"),
    (lambda: keras.optimizers.SGD(clipnorm=1.0), "clipnorm"),
    (lambda: keras.optimizers.Adam(weight_decay=0.1), "weight_decay"),
    (lambda: keras.optimizers.Adam(use_ema=True), "use_ema"),
    (lambda: "adam", "keras.optimizers.Optimizer"),
])
def test_refuses_inner(make_inner, match):
    with pytest.raises(ValueError, match=match):
        LayerwiseTrustRatio(make_inner())


def test_refuses_reused_inner_and_own_learning_rate():
    inner = keras.optimizers.Adam()
    LayerwiseTrustRatio(inner)
    with pytest.raises(ValueError, match="already wrapped"):
        CoupledWeightDecay(inner)
    with pytest.raises(ValueError, match="learning rate"):
        LayerwiseTrustRatio(keras.optimizers.Adam(), learning_rate=0.1)
    with pytest.raises(ValueError, match="exclude_from_adaptation"):
        CoupledWeightDecay(keras.optimizers.Adam(),
                           exclude_from_adaptation=["x"])
