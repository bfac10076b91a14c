"""Keras integration: tf.distribute, loss scaling, saving, XLA, fit."""
import keras
import numpy as np
import pytest
import tensorflow as tf

from limitbatch_tf import distribute

from limitbatch_tf.optimizers import LAMB, LARS, LayerwiseTrustRatio

GLOBAL_BATCH = 32
LOSS = keras.losses.SparseCategoricalCrossentropy(from_logits=True)


def _data(n=GLOBAL_BATCH * 3, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 4)).astype(np.float32)
    y = rng.integers(0, 3, size=(n,)).astype(np.int32)
    return x, y


def _model(seed=0):
    keras.utils.set_random_seed(seed)
    return keras.Sequential([keras.Input((4,)),
                             keras.layers.Dense(8, activation="relu",
                                                name="hidden"),
                             keras.layers.Dense(3, name="logits")],
                            name="net")


def _schedule(scale):
    """Non-zero from the first step (so that 3 steps move the weights) and
    changing after step 1 (so that schedules are exercised)."""
    return keras.optimizers.schedules.PiecewiseConstantDecay(
        [1], [scale, 0.5 * scale])


OPTIMIZERS = {
    "lars": lambda: LARS(0.5, weight_decay=1e-3),
    "lamb": lambda: LAMB(_schedule(0.05), weight_decay=1e-2,
                         trust_ratio_bounds=(0.2, 5.0)),
    "layerwise_adam": lambda: LayerwiseTrustRatio(
        keras.optimizers.Adam(0.01), weight_decay=1e-2),
    "layerwise_momentum": lambda: LayerwiseTrustRatio(
        keras.optimizers.SGD(_schedule(2.0), momentum=0.9), eeta=1e-3,
        weight_decay=1e-3),
}


def _assert_moved(weights, atol=1e-3):
    """Guards against vacuous equalities (e.g. a zero learning rate)."""
    initial = [w.numpy() for w in _model().trainable_variables]
    assert any(not np.allclose(a, b, atol=atol)
               for a, b in zip(weights, initial))


def _custom_loop(strategy, make_optimizer, x, y):
    """strategy.run(step) per global batch; Keras all-reduces (sums) grads."""
    with strategy.scope():
        model = _model()
        optimizer = make_optimizer()
        # Custom loops build the optimizer before tracing (variables created
        # inside a tf.function under MirroredStrategy are not supported).
        optimizer.build(model.trainable_variables)
    dataset = strategy.experimental_distribute_dataset(
        tf.data.Dataset.from_tensor_slices((x, y)).batch(GLOBAL_BATCH))

    def replica_step(xb, yb):
        with tf.GradientTape() as tape:
            logits = model(xb, training=True)
            per_example = keras.losses.sparse_categorical_crossentropy(
                yb, logits, from_logits=True)
            loss = tf.reduce_sum(per_example) / GLOBAL_BATCH
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables))

    @tf.function
    def step(batch):
        strategy.run(replica_step, args=batch)

    for batch in dataset:
        step(batch)
    ratios = {k: float(v) for k, v in optimizer.trust_ratios.items()}
    return [w.numpy() for w in model.trainable_variables], ratios


@pytest.mark.parametrize("key", ["lars", "lamb", "layerwise_momentum"])
def test_mirrored_four_replicas_equal_one_device(key):
    x, y = _data()
    devices = [d.name for d in tf.config.list_logical_devices("CPU")[:4]]
    assert len(devices) == 4
    one_w, one_r = _custom_loop(tf.distribute.get_strategy(),
                                OPTIMIZERS[key], x, y)
    four_w, four_r = _custom_loop(distribute.cpu_mirrored_strategy(devices),
                                  OPTIMIZERS[key], x, y)
    for a, b in zip(four_w, one_w):
        np.testing.assert_allclose(a, b, atol=1e-6, rtol=1e-5)
    _assert_moved(one_w)
    assert four_r == pytest.approx(one_r, rel=1e-5)
    assert sorted(one_r) == ["net/hidden/kernel", "net/logits/kernel"]


def _eager_steps(optimizer, scale_loss, steps=3):
    model = _model()
    x, y = _data()
    for i in range(steps):
        xb = x[i * GLOBAL_BATCH:(i + 1) * GLOBAL_BATCH]
        yb = y[i * GLOBAL_BATCH:(i + 1) * GLOBAL_BATCH]
        with tf.GradientTape() as tape:
            loss = keras.ops.mean(keras.losses.sparse_categorical_crossentropy(
                yb, model(xb), from_logits=True))
            if scale_loss:
                loss = optimizer.scale_loss(loss)
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply(grads, model.trainable_variables)
    return [w.numpy() for w in model.trainable_variables]


@pytest.mark.parametrize("key", ["lars", "layerwise_adam"])
def test_loss_scale_optimizer_unscales_before_the_trust_ratio(key):
    plain = _eager_steps(OPTIMIZERS[key](), scale_loss=False)
    scaled_opt = keras.optimizers.LossScaleOptimizer(
        OPTIMIZERS[key](), initial_scale=2.0 ** 10)
    scaled = _eager_steps(scaled_opt, scale_loss=True)
    for a, b in zip(scaled, plain):
        np.testing.assert_allclose(a, b, atol=1e-6, rtol=1e-6)
    _assert_moved(plain)
    assert int(scaled_opt.iterations) == 3


def test_mixed_float16_fit_wraps_in_loss_scale_optimizer():
    x, y = _data()
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy("mixed_float16")
    try:
        model = _model()
        model.compile(OPTIMIZERS["lamb"](), LOSS)
        model.fit(x, y, batch_size=GLOBAL_BATCH, epochs=1, verbose=0)
    finally:
        keras.config.set_dtype_policy(previous)
    opt = model.optimizer
    assert isinstance(opt, keras.optimizers.LossScaleOptimizer)
    assert isinstance(opt.inner_optimizer, LAMB)
    assert int(opt.inner_optimizer.iterations) == 3
    assert all(np.isfinite(w.numpy()).all() for w in model.trainable_variables)
    assert all(np.isfinite(float(r)) and float(r) != 1.0
               for r in opt.inner_optimizer.trust_ratios.values())


@pytest.mark.parametrize("key", ["lars", "layerwise_adam"])
def test_save_and_load_model_keeps_optimizer_state(key, tmp_path):
    x, y = _data()
    model = _model()
    model.compile(OPTIMIZERS[key](), LOSS)
    model.fit(x, y, batch_size=GLOBAL_BATCH, epochs=1, verbose=0,
              shuffle=False)
    path = str(tmp_path / "model.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert type(loaded.optimizer) is type(model.optimizer)
    assert loaded.optimizer.get_config() == model.optimizer.get_config()
    before = [v.numpy() for v in model.optimizer.variables]
    after = [v.numpy() for v in loaded.optimizer.variables]
    assert len(before) == len(after) and len(before) > 5
    for a, b in zip(after, before):
        np.testing.assert_array_equal(a, b)
    # Training on from the restored state gives the same weights.
    for m in (model, loaded):
        m.fit(x, y, batch_size=GLOBAL_BATCH, epochs=1, verbose=0,
              shuffle=False)
    for a, b in zip(loaded.trainable_variables, model.trainable_variables):
        np.testing.assert_allclose(a.numpy(), b.numpy(), atol=1e-6)


@pytest.mark.parametrize("key", ["lars", "lamb", "layerwise_adam"])
def test_xla_fit_matches_eager_steps(key):
    x, y = _data()
    model = _model()
    model.compile(OPTIMIZERS[key](), LOSS,
                  jit_compile=True)
    model.fit(x, y, batch_size=GLOBAL_BATCH, epochs=1, verbose=0,
              shuffle=False)
    eager = _eager_steps(OPTIMIZERS[key](), scale_loss=False)
    for a, b in zip(model.trainable_variables, eager):
        np.testing.assert_allclose(a.numpy(), b, atol=1e-5, rtol=1e-5)
    _assert_moved(eager)
