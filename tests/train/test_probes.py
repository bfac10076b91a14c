"""Telemetry probes against NumPy: noise scale, weight distance, trust ratios."""
import glob
import json
import os

import keras
import numpy as np
import pytest
import tensorflow as tf

from limitbatch_tf import distribute
from limitbatch_tf.config import Config
from limitbatch_tf.data import base
from limitbatch_tf.data.in_memory import InMemorySource
from limitbatch_tf.train import loop
from limitbatch_tf.train.probes import NoiseScaleEMA
from limitbatch_tf.train.steps import StepFunctions
from fakedata import make_images, write_mnist_dir


def _ce(labels, logits):
    return tf.nn.sparse_softmax_cross_entropy_with_logits(labels, logits)


def test_measured_noise_scale_matches_per_example_gradients():
    """Softmax regression at fixed weights (lr 0): B_simple from micro-batch
    (b=8) and global (B=32, 4 replicas) gradient norms vs tr(Sigma)/|G|^2 of
    the per-example gradients over the whole dataset."""
    n = 2048
    x, y = make_images(n, seed=3)
    info = base.DatasetInfo("fake", (28, 28, 1), 10, n)
    source = InMemorySource(info, (x[..., None], y), {"test": (x[..., None], y)})
    strategy = distribute.cpu_mirrored_strategy(
        [d.name for d in tf.config.list_logical_devices("CPU")[:4]])
    layout = base.StepLayout.resolve(32, 4)
    keras.utils.set_random_seed(0)
    with strategy.scope():
        model = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Flatten(),
                                  keras.layers.Dense(10)])
        optimizer = keras.optimizers.SGD(0.0)
        optimizer.build(model.trainable_variables)
    fns = StepFunctions(strategy, model, optimizer, layout, _ce,
                        measure_gradients=True)
    iterator = iter(strategy.distribute_datasets_from_function(
        lambda ctx: source.train_dataset(ctx, layout, seed=1)))
    steps = 640  # 10 epochs
    _, small_sum, big_sum, _ = fns.train_loop(iterator, tf.constant(steps))
    small, big = float(small_sum) / steps, float(big_sum) / steps
    ema = NoiseScaleEMA(decay=0.0)
    ema.update(small, big, 8, 32)

    w, bias = [v.numpy().astype(np.float64) for v in model.trainable_variables]
    f = x.reshape(n, -1).astype(np.float64) / 255.0
    logits = f @ w + bias
    p = np.exp(logits - logits.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    p[np.arange(n), y] -= 1.0
    per_example = np.concatenate([(f[:, :, None] * p[:, None, :]).reshape(n, -1),
                                  p], 1)
    mean = per_example.mean(0)
    grad_sq = float(mean @ mean)
    trace = float(((per_example - mean) ** 2).sum(1).mean())
    assert ema.grad_sq == pytest.approx(grad_sq, rel=0.10)
    assert ema.trace == pytest.approx(trace, rel=0.10)
    assert ema.b_simple == pytest.approx(trace / grad_sq, rel=0.15)
    assert ema.snr(32) == pytest.approx(32 * grad_sq / trace, rel=0.15)

    # Per variable (the noise_scale_layers probe): the kernel's and the
    # bias's own |G|^2 and tr(Sigma) from the same per-example gradients,
    # and the parts add up to the totals the loop returned.
    small_layers, big_layers = fns.layer_sums()
    assert small_layers.sum() == pytest.approx(float(small_sum), rel=1e-5)
    assert big_layers.sum() == pytest.approx(float(big_sum), rel=1e-5)
    # The bias's |G|^2 is ~1/700 of the kernel's and its B_simple ~230 >> B:
    # 640 steps estimate it to ~25% only (the kernel's parts and both
    # traces to ~1%), hence its looser tolerance.
    split = f.shape[1] * 10  # kernel entries, then the 10 biases
    for part, grad_tol, (small_l, big_l) in zip(
            (slice(0, split), slice(split, None)), (0.10, 0.25),
            zip(small_layers, big_layers)):
        layer = NoiseScaleEMA(decay=0.0)
        layer.update(small_l / steps, big_l / steps, 8, 32)
        g = per_example[:, part]
        mean_l = g.mean(0)
        grad_sq_l = float(mean_l @ mean_l)
        trace_l = float(((g - mean_l) ** 2).sum(1).mean())
        assert layer.grad_sq == pytest.approx(grad_sq_l, rel=grad_tol)
        assert layer.trace == pytest.approx(trace_l, rel=0.10)
        assert layer.b_simple == pytest.approx(trace_l / grad_sq_l,
                                               rel=grad_tol + 0.05)


def test_noise_scale_ema_is_bias_corrected():
    """Each part is the EMA divided by 1 - decay^t (Adam's correction): a
    NumPy recurrence of the two-size estimates of McCandlish et al. (2018),
    Appendix A.1, as the reference; constant readings read back exactly."""
    rng = np.random.default_rng(0)
    readings = [(s, b) for s, b in rng.uniform(1.0, 2.0, (5, 2)) * [[2.0, 1.0]]]
    ema = NoiseScaleEMA(decay=0.9)
    g_raw = t_raw = 0.0
    for t, (small, big) in enumerate(readings, 1):
        ema.update(small, big, 16, 64)
        g = (64 * big - 16 * small) / 48
        tr = (small - big) / (1 / 16 - 1 / 64)
        g_raw = 0.9 * g_raw + 0.1 * g
        t_raw = 0.9 * t_raw + 0.1 * tr
        assert ema.grad_sq == pytest.approx(g_raw / (1 - 0.9 ** t))
        assert ema.trace == pytest.approx(t_raw / (1 - 0.9 ** t))
        assert ema.b_simple == pytest.approx(t_raw / g_raw)
    constant = NoiseScaleEMA(decay=0.99)
    constant.update(3.0, 1.0, 16, 64)
    assert constant.grad_sq == pytest.approx((64 * 1.0 - 16 * 3.0) / 48)
    assert constant.trace == pytest.approx(2.0 / (1 / 16 - 1 / 64))
    # A resumed run continues the same EMA from its saved state.
    again = NoiseScaleEMA(decay=0.99, state=constant.state())
    assert again.grad_sq == constant.grad_sq and again.trace == constant.trace
    assert np.isnan(NoiseScaleEMA().b_simple)


def test_loop_records_telemetry(tmp_path):
    data = tmp_path / "data"
    write_mnist_dir(str(data), num_train=256, num_test=64)
    config = Config(dataset="mnist", data_dir=str(data), model_dir=str(tmp_path / "r"),
                    batch_size="64", micro_batch_size=16, train_steps=8,
                    eval_every_epochs=1.0, steps_per_loop=2, optimizer="lars",
                    learning_rate=1.0,
                    telemetry="weight_distance,trust_ratios,grad_norm,noise_scale"
                    ).validate()
    results = loop.run(config)
    t = json.load(open(tmp_path / "r" / "results.json"))["telemetry"]
    assert [r["step"] for r in t["weight_distance"]] == [4, 8]
    assert len(t["trust_ratios"]) == 4 and len(t["grad_norm"]) == 4
    assert set(t["trust_ratios"][0]["per_layer"]) == {
        "lenet5/conv1/kernel", "lenet5/conv2/kernel", "lenet5/fc1/kernel",
        "lenet5/fc2/kernel", "lenet5/logits/kernel"}
    assert t["noise_scale"]["b_small"] == 16 and t["noise_scale"]["b_big"] == 64
    ns = t["noise_scale"]
    # The trajectory: every evaluation carries the EMAs as they stood; the
    # last one is the run's final reading.
    history = results["history"]
    assert [h["step"] for h in history] == [4, 8]
    for h in history:
        assert {"noise_scale_b_simple", "noise_scale_grad_sq",
                "noise_scale_trace_sigma"} <= set(h)
    last = history[-1]
    assert last["noise_scale_grad_sq"] == pytest.approx(ns["grad_norm_sq"])
    assert last["noise_scale_trace_sigma"] == pytest.approx(ns["trace_sigma"])
    assert ns["signal_to_noise"] == pytest.approx(64 / ns["b_simple"])
    assert results["telemetry"]["weight_distance"][-1]["global"] > 0
    assert "noise_scale_layers" not in last  # only when asked for


def test_noise_scale_per_layer_adds_up_and_resumes(tmp_path, capsys):
    """--telemetry=noise_scale_layers: every evaluation carries each
    variable's B_simple and parts; the parts add up to the global ones (the
    EMAs are linear); a run resumed from an earlier checkpoint ends with the
    uninterrupted run's readings, global and per layer."""
    data = tmp_path / "data"
    write_mnist_dir(str(data), num_train=256, num_test=64)
    common = dict(dataset="mnist", data_dir=str(data), batch_size="64",
                  micro_batch_size=16, eval_every_epochs=1.0, steps_per_loop=2,
                  learning_rate=0.05, telemetry="noise_scale_layers",
                  deterministic=True)
    whole = loop.run(Config(model_dir=str(tmp_path / "whole"), train_steps=8,
                            **common).validate())
    paths = {"lenet5/conv1/kernel", "lenet5/conv1/bias", "lenet5/logits/bias"}
    for h in whole["history"]:
        layers = h["noise_scale_layers"]
        assert paths <= set(layers) and len(layers) == 10
        for part, total in (("grad_sq", "noise_scale_grad_sq"),
                            ("trace_sigma", "noise_scale_trace_sigma")):
            assert sum(v[part] for v in layers.values()) == pytest.approx(
                h[total], rel=1e-4)
        for v in layers.values():
            if v["grad_sq"] and v["grad_sq"] > 0:
                assert v["b_simple"] == pytest.approx(
                    v["trace_sigma"] / v["grad_sq"])
    assert whole["telemetry"]["noise_scale_layers"] == whole["history"][-1][
        "noise_scale_layers"]

    # Resume from the step-4 checkpoint while results.json already holds
    # step 8's EMAs (as when checkpoints lag evaluations): the checkpointed
    # state is the one that continues.
    ckpt_dir = str(tmp_path / "whole" / "checkpoints")
    paths = list(tf.train.get_checkpoint_state(ckpt_dir)
                 .all_model_checkpoint_paths)
    assert [p.rsplit("-", 1)[1] for p in paths] == ["4", "8"]
    for f in glob.glob(paths[-1] + ".*"):
        os.remove(f)
    tf.compat.v1.train.update_checkpoint_state(ckpt_dir, paths[0], paths[:1])
    capsys.readouterr()
    resumed = loop.run(Config(model_dir=str(tmp_path / "whole"), train_steps=8,
                              **common).validate())
    assert "at step 4\n" in capsys.readouterr().out
    assert resumed["history"][-1]["noise_scale_grad_sq"] == pytest.approx(
        whole["history"][-1]["noise_scale_grad_sq"], rel=1e-4)
    want = whole["history"][-1]["noise_scale_layers"]
    got = resumed["history"][-1]["noise_scale_layers"]
    for path in want:
        for part in ("grad_sq", "trace_sigma"):
            assert got[path][part] == pytest.approx(want[path][part], rel=1e-4)


def test_weight_distance_against_numpy(tmp_path):
    data = tmp_path / "data"
    write_mnist_dir(str(data), num_train=128, num_test=32)
    common = dict(dataset="mnist", data_dir=str(data), batch_size="32",
                  steps_per_loop=4, learning_rate=0.05)
    start = loop.run(Config(model_dir=str(tmp_path / "a"), train_steps=1,
                            learning_rate=0.0, **{k: v for k, v in common.items()
                                                  if k != "learning_rate"}))
    del start
    w0 = _weights(tmp_path / "a")  # lr 0: the initial weights
    results = loop.run(Config(model_dir=str(tmp_path / "b"), train_steps=8,
                              telemetry="weight_distance", **common))
    w8 = _weights(tmp_path / "b")
    want = np.sqrt(sum(((w8[k] - w0[k]) ** 2).sum() for k in w0))
    got = results["telemetry"]["weight_distance"][-1]["global"]
    assert got == pytest.approx(want, rel=1e-5)


def _weights(model_dir):
    path = tf.train.latest_checkpoint(str(model_dir / "checkpoints"))
    reader = tf.train.load_checkpoint(path)
    return {n: reader.get_tensor(n) for n, _ in tf.train.list_variables(path)
            if n.startswith("optimizer/_trainable_variables/")}
