"""Config: flags generated from fields, YAML precedence, validation, README sync."""
import os
import re

import pytest
from absl import flags

from limitbatch_tf import config as config_module
from limitbatch_tf.config import Config, ConfigError
from limitbatch_tf.flags import (config_from_flags, define_flags,
                                 flag_reference_markdown)

REPO = os.path.dirname(os.path.dirname(__file__))


@pytest.fixture
def fresh_flags():
    values = flags.FlagValues()
    define_flags(values)
    return values


def test_defaults_are_the_embedded_default_job(fresh_flags):
    fresh_flags(["main"])
    config = config_from_flags(fresh_flags)
    assert (config.dataset, config.model, config.batch_size) == (
        "fashion_mnist", "lenet5", "256")
    assert config.model_dir == "runs/fashion_mnist-lenet5-momentum-b256-s0"


def test_yaml_then_command_line(fresh_flags, tmp_path):
    path = tmp_path / "x.yaml"
    path.write_text("batch_size: 8192\nlearning_rate: 2\nepochs: 30\n"
                    "seed: 3\n")
    fresh_flags(["main", f"--config={path}", "--seed=4"])
    config = config_from_flags(fresh_flags)
    assert config.batch_size == "8192"          # int in YAML -> str field
    assert config.learning_rate == 2.0          # int in YAML -> float field
    assert config.seed == 4                     # flag overrides the file


@pytest.mark.parametrize("text, message", [
    ("learnig_rate: 1\n", "unknown key 'learnig_rate'; did you mean 'learning_rate'"),
    ("seed: abc\n", "--seed: expected int, got 'abc'"),
    ("- 1\n", "expected a mapping"),
    ("a: [\n", "not valid YAML"),
])
def test_bad_yaml(fresh_flags, tmp_path, text, message):
    path = tmp_path / "x.yaml"
    path.write_text(text)
    fresh_flags(["main", f"--config={path}"])
    with pytest.raises(ConfigError, match=re.escape(message)):
        config_from_flags(fresh_flags)


@pytest.mark.parametrize("overrides, message", [
    (dict(momentum=1.0), "--momentum=1.0 must be <="),
    (dict(batch_size="0"), "--batch_size=0 must be >= 1"),
    (dict(strategy="one_device", num_cpu_replicas=2), "--num_cpu_replicas=2"),
    (dict(lenet_conv2_filters=64), "applies to --model=lenet_tpu only"),
    (dict(epochs="3"), "--epochs: expected float"),
    (dict(shuffle_buffer=100), "--shuffle_buffer applies to --dataset=imagenet"),
    (dict(dataset="imagenet", crop_area_range="0.5"),
     "--crop_area_range=0.5: expected min,max"),
    (dict(dataset="imagenet", crop_area_range="0.5,1.5"),
     "expected 0 < min <= max <= 1"),
    (dict(dataset="imagenet", crop_aspect_range="1.33,0.75"),
     "--crop_aspect_range=1.33,0.75: expected 0 < min <= max"),
    (dict(dataset="imagenet", label_offset=-1), "--label_offset=-1 must be >= 0"),
])
def test_validation(overrides, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        Config(**overrides).validate()


# A flag set where it has no effect: one line naming the flag, where it
# applies and the flags that decide it. Written out by hand from the rules
# the optimizer and schedule factories enforced before config.APPLIES_TO
# (You et al. 2020, Table 3; the MLPerf LARS form; keras.optimizers.Lamb).
@pytest.mark.parametrize("overrides, message", [
    (dict(optimizer="adam", momentum=0.5),
     "--momentum applies to --optimizer=momentum or lars only (here "
     "--optimizer=adam)"),
    (dict(optimizer="sgd", beta_1=0.8), "--beta_1 applies to --optimizer=adam"),
    (dict(optimizer="rmsprop", beta_2=0.9), "--beta_2 applies to"),
    (dict(optimizer="lars", layerwise=True),
     "--layerwise applies to --optimizer=sgd, momentum, adam, adagrad or "
     "rmsprop only: lars and lamb are layer-wise already"),
    (dict(optimizer="keras_lamb", layerwise=True), "--layerwise applies to"),
    (dict(optimizer="momentum", trust_ratio_bounds="0,1"),
     "--trust_ratio_bounds applies to --optimizer=lamb and to --layerwise"),
    (dict(optimizer="adam", exclude_from_adaptation="x"),
     "--exclude_from_adaptation applies to --optimizer=lars or lamb and to "
     "--layerwise only"),
    (dict(optimizer="adam", nesterov=True), "--nesterov applies to "
     "--optimizer=momentum or lars only"),
    (dict(optimizer="lars", epsilon=1e-7), "LARS uses --lars_epsilon"),
    (dict(optimizer="lamb", lars_epsilon=1e-7),
     "--lars_epsilon applies to --optimizer=lars only (here --optimizer=lamb)"),
    (dict(optimizer="adam", layerwise=True, lars_eeta=1e-2),
     "--lars_eeta applies to --optimizer=lars and to --layerwise sgd/momentum "
     "only (here --optimizer=adam, --layerwise=True)"),
    (dict(optimizer="keras_lamb", exclude_from_weight_decay="x"),
     "keras.optimizers.Lamb has no exclusions"),
    (dict(optimizer="momentum", exclude_vectors=False),
     "--exclude_vectors applies to"),
    (dict(optimizer="keras_lamb", weight_decay=0.1, exclude_vectors=False),
     "--exclude_vectors applies to"),
    (dict(lr_decay="cosine", poly_power=2.0),
     "--poly_power applies to --lr_decay=poly only (here --lr_decay=cosine)"),
    (dict(lr_decay="poly", step_boundaries_epochs="3"),
     "--step_boundaries_epochs applies to --lr_decay=step only"),
    (dict(lr_decay="cosine", step_factor=0.1), "--step_factor applies to"),
    (dict(lr_decay="cosine", cycle_epochs=2.0), "--cycle_epochs applies to "
     "--lr_decay=cyclical only"),
    (dict(lr_decay="poly", cycle_start="max"), "--cycle_start applies to"),
    (dict(lr_decay="poly", cosine_granularity="epoch"),
     "--cosine_granularity applies to --lr_decay=cosine only"),
    (dict(lr_decay="cosine", coarse_epochs=2.0),
     "--coarse_epochs applies to --lr_decay=cosine with "
     "--cosine_granularity=coarse only"),
    (dict(lr_decay="cosine", cosine_granularity="epoch", coarse_epochs=2.0),
     "--coarse_epochs applies to"),
    (dict(lr_decay="constant", end_lr=0.1), "--end_lr applies to "
     "--lr_decay=cosine, poly or cyclical only"),
    (dict(lr_decay="step", step_boundaries_epochs="3", end_lr=0.1),
     "--end_lr applies to"),
    (dict(bn="sync"), "--bn applies to --model=resnet50_v1_5 or "
     "resnet50_cifar only: the others have no batch norm (here --model=lenet5)"),
    (dict(model="lenet_tpu", bn_span=64), "--bn_span applies to"),
])
def test_flag_that_does_not_apply(overrides, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        Config(**overrides).validate()


@pytest.mark.parametrize("overrides", [
    dict(optimizer="lars", momentum=0.5, nesterov=True, lars_eeta=1e-2,
         lars_epsilon=1e-9, exclude_from_adaptation="bias",
         exclude_vectors=False),
    dict(optimizer="lamb", beta_1=0.8, beta_2=0.99, epsilon=1e-8,
         trust_ratio_bounds="0,10", exclude_from_weight_decay="bn"),
    dict(optimizer="momentum", layerwise=True, lars_eeta=1e-2,
         trust_ratio_bounds="0.1,10"),
    dict(optimizer="adam", weight_decay=1e-4, exclude_vectors=False),
    dict(optimizer="keras_lamb", beta_1=0.8, epsilon=1e-8),
    dict(lr_decay="poly", poly_power=1.0, end_lr=1e-4),
    dict(lr_decay="step", step_boundaries_epochs="3,6", step_factor=0.5),
    dict(lr_decay="cyclical", cycle_epochs=2.0, cycle_start="max", end_lr=0.1),
    dict(lr_decay="cosine", cosine_granularity="coarse", coarse_epochs=2.0),
    dict(model="resnet50_cifar", bn="ghost", ghost_batch_size=8),
    dict(model="lenet_tpu", lenet_conv2_filters=64),
    dict(dataset="imagenet", shuffle_buffer=100, cache_records=True),
])
def test_flags_accepted_where_they_apply(overrides):
    Config(**overrides).validate()


def test_every_rule_names_a_flag_and_its_deciders():
    fields = {name for name, *_ in Config.field_specs()}
    for name, rule in config_module.APPLIES_TO.items():
        assert name in fields and set(rule.on) <= fields, name
        assert rule.holds(Config()) in (True, False)


def test_registries_match_the_name_lists():
    from limitbatch_tf.data import registry as data_registry
    from limitbatch_tf.models import registry as model_registry
    from limitbatch_tf.optimizers import build_optimizer

    assert sorted(data_registry.LOADERS) == sorted(config_module.DATASETS)
    assert sorted(model_registry.BUILDERS) == sorted(config_module.MODELS)
    assert set(config_module.MODELS_WITH_BATCH_NORM) < set(config_module.MODELS)
    # Each optimizer name builds its own class (none falls through to
    # another name's branch of the factory).
    built = {name: type(build_optimizer(name, 0.1)).__name__
             for name in config_module.OPTIMIZERS}
    assert built == {"sgd": "SGD", "momentum": "SGD", "lars": "LARS",
                     "lamb": "LAMB", "adam": "Adam", "adagrad": "Adagrad",
                     "rmsprop": "RMSprop", "keras_lamb": "Lamb"}


def test_identity_ignores_where_a_run_executes():
    a = Config().identity()
    b = Config(num_cpu_replicas=4, steps_per_loop=7, model_dir="x").identity()
    assert a == b
    assert Config(learning_rate=1.0).identity() != a


def test_readme_flag_reference_is_current():
    readme = open(os.path.join(REPO, "README.md")).read()
    assert flag_reference_markdown() in readme, (
        "README flag table is stale: run python tools/update_readme_flags.py")


def test_imagenet_flags_parse():
    config = Config(dataset="imagenet", crop_area_range="0.05,1",
                    crop_aspect_range="0.75,1.333333").validate()
    assert config.crop_ranges() == ((0.05, 1.0), (0.75, 1.333333))
