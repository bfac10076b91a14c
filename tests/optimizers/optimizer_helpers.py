"""Shared fixtures-as-functions for the optimizer tests."""
import json

import keras
import numpy as np

# (scope, shape, init): a dense kernel, a conv kernel, a rank-1 bias
# (excluded by the default rank rule) and a zero-initialised kernel.
SHAPES = (("dense", (6, 4), "normal"), ("conv", (3, 3, 2, 4), "normal"),
          ("dense", (4,), "normal"), ("zero", (5, 3), "zeros"))
STEPS = 50
# Iterations 0..3 have lr 0 (warmup from 0); lr changes at 30, which tells
# "lr inside the momentum buffer" from "lr after momentum" apart.
LR_BOUNDARIES, LR_VALUES = [3, 30], [0.0, 0.5, 0.2]
# Steps at which some gradients are exactly zero: (step, variable index).
ZERO_GRADS = [(s, 1) for s in range(10, 14)] + [(20, i) for i in range(4)]


def lr_schedule(scale=1.0):
    return keras.optimizers.schedules.PiecewiseConstantDecay(
        LR_BOUNDARIES, [scale * v for v in LR_VALUES])


def lr_values(scale=1.0, steps=STEPS):
    """The schedule's value at each iteration, for the NumPy references."""
    out = []
    for t in range(steps):
        k = sum(t > b for b in LR_BOUNDARIES)
        out.append(scale * LR_VALUES[k])
    return out


def make_problem(seed=0, steps=STEPS, grad_scale=0.1, shapes=SHAPES):
    """Initial values, per-step gradients (float32) with exact zeros."""
    rng = np.random.default_rng(seed)
    params = [
        (0.5 * rng.normal(size=shape) if init == "normal"
         else np.zeros(shape)).astype(np.float32)
        for _, shape, init in shapes]
    grads = [[(grad_scale * rng.normal(size=shape)).astype(np.float32)
              for _, shape, _ in shapes] for _ in range(steps)]
    for step, index in ZERO_GRADS:
        if step < steps and index < len(shapes):
            grads[step][index] = np.zeros_like(grads[step][index])
    return params, grads


def make_variables(params, shapes=SHAPES, dtype="float32"):
    """Keras variables named ``scope/kernel`` or ``scope/bias`` (rank 1)."""
    out = []
    for value, (scope, shape, _) in zip(params, shapes):
        with keras.name_scope(scope):
            out.append(keras.Variable(
                value, dtype=dtype,
                name="bias" if len(shape) == 1 else "kernel"))
    return out


def run_eager(optimizer, params, grads, shapes=SHAPES, dtype="float32"):
    """Applies ``grads`` step by step; returns values after every step."""
    variables = make_variables(params, shapes, dtype)
    history = []
    for step_grads in grads:
        optimizer.apply([keras.ops.convert_to_tensor(g, dtype)
                         for g in step_grads], variables)
        history.append([np.asarray(v.numpy(), np.float64)
                        for v in variables])
    return history, variables


def default_masks(shapes=SHAPES):
    """Rank <= 1 excluded from decay and adaptation."""
    keep = [len(shape) > 1 for _, shape, _ in shapes]
    return {"decay_mask": keep, "adapt_mask": keep}


def assert_histories_close(actual, expected, atol=1e-6, rtol=1e-6):
    """Every variable after every step; float32 against float64.

    atol 1e-6 as asked; rtol 1e-6 on top because weights reach |w| ~ 2,
    where one float32 ulp is 2.4e-7 and 50 steps of rounding add up to a
    few ulps.
    """
    assert len(actual) == len(expected)
    for step, (a_step, e_step) in enumerate(zip(actual, expected)):
        for i, (a, e) in enumerate(zip(a_step, e_step)):
            np.testing.assert_allclose(
                a, e, atol=atol, rtol=rtol,
                err_msg=f"step {step}, variable {i}")


def check_config_roundtrip(optimizer, optimizers_api=True):
    """get_config -> JSON -> from_config -> get_config is the identity.

    The same through keras.saving.serialize/deserialize_keras_object (the
    path of model.save) and, with ``optimizers_api``, through
    keras.optimizers.serialize/deserialize. Returns the restored optimizer.
    """
    config = optimizer.get_config()
    as_json = json.loads(json.dumps(config))
    restored = type(optimizer).from_config(json.loads(json.dumps(config)))
    assert json.loads(json.dumps(restored.get_config())) == as_json
    apis = [(keras.saving.serialize_keras_object,
             keras.saving.deserialize_keras_object)]
    if optimizers_api:
        apis.append((keras.optimizers.serialize, keras.optimizers.deserialize))
    for serialize, deserialize in apis:
        again = deserialize(json.loads(json.dumps(serialize(optimizer))))
        assert type(again) is type(optimizer), (serialize, again)
        assert json.loads(json.dumps(again.get_config())) == as_json
    return restored


def round_to_bfloat16(arrays):
    """What a bfloat16 variable/gradient holds, as float64 NumPy arrays."""
    return [np.asarray(keras.ops.convert_to_numpy(keras.ops.cast(
        keras.ops.cast(a, "bfloat16"), "float32")), np.float64)
        for a in arrays]


def check_bfloat16(optimizer, reference, lr, steps=3, **ref_kwargs):
    """``optimizer`` (learning rate ``lr``) on bfloat16 variables follows
    the float64 reference to bfloat16 accuracy
    (rtol 2**-6: a few bf16 roundings of the state per step); the trust
    ratios are float32 variables."""
    params, grads = make_problem(seed=21, steps=steps)
    history, variables = run_eager(optimizer, params, grads, dtype="bfloat16")
    expected = reference(round_to_bfloat16(params),
                         [round_to_bfloat16(g) for g in grads],
                         [lr] * steps, **ref_kwargs, **default_masks())
    assert all(v.dtype == "bfloat16" for v in variables)
    # Guard: the weights moved by much more than the tolerance.
    assert np.abs(expected[-1][0] - params[0]).max() > 0.05
    assert_histories_close(history, expected, atol=2 ** -8, rtol=2 ** -6)
    ratios = optimizer.trust_ratios
    assert ratios and all(r.dtype == "float32" for r in ratios.values())
    return ratios
