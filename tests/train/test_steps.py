"""The step functions against the single-device, single-batch result."""
import functools

import keras
import numpy as np
import pytest
import tensorflow as tf

from limitbatch_tf import distribute
from limitbatch_tf.data import base
from limitbatch_tf.data.in_memory import InMemorySource
from limitbatch_tf.models import lenet
from limitbatch_tf.optimizers import build_optimizer
from limitbatch_tf.train.steps import StepFunctions
from fakedata import make_images


@pytest.fixture(scope="module")
def source():
    x, y = make_images(96, seed=4)
    info = base.DatasetInfo("fake", (28, 28, 1), 10, 96)
    return InMemorySource(info, (x[..., None], y), {"test": (x[..., None], y)})


def _ce(labels, logits):
    return tf.nn.sparse_softmax_cross_entropy_with_logits(labels, logits)


def _train(source, replicas, global_batch, micro=None, steps=3,
           clip_global_norm=None, optimizer_name="momentum", lr=0.1):
    """Weights after ``steps`` SGD-momentum updates from a fixed init."""
    devices = [d.name for d in tf.config.list_logical_devices("CPU")[:replicas]]
    strategy = (distribute.cpu_mirrored_strategy(devices) if replicas > 1
                else tf.distribute.OneDeviceStrategy(devices[0]))
    layout = base.StepLayout.resolve(global_batch, replicas, micro,
                                     allow_padding=True)
    keras.utils.set_random_seed(1)
    with strategy.scope():
        model = lenet.lenet5((28, 28, 1), 10)
        optimizer = build_optimizer(optimizer_name, lr, weight_decay=1e-4)
        optimizer.build(model.trainable_variables)
    fns = StepFunctions(strategy, model, optimizer, layout, _ce,
                        clip_global_norm=clip_global_norm)
    iterator = iter(strategy.distribute_datasets_from_function(
        lambda ctx: source.train_dataset(ctx, layout, seed=7)))
    loss_sum, *_ = fns.train_loop(iterator, tf.constant(steps))
    assert np.isfinite(float(loss_sum))
    assert int(optimizer.iterations.numpy()) == steps  # update steps, not micro-steps
    return [v.numpy() for v in model.trainable_variables], float(loss_sum)


def _assert_same_weights(got, want):
    """The same update up to float32 summation order: per tensor, the two
    updates (from the shared initial weights) differ by < 1% of the update.

    oneDNN picks its convolution kernels, and so the order of the weight-
    gradient sums, by batch size and CPU: on AVX-512 machines a bias summed
    over 48 x 24 x 24 positions with heavy cancellation moves by 0.2% of its
    update between 4 x 12 and 48 (Eigen kernels agree to 1e-6). A wrong
    scale or a lost micro-batch changes the update by tens of percent.
    """
    for g, w, w0 in zip(got, want, _initial_weights()):
        update = np.linalg.norm(w - w0)
        assert update > 0
        assert np.linalg.norm(g - w) <= 0.01 * update, (
            np.linalg.norm(g - w) / update)


@functools.lru_cache(maxsize=1)
def _initial_weights():
    keras.utils.set_random_seed(1)
    return [v.numpy() for v in lenet.lenet5((28, 28, 1), 10).trainable_variables]


@pytest.fixture(scope="module")
def reference(source):
    return _train(source, 1, 48)


@pytest.mark.parametrize("replicas, micro", [
    (1, 12),   # 4 accumulated micro-batches on one device
    (4, None),  # 4 replicas, one batch each
    (4, 6),    # 4 replicas x 2 micro-batches
    (8, 3),    # 8 replicas x 2 micro-batches
])
def test_same_update_as_one_device_one_batch(source, reference, replicas, micro):
    weights, loss = _train(source, replicas, 48, micro)
    np.testing.assert_allclose(loss, reference[1], rtol=1e-5)
    _assert_same_weights(weights, reference[0])


@pytest.mark.parametrize("name, lr", [("lars", 2.0), ("lamb", 0.01)])
def test_accumulation_equals_one_batch_for_large_batch_optimizers(source, name, lr):
    want, _ = _train(source, 1, 48, optimizer_name=name, lr=lr)
    got, _ = _train(source, 4, 48, micro=6, optimizer_name=name, lr=lr)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=5e-4, atol=5e-6)


def test_padding_rows_do_not_change_the_update(source):
    # 45 real examples on 4 replicas x 12 rows leave 3 weight-0 rows; the
    # result must equal one device with exactly 45.
    want, _ = _train(source, 1, 45)
    got, _ = _train(source, 4, 45)
    _assert_same_weights(got, want)


def test_global_norm_clipping_acts_on_the_all_reduced_gradient(source):
    want, _ = _train(source, 1, 48, clip_global_norm=0.05)
    got, _ = _train(source, 4, 48, clip_global_norm=0.05)
    unclipped = _train(source, 1, 48)[0]
    assert max(np.abs(w - u).max() for w, u in zip(want, unclipped)) > 1e-3
    _assert_same_weights(got, want)


def test_divergence_shows_as_a_non_finite_loss_sum_once_per_loop(source):
    """No data-dependent break (issue 15.3): all 50 steps run, and the one
    value read back, the loss sum, is non-finite."""
    layout = base.StepLayout.resolve(16, 1)
    strategy = tf.distribute.OneDeviceStrategy("/cpu:0")
    with strategy.scope():
        model = lenet.lenet5((28, 28, 1), 10)
        optimizer = keras.optimizers.SGD(1e6)
        optimizer.build(model.trainable_variables)
    fns = StepFunctions(strategy, model, optimizer, layout, _ce)
    iterator = iter(strategy.distribute_datasets_from_function(
        lambda ctx: source.train_dataset(ctx, layout, seed=7)))
    loss_sum, *_ = fns.train_loop(iterator, tf.constant(50))
    assert not np.isfinite(float(loss_sum))
    assert int(optimizer.iterations.numpy()) == 50


def test_full_batch_gradient_equals_numpy_full_dataset_gradient(source):
    """70 examples on 4 replicas x 3 micro-batches of 6 (2 padded rows).

    One SGD step with lr 1 moves the weights by exactly minus the gradient;
    softmax regression's full-dataset gradient is computed in float64 NumPy.
    """
    n = 70
    devices = [d.name for d in tf.config.list_logical_devices("CPU")[:4]]
    strategy = distribute.cpu_mirrored_strategy(devices)
    layout = base.StepLayout.resolve(n, 4, 6, allow_padding=True)
    assert layout.padding == 2
    x, y = make_images(n, seed=9)
    info = base.DatasetInfo("fake", (28, 28, 1), 10, n)
    small = InMemorySource(info, (x[..., None], y), {"test": (x[..., None], y)})
    with strategy.scope():
        model = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Flatten(),
                                  keras.layers.Dense(10)])
        optimizer = keras.optimizers.SGD(1.0)
        optimizer.build(model.trainable_variables)
    w0 = [v.numpy().astype(np.float64) for v in model.trainable_variables]
    fns = StepFunctions(strategy, model, optimizer, layout, _ce)
    iterator = iter(strategy.distribute_datasets_from_function(
        lambda ctx: small.train_dataset(ctx, layout, seed=1)))
    fns.train_loop(iterator, tf.constant(1))
    grads = [a - b.numpy() for a, b in zip(w0, model.trainable_variables)]

    features = x.reshape(n, -1).astype(np.float64) / 255.0
    features = features.reshape(n, -1)
    logits = features @ w0[0] + w0[1]
    p = np.exp(logits - logits.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    p[np.arange(n), y] -= 1.0
    want = [features.T @ p / n, p.sum(0) / n]
    for got, ref in zip(grads, want):
        np.testing.assert_allclose(got, ref, rtol=1e-4, atol=2e-6)


def _bn_model(example_weights_input):
    """Conv -> cross-replica BN -> dense; with example weights as the BN mask."""
    from limitbatch_tf.layers import GroupedBatchNormalization
    images = keras.Input((28, 28, 1))
    weights = keras.Input(()) if example_weights_input else None
    x = keras.layers.Conv2D(4, 3, strides=2, use_bias=False)(images)
    bn = GroupedBatchNormalization(replica_group_size="all")
    x = bn(x) if weights is None else bn(x, mask=weights)
    x = keras.layers.Flatten()(keras.layers.ReLU()(x))
    outputs = keras.layers.Dense(10)(x)
    return keras.Model(images if weights is None else [images, weights], outputs)


def _train_bn(source, replicas, global_batch, steps=2):
    devices = [d.name for d in tf.config.list_logical_devices("CPU")[:replicas]]
    strategy = (distribute.cpu_mirrored_strategy(devices) if replicas > 1
                else tf.distribute.OneDeviceStrategy(devices[0]))
    layout = base.StepLayout.resolve(global_batch, replicas, allow_padding=True)
    keras.utils.set_random_seed(1)
    with strategy.scope():
        model = _bn_model(layout.padding > 0)
        optimizer = build_optimizer("momentum", 0.1)
        optimizer.build(model.trainable_variables)
    fns = StepFunctions(strategy, model, optimizer, layout, _ce)
    iterator = iter(strategy.distribute_datasets_from_function(
        lambda ctx: source.train_dataset(ctx, layout, seed=7)))
    fns.train_loop(iterator, tf.constant(steps))
    return layout, [v.numpy() for v in model.variables]


def test_padding_rows_stay_out_of_batch_norm_across_replicas(source):
    """Issue 5: 30 examples on 4 replicas (8 rows each, 2 padded) with
    cross-replica BN masked by the example weights train like one device on
    the 30 examples: the padding touches neither loss nor BN statistics."""
    layout, got = _train_bn(source, 4, 30)
    assert layout.padding == 2
    _, want = _train_bn(source, 1, 30)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("replicas,micro", [(1, None), (4, 6)])
def test_training_accuracy_counts_every_example_once(source, replicas, micro):
    """With the learning rate 0 the weights stay put, so one epoch's correct
    count equals the model's on the whole training set, in any order."""
    devices = [d.name for d in tf.config.list_logical_devices("CPU")[:replicas]]
    strategy = (distribute.cpu_mirrored_strategy(devices) if replicas > 1
                else tf.distribute.OneDeviceStrategy(devices[0]))
    layout = base.StepLayout.resolve(48, replicas, micro, allow_padding=True)
    keras.utils.set_random_seed(1)
    with strategy.scope():
        model = lenet.lenet5((28, 28, 1), 10)  # no dropout
        optimizer = build_optimizer("momentum", 0.0)
        optimizer.build(model.trainable_variables)
    fns = StepFunctions(strategy, model, optimizer, layout, _ce)
    iterator = iter(strategy.distribute_datasets_from_function(
        lambda ctx: source.train_dataset(ctx, layout, seed=7)))
    *_, correct = fns.train_loop(iterator, tf.constant(2))  # 96 examples
    x, y = make_images(96, seed=4)
    want = np.sum(np.argmax(model(x[..., None], training=True), -1) == y)
    assert float(correct) == want


class _RecordingReduction(tf.distribute.ReductionToOneDevice):
    """Records, at trace time, the graph each cross-replica reduction is
    traced into and how many tensors it reduces (a batched reduction is
    one entry: ReductionToOneDevice implements it as single reductions)."""

    def __init__(self):
        super().__init__()
        self.calls = []
        self._in_batch = False

    def _record(self, count):
        self.calls.append((tf.compat.v1.get_default_graph().name, count))

    def reduce_implementation(self, *args, **kwargs):
        if not self._in_batch:
            self._record(1)
        return super().reduce_implementation(*args, **kwargs)

    def batch_reduce_implementation(self, reduce_op, value_destination_pairs,
                                    options):
        self._record(len(value_destination_pairs))
        self._in_batch = True
        try:
            return super().batch_reduce_implementation(
                reduce_op, value_destination_pairs, options)
        finally:
            self._in_batch = False


@pytest.mark.parametrize("micro", [None, 6])
def test_loop_body_reduces_only_the_gradient(source, micro):
    """Issue 15.3, MLPerf's and Orbit's host loop: inside the traced per-step
    body the only cross-replica reduction is the optimizer's one batched
    all-reduce of the gradients (and the squared-norm probe's); the loop's
    sums stay replica-local until it ends. The 4-replica sums equal one
    device's."""
    recorder = _RecordingReduction()
    devices = [d.name for d in tf.config.list_logical_devices("CPU")[:4]]
    strategy = tf.distribute.MirroredStrategy(devices,
                                              cross_device_ops=recorder)
    layout = base.StepLayout.resolve(48, 4, micro)
    keras.utils.set_random_seed(1)
    with strategy.scope():
        model = lenet.lenet5((28, 28, 1), 10)
        optimizer = build_optimizer("momentum", 0.1)
        optimizer.build(model.trainable_variables)
    fns = StepFunctions(strategy, model, optimizer, layout, _ce,
                        measure_gradients=True)
    iterator = iter(strategy.distribute_datasets_from_function(
        lambda ctx: source.train_dataset(ctx, layout, seed=7)))
    got = [float(x) for x in fns.train_loop(iterator, tf.constant(3))]

    # The sums' one reduction, after the loop, reads the ON_READ variable
    # (MirroredStrategy sums its components without the cross-device ops).
    in_body = [n for graph, n in recorder.calls if "while" in graph]
    variables = len(model.trainable_variables)
    # the gradient all-reduce, and the global squared norm's (measure_gradients)
    assert sorted(in_body) == [variables, variables], recorder.calls

    keras.utils.set_random_seed(1)
    one = tf.distribute.OneDeviceStrategy(devices[0])
    with one.scope():
        model = lenet.lenet5((28, 28, 1), 10)
        optimizer = build_optimizer("momentum", 0.1)
        optimizer.build(model.trainable_variables)
    fns = StepFunctions(one, model, optimizer, base.StepLayout.resolve(48, 1),
                        _ce, measure_gradients=True)
    iterator = iter(one.distribute_datasets_from_function(
        lambda ctx: source.train_dataset(ctx, base.StepLayout.resolve(48, 1),
                                         seed=7)))
    want = [float(x) for x in fns.train_loop(iterator, tf.constant(3))]
    loss, _, big, correct = want
    np.testing.assert_allclose([got[0], got[2], got[3]], [loss, big, correct],
                               rtol=2e-3)
