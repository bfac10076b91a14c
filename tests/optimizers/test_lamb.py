"""LAMB against the NumPy reference of the paper and against keras Lamb.

LAMB moves every adapted variable by lr * ||w|| per step, so the learning
rates here are 0.1x those of the LARS tests to keep |w| = O(1) over 50 steps.
"""
import keras
import numpy as np
import pytest

import optimizer_helpers as h
import optimizer_refs as refs
from limitbatch_tf.optimizers import LAMB

LR_SCALE = 0.1

CASES = {
    "paper": {},
    "no_bias_correction": {"bias_correction": False},
    "bound_ratio": {"trust_ratio_bounds": (0.5, 2.0)},
    "weight_norm_clamp": {"weight_norm_clamp": (0.5, 3.0)},
    "epsilon_zero": {"epsilon": 0.0},
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_matches_numpy_reference(case):
    kwargs = {"weight_decay": 1e-2, **CASES[case]}
    params, grads = h.make_problem(seed=4)
    if kwargs.get("epsilon") == 0.0:
        # m / sqrt(v) is 0 / 0 for a variable whose gradients were all
        # zero so far; keep every gradient non-zero for eps = 0.
        grads = [[g + 1e-3 for g in step] for step in grads]
    history, _ = h.run_eager(LAMB(h.lr_schedule(LR_SCALE), **kwargs), params, grads)
    ref_kwargs = dict(kwargs, wd=kwargs.pop("weight_decay"))
    expected = refs.lamb(params, grads, h.lr_values(LR_SCALE), **ref_kwargs,
                         **h.default_masks())
    h.assert_histories_close(history, expected)


def test_bounds_are_active_in_the_bound_ratio_case():
    # Guards the test above: with these data the unbounded ratios leave
    # [0.5, 2], so a bound that is not applied would fail it.
    params, grads = h.make_problem(seed=4, steps=5)
    opt = LAMB(0.5, weight_decay=1e-2)
    h.run_eager(opt, params, grads)
    ratios = [float(r) for r in opt.trust_ratios.values()]
    assert min(ratios) < 0.5 or max(ratios) > 2.0, ratios


def test_parity_with_keras_lamb():
    params, grads = h.make_problem(seed=5)
    ours, _ = h.run_eager(
        LAMB(h.lr_schedule(LR_SCALE), epsilon=1e-7, exclude_vectors=False),
        params, grads)
    theirs, _ = h.run_eager(
        keras.optimizers.Lamb(h.lr_schedule(LR_SCALE), epsilon=1e-7), params, grads)
    h.assert_histories_close(ours, theirs, atol=1e-6, rtol=1e-6)


def test_excluded_variable_takes_the_plain_adam_step():
    params, grads = h.make_problem(seed=6, steps=3)
    opt = LAMB(0.05, weight_decay=1e-2, exclude_from_adaptation=["conv"],
               exclude_from_weight_decay=["zero/"])
    history, _ = h.run_eager(opt, params, grads)
    expected = refs.lamb(params, grads, [0.05] * 3, wd=1e-2,
                         decay_mask=[True, True, False, False],
                         adapt_mask=[True, False, False, True])
    h.assert_histories_close(history, expected)
    assert sorted(opt.trust_ratios) == ["dense/kernel", "zero/kernel"]


def test_lr_zero_moves_nothing_but_updates_moments():
    params, grads = h.make_problem(seed=7, steps=2)
    opt = LAMB(0.0)
    history, _ = h.run_eager(opt, params, grads)
    for a, p in zip(history[-1], params):
        np.testing.assert_array_equal(a, p)
    assert np.abs(opt._momentums[0].numpy()).sum() > 0


@pytest.mark.parametrize("kwargs, match", [
    ({"beta_1": 1.0}, "beta_1"), ({"epsilon": -1e-7}, "epsilon"),
    ({"trust_ratio_bounds": (2.0, 1.0)}, "lo <= hi"),
    ({"weight_norm_clamp": (-1.0, None)}, ">= 0"),
    ({"trust_ratio_bounds": 3.0}, "pair"),
    ({"bias_correction": "yes"}, "bias_correction"),
])
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        LAMB(**kwargs)


def test_bfloat16_variables():
    h.check_bfloat16(LAMB(0.05, weight_decay=1e-2), refs.lamb, lr=0.05,
                     wd=1e-2)
