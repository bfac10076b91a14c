"""Exclusion masks: rank rule, regexes, warnings, report."""
import keras
import pytest

import optimizer_helpers as h
from limitbatch_tf.optimizers import LAMB, LARS, CoupledWeightDecay


def _built(opt, **kwargs):
    params, _ = h.make_problem(steps=0)
    opt.build(h.make_variables(params))
    return opt


def test_report_names_the_rule_that_excluded_each_variable():
    opt = _built(LARS(exclude_from_weight_decay=["conv", "kernel"],
                      exclude_from_adaptation=["^zero/"]))
    rows = {r["path"]: r for r in opt.exclusion_report()}
    assert rows["dense/kernel"]["excluded_from_weight_decay"] == "kernel"
    assert rows["conv/kernel"]["excluded_from_weight_decay"] == "conv"
    assert rows["dense/bias"]["excluded_from_weight_decay"] == "rank<=1"
    assert rows["dense/bias"]["excluded_from_adaptation"] == "rank<=1"
    assert rows["zero/kernel"]["excluded_from_adaptation"] == "^zero/"
    assert rows["dense/kernel"]["excluded_from_adaptation"] is None
    assert rows["conv/kernel"]["shape"] == (3, 3, 2, 4)
    text = opt.print_exclusions(print_fn=lambda _: None)
    assert "no (rank<=1)" in text and "dense/kernel" in text


def test_exclude_vectors_false_keeps_biases():
    opt = _built(LAMB(exclude_vectors=False))
    assert all(r["excluded_from_weight_decay"] is None
               and r["excluded_from_adaptation"] is None
               for r in opt.exclusion_report())
    assert "dense/bias" in opt.trust_ratios


def test_lars_exclude_vectors_false_adapts_biases():
    """--noexclude_vectors: the original LARS (every layer in the trust
    ratio), for models without BN where MLPerf's rule leaves biases at the
    raw LARS learning rate."""
    opt = _built(LARS(exclude_vectors=False))
    assert all(r["excluded_from_adaptation"] is None
               for r in opt.exclusion_report())
    assert "dense/bias" in opt.trust_ratios


def test_pattern_matching_nothing_warns():
    with pytest.warns(UserWarning, match="'batchnorm' matches no variable"):
        _built(LAMB(exclude_from_adaptation=["batchnorm"]))


def test_keras_exclusion_hook_is_refused():
    with pytest.raises(ValueError, match="constructor"):
        LARS().exclude_from_weight_decay(var_names=["bias"])


def test_report_needs_a_built_optimizer():
    with pytest.raises(ValueError, match="not built"):
        CoupledWeightDecay(keras.optimizers.SGD()).exclusion_report()


def test_coupled_decay_has_no_adaptation_column():
    opt = _built(CoupledWeightDecay(keras.optimizers.SGD(), weight_decay=0.1))
    assert set(opt.exclusion_report()[0]) == {
        "path", "shape", "excluded_from_weight_decay"}
