"""Config: flags generated from fields, YAML precedence, validation, README sync."""
import os
import re

import pytest
from absl import flags

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
