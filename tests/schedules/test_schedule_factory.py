"""build_schedule: composition and the errors for bad arguments (a flag of
another decay is refused by Config, tests/test_config.py)."""
import pytest

from limitbatch_tf.schedules import (ConstantSchedule, CosineDecay, PolynomialDecay,
                                     StepDecay, TriangularCyclical, Warmup,
                                     build_schedule)

RUN = dict(total_steps=100, steps_per_epoch=10)


@pytest.mark.parametrize("decay, extra, cls", [
    ("constant", {}, ConstantSchedule),
    ("cosine", {}, CosineDecay),
    ("poly", {}, PolynomialDecay),
    ("step", dict(step_boundaries_epochs=[3]), StepDecay),
    ("cyclical", dict(cycle_steps=10), TriangularCyclical),
])
def test_decay_classes_and_warmup_wrapper(decay, extra, cls):
    bare = build_schedule(1.0, decay=decay, **RUN, **extra)
    assert type(bare) is cls
    wrapped = build_schedule(1.0, decay=decay, warmup_steps=10, **RUN, **extra)
    assert isinstance(wrapped, Warmup) and type(wrapped.decay_schedule) is cls
    assert wrapped.warmup_steps == 10


def test_decay_spans_total_minus_warmup():
    s = build_schedule(1.0, decay="poly", warmup_steps=30, end_lr=1e-4, **RUN)
    poly = s.decay_schedule
    assert (poly.decay_steps, poly.power, poly.end_learning_rate) == (70, 2.0, 1e-4)
    c = build_schedule(1.0, decay="cosine", warmup_steps=30, cosine_granularity="coarse",
                       coarse_epochs=2, **RUN).decay_schedule
    assert (c.decay_steps, c.granularity_steps, c.granularity_offset) == (70, 20.0, 30.0)


def test_step_boundaries_are_absolute_epochs_with_factor():
    s = build_schedule(2.0, decay="step", warmup_steps=20, step_boundaries_epochs=[3, 6],
                       step_factor=0.5, **RUN).decay_schedule
    assert s.boundaries == [10, 40]
    assert s.values == pytest.approx([2.0, 1.0, 0.5])


def test_zero_values_are_kept():
    # `x or default` traps: an explicit 0 must stay 0.
    s = build_schedule(0.0, decay="poly", poly_power=0.0, **RUN)
    assert s.power == 0.0 and s.initial_learning_rate == 0.0
    w = build_schedule(1.0, warmup_steps=5, warmup_start_lr=0.0, **RUN)
    assert w.start_learning_rate == 0.0


@pytest.mark.parametrize("kwargs, match", [
    (dict(decay="linear"), "decay"),
    (dict(warmup="exp"), "warmup"),
    (dict(decay="cosine", cosine_granularity="hour"), "cosine_granularity"),
    (dict(decay="cosine", cosine_granularity="coarse"), "coarse_epochs"),
    (dict(decay="step"), "step_boundaries_epochs"),
    (dict(decay="step", step_boundaries_epochs=[2], warmup_steps=20), "after the warmup"),
    (dict(decay="step", step_boundaries_epochs=[5, 3]), "increasing"),
    (dict(decay="cyclical"), "cycle_steps"),
    (dict(decay="cyclical", cycle_steps=1), "cycle_steps"),
    (dict(decay="cosine", warmup_steps=100), "total_steps"),
    (dict(warmup_steps=-1), "warmup_steps"),
    (dict(warmup_steps=2.5), "warmup_steps"),
    (dict(decay="cyclical", cycle_steps=10, end_lr=2.0), "max_learning_rate"),
])
def test_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        build_schedule(1.0, **{**RUN, **kwargs})


def test_constructor_errors():
    with pytest.raises(ValueError, match="decay_schedule"):
        Warmup(0.1, warmup_steps=5)
    with pytest.raises(ValueError, match="warmup_steps"):
        Warmup(ConstantSchedule(0.1), warmup_steps=0)
    with pytest.raises(ValueError, match="values"):
        StepDecay([10], [1.0])
    with pytest.raises(ValueError, match="granularity_offset"):
        CosineDecay(1.0, 10, granularity_offset=3)
    with pytest.raises(ValueError, match="start"):
        TriangularCyclical(0.0, 1.0, 10, start="middle")
