"""--precision (Keras dtype policies) and --jit_compile (XLA) in the main job."""
import keras
import numpy as np
import pytest
import tensorflow as tf

from limitbatch_tf.config import Config, ConfigError
from limitbatch_tf.train import loop
from fakedata import write_mnist_dir


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    path = tmp_path_factory.mktemp("mnist")
    write_mnist_dir(str(path), num_train=256, num_test=64)
    return str(path)


def _run(data_dir, model_dir, **overrides):
    values = dict(dataset="mnist", data_dir=data_dir, model_dir=str(model_dir),
                  batch_size="64", train_steps=8, learning_rate=0.05,
                  steps_per_loop=4, eval_every_epochs=2.0)
    values.update(overrides)
    try:
        return loop.run(Config(**values).validate())
    finally:
        keras.mixed_precision.set_global_policy("float32")


def _weights(model_dir):
    path = tf.train.latest_checkpoint(str(model_dir / "checkpoints"))
    reader = tf.train.load_checkpoint(path)
    return {n.split("_trainable_variables/")[1]: reader.get_tensor(n)
            for n, _ in tf.train.list_variables(path)
            if "_trainable_variables/" in n}


def test_auto_precision_is_bfloat16_on_tpu_only():
    assert Config().resolved_precision(on_tpu=True) == "mixed_bfloat16"
    assert Config().resolved_precision(on_tpu=False) == "float32"
    assert Config(precision="mixed_float16").resolved_precision(True) == "mixed_float16"


@pytest.mark.parametrize("precision", ["mixed_bfloat16", "mixed_float16"])
def test_mixed_precision_tracks_float32(data_dir, tmp_path, precision):
    """Same 8 steps in float32 and mixed precision: float32 master weights,
    the same loss to low-precision tolerance, and the policy recorded."""
    ref = _run(data_dir, tmp_path / "f32", precision="float32")
    got = _run(data_dir, tmp_path / precision, precision=precision)
    assert got["precision"] == precision and ref["precision"] == "float32"
    assert got["status"] == "completed"
    assert got["metrics"]["train_loss"] == pytest.approx(
        ref["metrics"]["train_loss"], rel=0.05)
    mixed, full = _weights(tmp_path / precision), _weights(tmp_path / "f32")
    assert mixed and all(v.dtype == np.float32 for v in mixed.values())
    diff = np.sqrt(sum(((mixed[k] - v) ** 2).sum() for k, v in full.items()))
    norm = np.sqrt(sum((v ** 2).sum() for v in full.values()))
    assert diff < 0.01 * norm  # 8 low-precision steps stay close
    assert keras.mixed_precision.global_policy().name == "float32"


def test_float16_adds_loss_scaling(data_dir, tmp_path):
    """mixed_float16 wraps the optimizer in Keras's LossScaleOptimizer; the
    loss-scale variable is checkpointed with the run."""
    _run(data_dir, tmp_path / "f16", precision="mixed_float16", optimizer="lars",
         learning_rate=1.0)
    path = tf.train.latest_checkpoint(str(tmp_path / "f16" / "checkpoints"))
    names = [n for n, _ in tf.train.list_variables(path)]
    assert any("dynamic_scale" in n or "loss_scale" in n for n in names), names


def test_jit_compile_matches_the_graph_step(data_dir, tmp_path):
    """XLA-compiled forward/backward on 2 replicas: same weights after 8 steps."""
    ref = _run(data_dir, tmp_path / "graph", num_cpu_replicas=2)
    got = _run(data_dir, tmp_path / "xla", num_cpu_replicas=2, jit_compile=True)
    assert got["jit_compile"] is True and ref["jit_compile"] is False
    xla, graph = _weights(tmp_path / "xla"), _weights(tmp_path / "graph")
    for name, value in graph.items():
        np.testing.assert_allclose(xla[name], value, rtol=1e-4, atol=1e-5)


def test_jit_compile_refuses_cross_replica_batch_norm(data_dir, tmp_path):
    with pytest.raises(ConfigError, match="--jit_compile: batch norm spans"):
        _run(data_dir, tmp_path / "bad", dataset="synthetic_cifar10",
             model="resnet50_cifar", batch_size="8", num_cpu_replicas=2,
             bn="sync", jit_compile=True)
    assert not (tmp_path / "bad").exists()  # refused before writing
