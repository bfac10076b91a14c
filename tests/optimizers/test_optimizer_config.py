"""get_config round trips (one shared helper) and the factory."""
import keras
import pytest

import optimizer_helpers as h
from limitbatch_tf.optimizers import (LAMB, LARS, OPTIMIZER_NAMES,
                                      CoupledWeightDecay, LayerwiseTrustRatio,
                                      build_optimizer)


def _optimizers():
    return {
        "lars": LARS(2.0, momentum=0.8, nesterov=True, eeta=2e-3,
                     epsilon=0.0, weight_decay=1e-4, decayed_grad_norm=True,
                     lr_after_momentum=True, exclude_vectors=False,
                     exclude_from_weight_decay=["bn"],
                     exclude_from_adaptation=["bias"], clipnorm=1.0),
        "lamb": LAMB(h.lr_schedule(), beta_1=0.8, beta_2=0.99, epsilon=0.0,
                     weight_decay=0.01, bias_correction=False,
                     weight_norm_clamp=(0.0, 10.0),
                     trust_ratio_bounds=(None, 5.0),
                     exclude_from_adaptation=["x"], name="my_lamb"),
        "layerwise_sgd": LayerwiseTrustRatio(
            keras.optimizers.SGD(h.lr_schedule(), momentum=0.9,
                                 nesterov=True),
            eeta=1e-3, weight_norm_clamp=(1.0, None),
            trust_ratio_bounds=(0.1, 10.0), weight_decay=5e-4,
            exclude_from_weight_decay=["dense"], global_clipnorm=2.0),
        "layerwise_adam": LayerwiseTrustRatio(
            keras.optimizers.Adam(0.01, amsgrad=True), exclude_vectors=False),
        "coupled_rmsprop": CoupledWeightDecay(
            keras.optimizers.RMSprop(0.01, momentum=0.5), weight_decay=1e-3,
            exclude_from_weight_decay=["conv"]),
    }


@pytest.mark.parametrize("key", sorted(_optimizers()))
def test_config_round_trip(key):
    opt = _optimizers()[key]
    restored = h.check_config_roundtrip(opt)
    assert restored.coupled_weight_decay == opt.coupled_weight_decay
    if hasattr(opt, "inner_optimizer"):
        assert type(restored.inner_optimizer) is type(opt.inner_optimizer)
        assert restored.inner_optimizer.get_config() == opt.inner_optimizer.get_config()


def test_wrapper_learning_rate_set_later_is_serialized():
    opt = LayerwiseTrustRatio(keras.optimizers.Adam(0.01))
    opt.learning_rate = 0.5
    restored = h.check_config_roundtrip(opt)
    assert float(restored.learning_rate) == pytest.approx(0.5)


@pytest.mark.parametrize("name, kwargs, expected", [
    ("sgd", {}, keras.optimizers.SGD),
    ("momentum", {}, keras.optimizers.SGD),
    ("lars", {}, LARS),
    ("lamb", {}, LAMB),
    ("adam", {}, keras.optimizers.Adam),
    ("adagrad", {}, keras.optimizers.Adagrad),
    ("rmsprop", {}, keras.optimizers.RMSprop),
    ("keras_lamb", {}, keras.optimizers.Lamb),
    ("momentum", {"weight_decay": 1e-4}, CoupledWeightDecay),
    ("adam", {"layerwise": True, "trust_ratio_bounds": (0.1, 10)},
     LayerwiseTrustRatio),
])
def test_factory_builds(name, kwargs, expected):
    opt = build_optimizer(name, 0.1, **kwargs)
    assert type(opt) is expected
    # keras.optimizers.deserialize does not know Lamb in Keras 3.15 (it
    # returns the string "Lamb"); keras.saving's path does.
    h.check_config_roundtrip(opt, optimizers_api=name != "keras_lamb")


def test_factory_values_reach_the_optimizer():
    opt = build_optimizer("momentum", 0.1, momentum=0.8, nesterov=True)
    assert (opt.momentum, opt.nesterov) == (0.8, True)
    assert build_optimizer("sgd", 0.1).momentum == 0.0
    lars = build_optimizer("lars", 1, lars_eeta=2e-3, lars_epsilon=0.0,
                           weight_decay=1e-4)
    assert (lars.eeta, lars.epsilon, lars.coupled_weight_decay) == (
        2e-3, 0.0, 1e-4)
    assert not lars.clip and build_optimizer("lars", 1, lars_clip=True).clip
    assert build_optimizer("adam", 0.1, epsilon=0.0).epsilon == 0.0
    assert build_optimizer("lamb", 0.1).epsilon == 1e-6
    wrapped = build_optimizer("momentum", 0.1, layerwise=True)
    assert wrapped.eeta == 1e-3 and wrapped.inner_optimizer.momentum == 0.9
    assert build_optimizer("adagrad", 0.1, layerwise=True).eeta == 1.0
    for name, kwargs in (("lars", {}), ("momentum", {"layerwise": True}),
                         ("adam", {"weight_decay": 1e-4})):
        assert build_optimizer(name, 0.1, exclude_vectors=False,
                               **kwargs).exclude_vectors is False
    klamb = build_optimizer("keras_lamb", 0.1, weight_decay=0.01)
    assert klamb.weight_decay == 0.01  # Keras's decoupled decay, by design


def test_factory_unknown_name_lists_all_names():
    with pytest.raises(ValueError) as info:
        build_optimizer("adamw", 0.1)
    for name in OPTIMIZER_NAMES:
        assert name in str(info.value)
