"""Label-smoothed per-example cross-entropy against NumPy and Keras."""
import keras
import numpy as np
import pytest
import tensorflow as tf

from limitbatch_tf.losses import per_example_cross_entropy


def numpy_reference(labels, logits, eps):
    """-sum_k q_k log p_k with q = (1 - eps) onehot + eps / K, in float64."""
    logits = np.asarray(logits, np.float64)
    k = logits.shape[-1]
    shifted = logits - logits.max(axis=-1, keepdims=True)
    log_p = shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))
    q = np.full(logits.shape, eps / k)
    q[np.arange(len(labels)), labels] += 1.0 - eps
    return -(q * log_p).sum(axis=-1)


def random_batch(batch=16, classes=10, seed=0, scale=3.0):
    rng = np.random.default_rng(seed)
    return (rng.integers(0, classes, size=batch),
            (scale * rng.standard_normal((batch, classes))).astype(np.float32))


@pytest.mark.parametrize("eps", [0.0, 0.1, 0.5, 1.0])
def test_matches_numpy(eps):
    labels, logits = random_batch()
    got = per_example_cross_entropy(labels, logits, label_smoothing=eps)
    assert got.dtype == tf.float32 and got.shape == (16,)
    np.testing.assert_allclose(got.numpy(), numpy_reference(labels, logits, eps), rtol=1e-5)


def test_hand_computed_example():
    # Two classes, logits (0, 0): p = (1/2, 1/2); any targets give log 2.
    # Logits (log 3, 0): p = (3/4, 1/4); eps = 0.2, label 1:
    # q = (0.1, 0.9) -> 0.1 * -log(3/4) + 0.9 * -log(1/4).
    logits = np.array([[0.0, 0.0], [np.log(3.0), 0.0]], np.float32)
    got = per_example_cross_entropy([0, 1], logits, label_smoothing=0.2).numpy()
    want = [np.log(2.0), -0.1 * np.log(0.75) - 0.9 * np.log(0.25)]
    np.testing.assert_allclose(got, want, rtol=1e-6)


@pytest.mark.parametrize("eps", [0.0, 0.1])
def test_matches_keras_categorical_crossentropy(eps):
    labels, logits = random_batch(classes=1000, seed=1)
    keras_loss = keras.losses.CategoricalCrossentropy(
        from_logits=True, label_smoothing=eps, reduction=None)
    want = keras_loss(tf.one_hot(labels, 1000), logits).numpy()
    got = per_example_cross_entropy(labels, logits, label_smoothing=eps).numpy()
    np.testing.assert_allclose(got, want, rtol=1e-5)


@pytest.mark.parametrize("dtype", [tf.bfloat16, tf.float16])
def test_low_precision_logits_are_computed_in_float32(dtype):
    labels, logits = random_batch(classes=1000, seed=2)
    low = tf.cast(logits, dtype)
    got = per_example_cross_entropy(labels, low, label_smoothing=0.1)
    assert got.dtype == tf.float32
    # Exactly the float32 loss of the rounded logits, not a low-precision one.
    rounded = tf.cast(low, tf.float32).numpy()
    np.testing.assert_allclose(got.numpy(), numpy_reference(labels, rounded, 0.1), rtol=1e-5)


def test_stable_for_huge_logits():
    logits = np.array([[1e4, -1e4, 0.0], [-3e4, 3e4, 0.0]], np.float32)
    got = per_example_cross_entropy([0, 0], logits, label_smoothing=0.1).numpy()
    assert np.all(np.isfinite(got))
    np.testing.assert_allclose(got, numpy_reference([0, 0], logits, 0.1), rtol=1e-6)


def test_column_labels_and_graph_mode():
    labels, logits = random_batch()
    fn = tf.function(lambda y, x: per_example_cross_entropy(y, x, label_smoothing=0.1))
    np.testing.assert_allclose(fn(labels[:, None], logits).numpy(),
                               numpy_reference(labels, logits, 0.1), rtol=1e-5)


@pytest.mark.parametrize("kwargs, match", [
    (dict(label_smoothing=-0.1), "label_smoothing"),
    (dict(label_smoothing=1.5), "label_smoothing"),
    (dict(labels=np.zeros((4, 10), np.float32)), "labels"),
    (dict(labels=np.zeros((4, 2), np.int32)), "labels"),
    (dict(logits=np.zeros((4,), np.float32)), "logits"),
])
def test_errors(kwargs, match):
    args = dict(labels=np.zeros(4, np.int32), logits=np.zeros((4, 10), np.float32))
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        per_example_cross_entropy(**args)
