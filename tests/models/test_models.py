"""Model shapes and parameter counts pinned to their references."""
import numpy as np
import pytest
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
