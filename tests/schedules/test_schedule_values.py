"""Schedule values against closed forms and an independent exact reference.

The reference below is written from the definitions (section 3.1, appendix
6.5, MLPerf poly decay, Smith's triangle) in float64 with exact rational
epoch boundaries, independently of the float32 TF implementation.
"""
import math
from fractions import Fraction

import numpy as np
import pytest
import tensorflow as tf

from limitbatch_tf.schedules import (ConstantSchedule, CosineDecay, PolynomialDecay,
                                     StepDecay, TriangularCyclical, Warmup,
                                     build_schedule)


def lr_at(schedule, step):
    return float(schedule(tf.constant(step, tf.int64)).numpy())


# ----------------------------------------------------------------------------
# Closed forms at chosen steps.
# ----------------------------------------------------------------------------

def test_linear_warmup_then_constant():
    s = Warmup(ConstantSchedule(2.0), warmup_steps=4)
    assert [lr_at(s, t) for t in (0, 1, 3, 4, 100)] == pytest.approx([0.0, 0.5, 1.5, 2.0, 2.0])


def test_linear_warmup_from_start_value():
    s = Warmup(ConstantSchedule(1.0), warmup_steps=10, start_learning_rate=0.1)
    assert lr_at(s, 0) == pytest.approx(0.1)
    assert lr_at(s, 5) == pytest.approx(0.1 + 0.9 * 0.5)
    assert lr_at(s, 10) == pytest.approx(1.0)


def test_cosine_warmup_is_half_cosine_ramp():
    s = Warmup(ConstantSchedule(1.0), warmup_steps=8, shape="cosine")
    for t in (0, 2, 4, 6, 7):
        assert lr_at(s, t) == pytest.approx(0.5 * (1 - math.cos(math.pi * t / 8)), abs=1e-6)
    assert lr_at(s, 2) < 2 / 8  # slower than linear at the start
    assert lr_at(s, 8) == pytest.approx(1.0)


def test_warmup_hands_over_to_decay_counted_from_warmup_end():
    decay = CosineDecay(1.0, decay_steps=20, end_learning_rate=0.1)
    s = Warmup(decay, warmup_steps=5)
    for t in (5, 6, 15, 25, 40):
        assert lr_at(s, t) == pytest.approx(lr_at(decay, t - 5), rel=1e-6)
    assert lr_at(s, 15) == pytest.approx(0.1 + 0.9 * 0.5, rel=1e-6)  # mid-decay


def test_cosine_decay_fine_grained():
    s = CosineDecay(2.0, decay_steps=100, end_learning_rate=0.2)
    expected = lambda t: 0.2 + 1.8 * 0.5 * (1 + math.cos(math.pi * min(t, 100) / 100))
    for t in (0, 1, 50, 99, 100, 150):
        assert lr_at(s, t) == pytest.approx(expected(t), rel=1e-6, abs=1e-7)
    assert lr_at(s, 100) == pytest.approx(0.2)


def test_cosine_decay_regular_holds_each_epoch():
    s = CosineDecay(1.0, decay_steps=40, granularity_steps=10)
    for epoch in range(4):
        want = 0.5 * (1 + math.cos(math.pi * epoch * 10 / 40))
        for t in (10 * epoch, 10 * epoch + 9):
            assert lr_at(s, t) == pytest.approx(want, abs=1e-6)
    assert lr_at(s, 40) == pytest.approx(0.0, abs=1e-7)


@pytest.mark.parametrize("num_examples, batch_size", [(10, 3), (8, 7), (6, 5)])
def test_cosine_decay_fractional_epoch_boundaries(num_examples, batch_size):
    # Fractional steps per epoch: an epoch starting exactly on a whole step
    # (step 8 with 8/7 steps per epoch, block 7) must not floor to the block
    # before in float32 (8 / float32(8/7) = 6.9999995).
    spe = Fraction(num_examples, batch_size)
    s = CosineDecay(1.0, decay_steps=40, granularity_steps=float(spe))
    got = s(tf.range(45, dtype=tf.int64)).numpy()
    for t in range(45):
        block = math.floor(t / spe)
        want = 0.5 * (1 + math.cos(math.pi * min(block * spe, 40) / 40))
        assert got[t] == pytest.approx(want, abs=1e-6), t


def test_cosine_decay_offset_aligns_blocks_with_absolute_epochs():
    # Warmup of 15 steps, 10 steps per epoch: absolute epoch 2 starts at
    # decay step 5, so decay steps 0-4 (epoch 1) hold the peak.
    s = CosineDecay(1.0, decay_steps=45, granularity_steps=10, granularity_offset=15)
    assert lr_at(s, 0) == lr_at(s, 4) == pytest.approx(1.0)
    assert lr_at(s, 5) == pytest.approx(0.5 * (1 + math.cos(math.pi * 5 / 45)), abs=1e-6)
    assert lr_at(s, 14) == lr_at(s, 5)


def test_polynomial_decay_mlperf_form():
    s = PolynomialDecay(4.0, 100, end_learning_rate=1e-4, power=2.0)
    for t in (0, 30, 99, 100, 1000):
        p = min(t, 100) / 100
        assert lr_at(s, t) == pytest.approx((4.0 - 1e-4) * (1 - p) ** 2 + 1e-4, rel=1e-5)


def test_step_decay_changes_at_the_boundary_step():
    s = StepDecay([30, 60], [1.0, 0.1, 0.01])
    got = [lr_at(s, t) for t in (0, 29, 30, 59, 60, 10 ** 6)]
    assert got == pytest.approx([1.0, 1.0, 0.1, 0.1, 0.01, 0.01])


@pytest.mark.parametrize("start, values", [
    ("min", {0: 0.1, 5: 0.55, 10: 1.0, 15: 0.55, 20: 0.1, 30: 1.0}),
    ("max", {0: 1.0, 5: 0.55, 10: 0.1, 15: 0.55, 20: 1.0, 30: 0.1}),
])
def test_triangular_cyclical(start, values):
    s = TriangularCyclical(0.1, 1.0, cycle_steps=20, start=start)
    for t, want in values.items():
        assert lr_at(s, t) == pytest.approx(want, abs=1e-6), t


def test_vector_of_steps_matches_scalar_calls():
    s = build_schedule(1.0, total_steps=50, steps_per_epoch=5, warmup_steps=7,
                       warmup="cosine", decay="cosine", cosine_granularity="epoch")
    vector = s(tf.range(60, dtype=tf.int64)).numpy()
    assert vector.dtype == np.float32 and vector.shape == (60,)
    np.testing.assert_allclose(vector, [lr_at(s, t) for t in range(60)], rtol=1e-6)


# ----------------------------------------------------------------------------
# build_schedule against an exact reference at every step of a run.
# ----------------------------------------------------------------------------

def reference_lr(step, peak, total, spe, warmup=0, shape="linear", start=0.0,
                 decay="constant", end=0.0, power=2.0, bounds=(), factor=0.1,
                 cycle=None, cycle_start="min", gran="step", coarse=None):
    """The schedule at ``step``; ``spe`` is an exact Fraction."""
    def after(d):  # decay step d, counted from the end of the warmup
        span = total - warmup
        if decay == "constant":
            return peak
        if decay == "poly":
            return (peak - end) * (1 - min(d, span) / span) ** power + end
        if decay == "step":
            crossed = sum(warmup + d >= math.ceil(Fraction(e) * spe) for e in bounds)
            return peak * factor ** crossed
        if decay == "cyclical":
            phase = (d % cycle) / cycle
            tri = 1 - abs(2 * phase - 1) if cycle_start == "min" else abs(2 * phase - 1)
            return end + (peak - end) * tri
        s = d
        if gran != "step":  # hold the value from the start of the epoch block
            block = spe * (1 if gran == "epoch" else Fraction(coarse))
            s = max(math.floor((warmup + d) / block) * block - warmup, 0)
        return end + (peak - end) * 0.5 * (1 + math.cos(math.pi * min(s, span) / span))

    if step < warmup:
        f = step / warmup
        if shape == "cosine":
            f = 0.5 * (1 - math.cos(math.pi * f))
        return start + (after(0) - start) * f
    return after(step - warmup)


REFERENCE_CASES = {
    "const": dict(),
    "warmup_const": dict(warmup=13, start=0.05),
    "poly_mlperf": dict(warmup=20, decay="poly", end=1e-4),
    "poly_power1": dict(warmup=5, decay="poly", power=1.0),
    "cos_fine": dict(warmup=10, decay="cosine", end=0.01),
    "cos_epoch": dict(warmup=10, decay="cosine", gran="epoch"),
    "cos_epoch_nowarm": dict(decay="cosine", gran="epoch"),
    "cos_coarse": dict(warmup=10, decay="cosine", gran="coarse", coarse=3),
    "coswarm_cos": dict(warmup=25, shape="cosine", decay="cosine"),
    "step": dict(warmup=9, decay="step", bounds=(3, 6.5, 8), factor=0.2),
    "cyc_min": dict(decay="cyclical", end=0.1, cycle=14),
    "cyc_max_warm": dict(warmup=6, decay="cyclical", end=0.1, cycle=14, cycle_start="max"),
}


@pytest.mark.parametrize("name", sorted(REFERENCE_CASES))
def test_build_schedule_matches_reference(name):
    case = REFERENCE_CASES[name]
    spe = Fraction(1000, 73)  # 13.7 steps per epoch: fractional boundaries
    total, peak = 137, 1.6  # 10 epochs
    kwargs = dict(
        warmup_steps=case.get("warmup", 0), warmup=case.get("shape", "linear"),
        warmup_start_lr=case.get("start", 0.0), decay=case.get("decay", "constant"),
        end_lr=case.get("end", 0.0))
    optional = dict(power="poly_power", bounds="step_boundaries_epochs",
                    factor="step_factor", cycle="cycle_steps", cycle_start="cycle_start",
                    gran="cosine_granularity", coarse="coarse_epochs")
    kwargs.update({arg: case[key] for key, arg in optional.items() if key in case})
    schedule = build_schedule(peak, total_steps=total, steps_per_epoch=float(spe), **kwargs)
    steps = np.arange(total + 10)  # and past the end
    got = schedule(tf.constant(steps, tf.int64)).numpy()
    want = [reference_lr(int(t), peak, total, spe, **case) for t in steps]
    np.testing.assert_allclose(got, want, rtol=2e-5, atol=2e-6)
