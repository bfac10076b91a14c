"""Model shapes and parameter counts pinned to their references."""
import numpy as np
import pytest
import keras
import tensorflow as tf

from limitbatch_tf.models import lenet, resnet


def _trainable(model):
    return sum(int(np.prod(v.shape)) for v in model.trainable_variables)


def test_parameter_counts():
    assert _trainable(resnet.resnet50_v1_5()) == 25_557_032      # MLPerf
    assert _trainable(resnet.resnet50_cifar()) == 23_520_842     # kuangliu
    assert lenet.lenet5((28, 28, 1), 10).count_params() == 61_706
    assert lenet.lenet_tpu((28, 28, 1), 10).count_params() == 1_643_370
    assert lenet.lenet_tpu((28, 28, 1), 10, conv2_filters=64).count_params() == 3_274_634


def test_v1_5_strides_the_3x3_convolution():
    model = resnet.resnet50_v1_5()
    assert model.get_layer("stage2_block1_conv1").strides == (1, 1)
    assert model.get_layer("stage2_block1_conv2").strides == (2, 2)
    gamma = model.get_layer("stage2_block1_bn3").gamma.numpy()
    assert (gamma == 0).all()   # zero-initialised last BN gamma


def _fixed_padding_conv(x, kernel, stride):
    """MLPerf's conv2d_fixed_padding: pad (k-1)//2 before
    and the rest after, then VALID (v0.6 resnet_model.py fixed_padding)."""
    k = kernel.shape[0]
    before = (k - 1) // 2
    pad = [[0, 0], [before, k - 1 - before], [before, k - 1 - before], [0, 0]]
    return tf.nn.conv2d(tf.pad(x, pad), kernel, stride, "VALID")


@pytest.mark.parametrize("layer, input_layer", [
    ("stem_conv", None), ("stage2_block1_conv2", "stage2_block1_relu1")])
def test_strided_convolutions_pad_as_mlperf(layer, input_layer):
    """The 7x7/2 stem and the 3x3/2 convolutions equal the reference's
    explicit padding (Keras's "same" would pad 2/3 and 0/1 and differ)."""
    model = resnet.resnet50_v1_5(num_classes=10, input_shape=(64, 64, 3))
    conv = model.get_layer(layer)
    source = model.input if input_layer is None else model.get_layer(input_layer).output
    probe = keras.Model(model.input, [source, conv.output])
    inputs, outputs = probe(tf.random.normal([2, 64, 64, 3], seed=1))
    expected = _fixed_padding_conv(inputs, conv.kernel, conv.strides[0])
    np.testing.assert_allclose(outputs.numpy(), expected.numpy(), rtol=1e-4, atol=1e-4)
    same = tf.nn.conv2d(inputs, conv.kernel, conv.strides[0], "SAME")
    assert not np.allclose(same.numpy(), expected.numpy(), atol=1e-3)


def test_imagenet_initialisers_are_mlperf():
    """Convolutions: variance scaling (fan-in, 1, truncated normal);
    classifier: N(0, 0.01) (v0.6 resnet_model.py l.305, l.522)."""
    model = resnet.resnet50_v1_5()
    for layer in model.layers:
        if "conv" in layer.name and hasattr(layer, "kernel"):
            init = layer.kernel_initializer.get_config()
            assert (init["scale"], init["mode"], init["distribution"]) == (
                1.0, "fan_in", "truncated_normal"), layer.name
    kernel = model.get_layer("stage4_block3_conv2").kernel.numpy()
    fan_in = 3 * 3 * 512
    assert abs(kernel.std() - np.sqrt(1.0 / fan_in)) < 0.05 * np.sqrt(1.0 / fan_in)
    logits = model.get_layer("logits").kernel.numpy()
    assert abs(logits.std() - 0.01) < 0.0005 and abs(logits.mean()) < 0.001


@pytest.mark.parametrize("size", [32, 64])
@pytest.mark.parametrize("builder", [resnet.resnet50_cifar, resnet.resnet50_v1_5])
def test_forward_backward(builder, size):
    model = builder(num_classes=10, input_shape=(size, size, 3))
    x = tf.random.normal([2, size, size, 3])
    with tf.GradientTape() as tape:
        logits = model(x, training=True)
        loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(
            tf.constant([1, 2]), logits))
    grads = tape.gradient(loss, model.trainable_variables)
    assert logits.shape == (2, 10) and logits.dtype == tf.float32
    assert all(g is not None for g in grads)
    assert np.isfinite(float(loss))


def test_padded_rows_stay_out_of_batch_norm():
    """Issue 5: a model built with example weights trains on real rows +
    zero-weight padding exactly as the same model on the real rows alone:
    same logits for the real rows, same gradients, same moving statistics."""
    from limitbatch_tf.layers import make_batch_norm
    bn = make_batch_norm("grouped", replica_group_size=1)
    kwargs = dict(num_classes=10, input_shape=(16, 16, 3), batch_norm=bn,
                  zero_init_last_bn_gamma=False)
    plain = resnet.resnet50_cifar(**kwargs)
    masked = resnet.resnet50_cifar(example_weights_input=True, **kwargs)
    masked.set_weights(plain.get_weights())
    real = tf.random.normal([3, 16, 16, 3], seed=1)
    padding = 100.0 * tf.random.normal([2, 16, 16, 3], seed=2)  # garbage rows
    weights = tf.constant([1.0, 1.0, 1.0, 0.0, 0.0])
    labels = tf.constant([1, 2, 3, 0, 0])

    def grads(model, inputs, w):
        with tf.GradientTape() as tape:
            logits = model(inputs, training=True)
            loss = tf.reduce_sum(w * tf.nn.sparse_softmax_cross_entropy_with_logits(
                labels[:len(w)], logits)) / 3.0
        return logits, tape.gradient(loss, model.trainable_variables)

    want_logits, want = grads(plain, real, weights[:3])
    got_logits, got = grads(masked, [tf.concat([real, padding], 0), weights],
                            weights)
    np.testing.assert_allclose(got_logits[:3], want_logits, rtol=1e-4, atol=1e-4)
    for g, w in zip(got, want):
        # float32 through 50 layers: relative to the largest entry
        np.testing.assert_allclose(g, w, rtol=1e-3, atol=1e-3 * np.abs(w).max())
    for a, b in zip(masked.non_trainable_variables, plain.non_trainable_variables):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-4, atol=1e-5)


def test_registry_masks_batch_norm_only_when_the_layout_pads():
    from limitbatch_tf.config import Config
    from limitbatch_tf.data.base import DatasetInfo, StepLayout
    from limitbatch_tf.layers import GroupedBatchNormalization
    from limitbatch_tf.models.registry import build_model
    info = DatasetInfo("fake", (16, 16, 3), 10, 10)
    config = Config(model="resnet50_cifar", bn="local")
    padded = StepLayout.resolve(10, 1, 4, allow_padding=True)  # 3 x 4, 2 pad
    model = build_model("resnet50_cifar", info, config, padded)
    assert [i.name for i in model.inputs] == ["images", "example_weights"]
    bns = [l for l in model.layers if "bn" in l.name]
    assert bns and all(isinstance(l, GroupedBatchNormalization) for l in bns)
    exact = StepLayout.resolve(8, 1, 4)
    assert len(build_model("resnet50_cifar", info, config, exact).inputs) == 1


@pytest.mark.parametrize("policy", ["mixed_bfloat16", "mixed_float16"])
def test_resnet_under_mixed_precision(policy):
    """Issue 6: low-precision compute, float32 variables, BN statistics and
    logits (the loss is taken in float32)."""
    import keras
    from limitbatch_tf.layers import make_batch_norm
    keras.mixed_precision.set_global_policy(policy)
    try:
        model = resnet.resnet50_cifar(
            num_classes=10, input_shape=(16, 16, 3),
            batch_norm=make_batch_norm("ghost", ghost_batch_size=2))
        x = tf.random.normal([4, 16, 16, 3])
        with tf.GradientTape() as tape:
            logits = model(x, training=True)
            loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(
                tf.constant([1, 2, 3, 4]), logits))
        grads = tape.gradient(loss, model.trainable_variables)
    finally:
        keras.mixed_precision.set_global_policy("float32")
    low = policy.split("_")[1]
    assert model.get_layer("stem_conv").compute_dtype == low
    assert logits.dtype == tf.float32 and np.isfinite(float(loss))
    assert all(v.dtype == "float32" for v in model.variables)
    assert all(g is not None and np.isfinite(g.numpy()).all() for g in grads)
