"""LARS against the float64 NumPy reference of the MLPerf update rule."""
import numpy as np
import pytest

import optimizer_helpers as h
import optimizer_refs as refs
from limitbatch_tf.optimizers import LARS

CASES = {
    "mlperf": {},
    "nesterov": {"nesterov": True},
    "model_garden_denominator": {"decayed_grad_norm": True},
    "lr_after_momentum": {"lr_after_momentum": True},
    "lr_after_momentum_nesterov": {"lr_after_momentum": True,
                                   "nesterov": True},
    "no_momentum_epsilon": {"momentum": 0.0, "epsilon": 1e-3},
    "no_weight_decay": {"weight_decay": 0.0},
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_matches_numpy_reference(case):
    kwargs = {"momentum": 0.9, "eeta": 1e-3, "weight_decay": 1e-2,
              **CASES[case]}
    params, grads = h.make_problem(seed=1)
    history, _ = h.run_eager(LARS(h.lr_schedule(), **kwargs), params, grads)
    ref_kwargs = dict(kwargs, wd=kwargs.pop("weight_decay"))
    expected = refs.lars(params, grads, h.lr_values(), **ref_kwargs,
                         **h.default_masks())
    h.assert_histories_close(history, expected)


CLIP_CASES = {
    "clip": {},
    "clip_lr_after_momentum": {"lr_after_momentum": True},
    "clip_nesterov": {"nesterov": True},
    "clip_no_momentum": {"momentum": 0.0},
}


@pytest.mark.parametrize("case", sorted(CLIP_CASES))
def test_clip_matches_numpy_reference_of_apex_larc(case):
    """apex LARC clip mode: per-layer rate min(trust ratio, lr). eeta=0.05
    puts the ratio (~0.25) between the schedule's lrs 0.2 and 0.5, so both
    sides of the min are taken; the schedule's lr-0 steps and exact-zero
    gradients cover the unclipped ratio-1 cases."""
    kwargs = {"momentum": 0.9, "eeta": 0.05, "weight_decay": 1e-2,
              "clip": True, **CLIP_CASES[case]}
    params, grads = h.make_problem(seed=5)
    history, _ = h.run_eager(LARS(h.lr_schedule(), **kwargs), params, grads)
    ref_kwargs = dict(kwargs, wd=kwargs.pop("weight_decay"))
    expected = refs.lars(params, grads, h.lr_values(), **ref_kwargs,
                         **h.default_masks())
    h.assert_histories_close(history, expected)
    unclipped = refs.lars(params, grads, h.lr_values(),
                          **dict(ref_kwargs, clip=False), **h.default_masks())
    assert not np.allclose(expected[-1][0], unclipped[-1][0])


def test_clip_takes_both_sides_of_the_min():
    """The per-layer rate is min(r, lr): r below lr passes, r above is cut."""
    rng = np.random.default_rng(0)
    w = rng.normal(size=(6, 4)).astype(np.float32)
    g = (0.1 * rng.normal(size=(6, 4))).astype(np.float32)
    r = 0.1 * np.linalg.norm(w) / np.linalg.norm(g)
    for lr, rate in ((10 * r, r), (r / 10, r / 10)):
        opt = LARS(float(lr), momentum=0.0, eeta=0.1, clip=True)
        history, _ = h.run_eager(opt, [w], [[g]],
                                 shapes=(("dense", (6, 4), "normal"),))
        step = w.astype(np.float64) - np.asarray(history[-1][0], np.float64)
        np.testing.assert_allclose(step, rate * g, rtol=1e-4)
        np.testing.assert_allclose(float(opt.trust_ratios["dense/kernel"]),
                                   rate / lr, rtol=1e-5)


def test_regex_exclusions_and_trust_ratio_telemetry():
    params, grads = h.make_problem(seed=2, steps=12)
    opt = LARS(0.5, weight_decay=1e-2, exclude_from_weight_decay=["conv"],
               exclude_from_adaptation=["zero/"])
    history, _ = h.run_eager(opt, params, grads)
    expected = refs.lars(params, grads, [0.5] * 12, wd=1e-2,
                         decay_mask=[True, False, False, True],
                         adapt_mask=[True, True, False, False])
    h.assert_histories_close(history, expected)
    ratios = {k: float(v) for k, v in opt.trust_ratios.items()}
    assert sorted(ratios) == ["conv/kernel", "dense/kernel"]
    last = [np.asarray(p, np.float64) for p in expected[-2]]
    g = grads[-1][0].astype(np.float64)
    want = 1e-3 * np.linalg.norm(last[0]) / (
        np.linalg.norm(g) + 1e-2 * np.linalg.norm(last[0]))
    np.testing.assert_allclose(ratios["dense/kernel"], want, rtol=1e-6)


def test_zero_weights_and_zero_gradients_give_ratio_one():
    params, grads = h.make_problem(seed=3, steps=1)
    params[0][:] = 0.0  # adapted, zero weights
    grads[0][1][:] = 0.0  # adapted, zero gradient
    opt = LARS(0.5, weight_decay=1e-2, epsilon=1e-3)  # eps > 0 on purpose
    h.run_eager(opt, params, grads)
    ratios = opt.trust_ratios
    assert float(ratios["dense/kernel"]) == 1.0
    assert float(ratios["conv/kernel"]) == 1.0
    assert float(ratios["zero/kernel"]) == 1.0


def test_epsilon_zero_stays_zero():
    assert LARS(epsilon=0.0).epsilon == 0.0
    assert LARS(epsilon=0.0).get_config()["epsilon"] == 0.0


def test_weight_decay_is_not_keras_decoupled_decay():
    opt = LARS(weight_decay=1e-4)
    assert opt.weight_decay is None  # Keras's decoupled decay stays off
    assert opt.coupled_weight_decay == 1e-4
    assert opt.get_config()["weight_decay"] == 1e-4


@pytest.mark.parametrize("kwargs, match", [
    ({"momentum": 1.0}, "momentum"), ({"eeta": 0.0}, "eeta"),
    ({"epsilon": -1.0}, "epsilon"), ({"weight_decay": -1.0}, "weight_decay"),
    ({"nesterov": 1}, "nesterov"), ({"clip": "yes"}, "clip"),
    ({"exclude_from_weight_decay": "bias"}, "list"),
    ({"exclude_from_adaptation": ["("]}, "invalid regular expression"),
])
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        LARS(**kwargs)


def test_bfloat16_variables():
    h.check_bfloat16(LARS(5.0, eeta=1e-2, weight_decay=1e-2), refs.lars,
                     lr=5.0, eeta=1e-2, wd=1e-2)


def test_exclude_vectors_false_matches_reference_with_every_variable_adapted():
    """--noexclude_vectors: biases enter the trust ratio and the decay (the
    original LARS of You et al. 2017 adapts every layer)."""
    params, grads = h.make_problem(seed=4, steps=12)
    opt = LARS(h.lr_schedule(), weight_decay=1e-2, exclude_vectors=False)
    history, _ = h.run_eager(opt, params, grads)
    everything = [True] * len(params)
    expected = refs.lars(params, grads, h.lr_values()[:12], momentum=0.9,
                         eeta=1e-3, wd=1e-2, decay_mask=everything,
                         adapt_mask=everything)
    h.assert_histories_close(history, expected)
    assert "dense/bias" in opt.trust_ratios
