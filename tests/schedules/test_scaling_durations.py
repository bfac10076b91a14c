"""LR scaling rules and the epochs/steps conversion."""
import math

import pytest

from limitbatch_tf.schedules import scaled_learning_rate, steps_per_epoch, to_steps


@pytest.mark.parametrize("rule, expected", [
    ("none", 0.1),
    ("linear", 0.1 * 8192 / 256),
    ("sqrt", 0.1 * math.sqrt(8192 / 256)),
])
def test_scaling_rules(rule, expected):
    assert scaled_learning_rate(0.1, 8192, 256, rule) == pytest.approx(expected, rel=1e-12)


def test_linear_is_default_and_identity_at_base_batch():
    assert scaled_learning_rate(0.1, 512, 256) == pytest.approx(0.2)
    for rule in ("none", "linear", "sqrt"):
        assert scaled_learning_rate(0.3, 256, 256, rule) == pytest.approx(0.3)


def test_scaling_keeps_zero_lr():
    assert scaled_learning_rate(0.0, 1024, 256, "linear") == 0.0


@pytest.mark.parametrize("kwargs, match", [
    (dict(rule="cubic"), "rule"),
    (dict(batch_size=0), "batch_size"),
    (dict(base_batch_size=-1), "base_batch_size"),
    (dict(base_lr=-0.1), "base_lr"),
    (dict(base_lr=float("nan")), "base_lr"),
])
def test_scaling_errors(kwargs, match):
    args = dict(base_lr=0.1, batch_size=1024, base_batch_size=256, rule="linear")
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        scaled_learning_rate(**args)


def test_paper_imagenet_step_count():
    # Section 3.1: 90 epochs at B = 819200 on 1,281,167 images are 141 steps.
    spe = steps_per_epoch(1281167, 819200)
    assert to_steps(epochs=90, steps_per_epoch=spe) == 141
    # Full batch: one step per epoch.
    assert to_steps(epochs=90, steps_per_epoch=steps_per_epoch(50000, 50000)) == 90


def test_to_steps_conversion():
    assert to_steps(steps=17) == 17
    assert to_steps(steps=17.0) == 17  # integral floats from YAML
    assert to_steps(epochs=0, steps_per_epoch=3.5) == 0
    assert to_steps(epochs=2.5, steps_per_epoch=4) == 10
    assert to_steps(epochs=1, steps_per_epoch=2.1) == 3  # covers the epoch
    assert to_steps(epochs=3, steps_per_epoch=10 / 3) == 10  # no float creep to 11


@pytest.mark.parametrize("kwargs, match", [
    (dict(), "exactly one"),
    (dict(epochs=1, steps=5, steps_per_epoch=2), "exactly one"),
    (dict(epochs=1), "steps_per_epoch"),
    (dict(epochs=1, steps_per_epoch=0), "steps_per_epoch"),
    (dict(epochs=-1, steps_per_epoch=2), "epochs"),
    (dict(steps=2.5), "steps"),
    (dict(steps=-1), "steps"),
])
def test_to_steps_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        to_steps(**kwargs)


def test_steps_per_epoch():
    assert steps_per_epoch(60000, 256) == pytest.approx(234.375)
    with pytest.raises(ValueError, match="batch_size"):
        steps_per_epoch(60000, 0)
