"""GroupedBatchNormalization on one device: Keras equality, ghost batches,
masks, micro-batch momentum, config and argument errors."""
import keras
import numpy as np
import pytest
import tensorflow as tf

from gbn_reference import backward
from gbn_reference import forward
from gbn_reference import ghost_groups
from gbn_reference import moving_update
from limitbatch_tf.layers import GroupedBatchNormalization


def _train_calls(layer, xs, dys, mask=None):
    """Training calls; returns [(y, dx, dgamma, dbeta)] per call."""
    out = []
    for x, dy in zip(xs, dys):
        x = tf.constant(x)
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = layer(x, training=True, mask=mask)
            loss = tf.reduce_sum(y * dy)
        grads = tape.gradient(loss, [x, layer.gamma, layer.beta])
        out.append([t.numpy() for t in [y] + grads])
    return out


def _data(shape, steps=3, seed=0):
    rng = np.random.default_rng(seed)
    xs = [(rng.normal(size=shape) * 2 + 3).astype("float32")
          for _ in range(steps)]
    dys = [rng.normal(size=shape).astype("float32") for _ in range(steps)]
    return xs, dys


def _pair(shape, **kwargs):
    ours = GroupedBatchNormalization(momentum=0.9, **kwargs)
    keras_bn = keras.layers.BatchNormalization(momentum=0.9)
    for layer in (ours, keras_bn):
        layer.build(shape)
        layer.gamma.assign(np.linspace(0.5, 1.5, shape[-1]))
        layer.beta.assign(np.linspace(-1, 1, shape[-1]))
    return ours, keras_bn


@pytest.mark.parametrize("shape", [(16, 5), (8, 3, 3, 4)])
def test_equals_keras_batch_norm_on_whole_batch(shape):
    xs, dys = _data(shape)
    ours, keras_bn = _pair(shape)
    for a, b in zip(_train_calls(ours, xs, dys), _train_calls(keras_bn, xs, dys)):
        for got, want in zip(a, b):
            np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)
    for name in ("moving_mean", "moving_variance"):
        np.testing.assert_allclose(getattr(ours, name).numpy(),
                                   getattr(keras_bn, name).numpy(),
                                   rtol=1e-6, atol=1e-6)
    x = tf.constant(xs[0])
    np.testing.assert_allclose(ours(x, training=False), keras_bn(x),
                               rtol=1e-6, atol=1e-6)


def test_ghost_batches_match_reference():
    shape, ghost = (12, 2, 3), 4
    xs, dys = _data(shape)
    layer = GroupedBatchNormalization(ghost_batch_size=ghost, momentum=0.7,
                                      epsilon=1e-2)
    layer.build(shape)
    gamma, beta = np.array([0.5, 1.0, 2.0]), np.array([0.1, -0.2, 0.3])
    layer.gamma.assign(gamma)
    layer.beta.assign(beta)
    groups = ghost_groups(shape[0], ghost)
    mean, var = np.zeros(3), np.ones(3)
    for x, dy, (y, dx, dgamma, dbeta) in zip(
            xs, dys, _train_calls(layer, xs, dys)):
        ref_y, stats = forward(x, gamma, beta, groups, eps=1e-2)
        ref_dx, ref_dgamma, ref_dbeta = backward(x, gamma, groups, dy,
                                                 eps=1e-2)
        for got, want in ((y, ref_y), (dx, ref_dx), (dgamma, ref_dgamma),
                          (dbeta, ref_dbeta)):
            np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)
        mean, var = moving_update(mean, var, stats, 0.7)
    np.testing.assert_allclose(layer.moving_mean.numpy(), mean, rtol=1e-5)
    np.testing.assert_allclose(layer.moving_variance.numpy(), var, rtol=1e-5)


def test_reference_backward_matches_finite_differences():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(6, 2, 2))
    dy, gamma, beta = rng.normal(size=x.shape), np.array([0.7, 1.3]), 0.0
    w = np.array([1.0, 0.0, 1.0, 1.0, 0.0, 1.0])
    groups = ghost_groups(6, 3)
    dx = backward(x, gamma, groups, dy, w)[0]
    h, numeric = 1e-6, np.zeros_like(x)
    for i in np.ndindex(x.shape):
        e = np.zeros_like(x)
        e[i] = h
        numeric[i] = ((forward(x + e, gamma, beta, groups, w)[0] * dy).sum()
                      - (forward(x - e, gamma, beta, groups, w)[0] * dy).sum()
                      ) / (2 * h)
    np.testing.assert_allclose(dx, numeric, rtol=1e-5, atol=1e-7)


def test_padded_examples_do_not_enter_statistics():
    shape = (10, 2, 2, 3)
    xs, dys = _data(shape, steps=2)
    keep = np.array([1, 1, 0, 1, 1, 0, 0, 1, 1, 1], bool)
    for x, dy in zip(xs, dys):
        x[~keep] = 1e3  # padding far from the data would shift any statistic
        dy[~keep] = 0.0  # padded examples carry no loss
    ours, keras_bn = _pair(shape)
    got = _train_calls(ours, xs, dys, mask=tf.constant(keep))
    want = _train_calls(keras_bn, [x[keep] for x in xs],
                        [dy[keep] for dy in dys])
    for (y, dx, dgamma, dbeta), (ky, kdx, kdgamma, kdbeta) in zip(got, want):
        np.testing.assert_allclose(y[keep], ky, rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(dx[keep], kdx, rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(dx[~keep], 0.0, atol=1e-6)
        np.testing.assert_allclose(dgamma, kdgamma, rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(dbeta, kdbeta, rtol=1e-4, atol=1e-5)
    for name in ("moving_mean", "moving_variance"):
        np.testing.assert_allclose(getattr(ours, name).numpy(),
                                   getattr(keras_bn, name).numpy(),
                                   rtol=1e-5, atol=1e-5)


def test_keras_shaped_mask_equals_per_example_mask():
    shape = (6, 2, 2, 3)
    xs, dys = _data(shape, steps=1)
    keep = np.array([1, 0, 1, 1, 0, 1], "float32")
    a, b = _pair(shape)[0], _pair(shape)[0]
    per_position = np.broadcast_to(keep[:, None, None], shape[:-1])
    for got, want in zip(_train_calls(a, xs, dys, mask=keep)[0],
                         _train_calls(b, xs, dys, mask=per_position)[0]):
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)


def test_all_padding_leaves_moving_statistics_unchanged():
    layer = GroupedBatchNormalization()
    layer.build((4, 3))
    layer(tf.ones((4, 3)), training=True, mask=tf.zeros(4))
    np.testing.assert_array_equal(layer.moving_mean.numpy(), 0.0)
    np.testing.assert_array_equal(layer.moving_variance.numpy(), 1.0)


def test_micro_batch_momentum_decays_like_one_step():
    shape, k = (8, 3), 4
    xs, dys = _data(shape, steps=1)
    ours, keras_bn = _pair(shape, micro_batches_per_step=k)
    assert ours.momentum_per_call == pytest.approx(0.9 ** (1 / k))
    for _ in range(2):  # two accumulated steps of k identical micro-batches
        _train_calls(ours, xs * k, dys * k)
        _train_calls(keras_bn, xs, dys)
    for name in ("moving_mean", "moving_variance"):
        np.testing.assert_allclose(getattr(ours, name).numpy(),
                                   getattr(keras_bn, name).numpy(), rtol=1e-5)


def test_compiled_dynamic_batch_checks_ghost_divisibility():
    layer = GroupedBatchNormalization(ghost_batch_size=4)
    layer.build((None, 3))
    fn = tf.function(lambda x: layer(x, training=True),
                     input_signature=[tf.TensorSpec([None, 3])])
    x = np.random.default_rng(0).normal(size=(8, 3)).astype("float32")
    ref = forward(x, np.ones(3), np.zeros(3), ghost_groups(8, 4))[0]
    np.testing.assert_allclose(fn(x), ref, rtol=1e-4, atol=1e-4)
    with pytest.raises(tf.errors.InvalidArgumentError, match="multiple of"):
        fn(x[:6])


def test_static_batch_must_divide_into_ghost_batches():
    layer = GroupedBatchNormalization(ghost_batch_size=4)
    with pytest.raises(ValueError, match="multiple of ghost_batch_size"):
        layer(tf.zeros((6, 3)), training=True)


def test_inference_uses_moving_statistics_and_ignores_ghosts():
    layer = GroupedBatchNormalization(ghost_batch_size=2, epsilon=0.0)
    layer.build((4, 2))
    layer.moving_mean.assign([1.0, -1.0])
    layer.moving_variance.assign([4.0, 0.25])
    y = layer(tf.constant([[3.0, -1.5]] * 4), training=False)
    np.testing.assert_allclose(y, [[1.0, -1.0]] * 4, rtol=1e-6)


def test_config_round_trip_and_keras_config_compatibility():
    layer = GroupedBatchNormalization(
        ghost_batch_size=None, group_assignment=[[0, 2], [1, 3]],
        micro_batches_per_step=3, momentum=0.95, epsilon=1e-5, name="bn")
    config = layer.get_config()
    assert config["group_assignment"] == [[0, 2], [1, 3]]
    assert config["micro_batches_per_step"] == 3
    clone = GroupedBatchNormalization.from_config(config)
    assert clone.get_config() == config
    restored = keras.saving.deserialize_keras_object(
        keras.saving.serialize_keras_object(layer))
    assert isinstance(restored, GroupedBatchNormalization)
    assert restored.get_config() == config
    # A stock Keras config builds the drop-in, and the weights map 1:1.
    keras_bn = keras.layers.BatchNormalization(momentum=0.9, name="bn")
    keras_bn.build((2, 4))
    keras_bn.moving_mean.assign(np.arange(4.0))
    drop_in = GroupedBatchNormalization.from_config(keras_bn.get_config())
    drop_in.build((2, 4))
    assert [v.path for v in drop_in.weights] == [
        v.path for v in keras_bn.weights]
    drop_in.set_weights(keras_bn.get_weights())
    np.testing.assert_array_equal(drop_in.moving_mean.numpy(), np.arange(4.0))


def test_synchronized_means_all_replicas():
    assert GroupedBatchNormalization(
        synchronized=True).replica_group_size == "all"
    assert GroupedBatchNormalization().replica_group_size == 1


@pytest.mark.parametrize("kwargs,match", [
    (dict(ghost_batch_size=0), "ghost_batch_size must be a positive int"),
    (dict(ghost_batch_size=True), "ghost_batch_size must be a positive int"),
    (dict(replica_group_size=0), "replica_group_size must be a positive"),
    (dict(replica_group_size="half"), "replica_group_size must be a positive"),
    (dict(synchronized=True, replica_group_size=2), "synchronized=True"),
    (dict(group_assignment=[[0, 1]], replica_group_size=2), "not both"),
    (dict(group_assignment=[[0, 1]], replica_group_size=1), "not both"),
    (dict(group_assignment=[[0, 1]], synchronized=True), "not both"),
    (dict(group_assignment=[[0, 1], [1, 2]]), "must partition"),
    (dict(group_assignment=[[]]), "non-empty"),
    (dict(ghost_batch_size=2, replica_group_size=2), "cannot be combined"),
    (dict(ghost_batch_size=2, group_assignment=[[0]]), "cannot be combined"),
    (dict(micro_batches_per_step=0), "micro_batches_per_step"),
    (dict(renorm=True), "renorm"),
])
def test_argument_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        GroupedBatchNormalization(**kwargs)


def test_axis_must_be_last():
    with pytest.raises(ValueError, match="last"):
        GroupedBatchNormalization(axis=1).build((2, 3, 4))


def test_mask_rank_error():
    layer = GroupedBatchNormalization()
    with pytest.raises(ValueError, match="mask must have shape"):
        layer(tf.zeros((2, 3, 3, 4)), training=True, mask=tf.ones((2, 3)))
