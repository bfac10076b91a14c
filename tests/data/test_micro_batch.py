"""Full batch at N_train on any replica count; the automatic micro-batch.

Known answers: the ladder's 819,200 images with a BN span of 128 on 256 /
512 / 1024 / 2048 TPU cores need micro-batches of 128 / 64 / 32 / 16 (25
passes; the span is then 1 / 2 / 4 / 8 replicas' micro-batches), and full
batch on 2048 cores 5 x 128 rows per core (626 real). Every chosen layout is
re-checked with the independent rules it must satisfy: StepLayout without
padding, and the BN-span tiling of layers/bn_span.py.
"""
import math

import pytest

from limitbatch_tf.config import Config, ConfigError
from limitbatch_tf.data import micro_batch
from limitbatch_tf.data.base import StepLayout
from limitbatch_tf.layers.bn_span import resolve_bn_span
from limitbatch_tf.train.plan import make_plan

LADDER = 819200
IMAGENET = 1281167


@pytest.mark.parametrize("replicas, micro, group", [
    (256, 128, 1), (512, 64, 2), (1024, 32, 4), (2048, 16, 8), (8, 256, 1)])
def test_ladder_micro_batches_fit_divide_and_tile_the_span(replicas, micro, group):
    chosen = micro_batch.choose(LADDER, replicas, 256, bn_span=128)
    assert chosen == micro
    layout = StepLayout.resolve(LADDER, replicas, chosen)  # no padding needed
    assert layout.padding == 0 and chosen <= 256
    ghost, groups = resolve_bn_span(128, chosen, replicas)
    assert groups == group


def test_full_batch_on_a_pod_pads_least():
    chosen = micro_batch.choose(IMAGENET, 2048, 256, bn_span=128,
                                allow_padding=True)
    layout = StepLayout.resolve(IMAGENET, 2048, chosen, allow_padding=True)
    assert (chosen, layout.micro_batches, layout.padded_batch // 2048) == (128, 5, 640)
    # 256 also tiles the span but computes 768 rows per core.
    assert math.ceil(626 / 256) * 256 == 768


def test_nothing_chosen_when_one_pass_fits_or_no_limit():
    assert micro_batch.choose(32768, 256, 256, 128) is None  # 128 per core
    assert micro_batch.choose(LADDER, 256, None, 128) is None
    assert micro_batch.default_limit("lenet5") is None
    assert micro_batch.default_limit("resnet50_v1_5") == 256
    assert micro_batch.default_limit("resnet50_v1_5", 112) == 1024


def test_impossible_split_names_the_flags():
    with pytest.raises(ValueError, match=r"--micro_batch_size.*--replica_batch_limit"):
        micro_batch.choose(1001, 2, 256)  # 1001 not divisible over 2 replicas


def _config(**kw):
    return Config(**kw).validate()


def test_batch_of_the_training_set_is_full_batch_on_any_replica_count():
    """--batch_size=N_train needs no --pad_batches (it equals 'full')."""
    for replicas in (1, 7, 2048):
        as_number = micro_batch.step_layout(
            _config(batch_size="60000", epochs=1.0), 60000, replicas)
        as_full = micro_batch.step_layout(
            _config(batch_size="full", epochs=1.0), 60000, replicas)
        assert as_number == as_full
    with pytest.raises(ConfigError, match="--pad_batches"):
        micro_batch.step_layout(_config(batch_size="59999"), 60000, 7)


def test_ladder_config_on_256_cores_chooses_and_says_so():
    lines = []
    config = _config(dataset="imagenet", model="resnet50_v1_5",
                     batch_size=str(LADDER), bn_span=128)
    layout = micro_batch.step_layout(config, IMAGENET, 256, log=lambda s, **k: lines.append(s))
    assert (layout.per_replica_batch, layout.micro_batches) == (128, 25)
    assert lines == ["micro-batch: --micro_batch_size=128 chosen (3200 examples "
                     "per replica exceed the limit of 256 per pass; tiles BN "
                     "span 128): 25 micro-batches per step"]
    explicit = micro_batch.step_layout(
        _config(dataset="imagenet", model="resnet50_v1_5", batch_size=str(LADDER),
                bn_span=128, micro_batch_size=64), IMAGENET, 256, log=lines.append)
    assert explicit.per_replica_batch == 64 and len(lines) == 1
    raised = micro_batch.step_layout(
        _config(dataset="imagenet", model="resnet50_v1_5", batch_size=str(LADDER),
                bn_span=128, replica_batch_limit=4096), IMAGENET, 256)
    assert raised.micro_batches == 1


def test_brief_command_with_the_default_dataset_says_what_to_add():
    """`--tpu=pod --batch_size=1281167` without --dataset: one line, at
    flag-reading time, before any data is looked for."""
    with pytest.raises(ConfigError) as e:
        Config(batch_size="1281167", tpu="pod").validate()
    message = str(e.value)
    assert "\n" not in message
    assert message.startswith("--batch_size=1281167 exceeds the 60000 training "
                              "examples of --dataset=fashion_mnist; ")
    assert "--dataset=imagenet" in message and "full_batch.yaml" in message
    with pytest.raises(ConfigError, match=r"60000 training examples of "
                                          r"--dataset=mnist$"):
        Config(dataset="mnist", batch_size="60001").validate()


def test_make_plan_uses_the_layout():
    plan = make_plan(_config(dataset="imagenet", model="resnet50_v1_5",
                             batch_size=str(IMAGENET), bn_span=128, epochs=2.0),
                     IMAGENET, 2048)
    assert (plan.layout.per_replica_batch, plan.layout.micro_batches,
            plan.total_steps) == (128, 5, 2)
