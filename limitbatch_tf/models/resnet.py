"""Bottleneck ResNets as configurations of one builder (flax style).

- ``resnet50_v1_5``: ImageNet ResNet-50 v1.5 as in the MLPerf reference:
  7x7/2 stem + 3x3/2 max-pool, bottleneck stages [3, 4, 6, 3], the stride on
  the 3x3 convolution (v1.5; v1 strides the first 1x1), convolutions without
  bias, zero-initialised gamma of each block's last BN (Goyal et al. 2017),
  MLPerf's initialisers and explicit padding of strided convolutions
  (docs/recipes.md lists each detail against the reference),
  25,557,032 trainable parameters at 1000 classes.
- ``resnet50_cifar``: the CIFAR ResNet-50 of kuangliu/pytorch-cifar: 3x3
  stride-1 stem, no max-pool, the same stages with strides 1, 2, 2, 2, a 4x4
  average pool and a linear layer: 23,520,842 trainable parameters at 10
  classes (the PyTorch count; Keras adds 53,120 non-trainable moving
  statistics).

Weight decay lives in the optimizer (no kernel_regularizer); BN gammas and
betas and the dense bias are rank 1, which the optimizers exclude from decay.
The batch-norm layer is a constructor argument so the BN mode (local, ghost,
grouped, sync) is the caller's choice.

With ``example_weights_input=True`` the model takes ``[images, weights]``
(weights of shape [batch], 0 for padded rows) and passes the weights as the
``mask`` of every batch-norm layer, so zero-weight padding (the exact full
batch of issue 5: 1,281,167 examples on any replica count) stays out of the
batch statistics as it stays out of the loss; the batch-norm layer must take
a [batch] mask (GroupedBatchNormalization does).
"""
from __future__ import annotations

import keras
from keras import layers

_STAGES = (3, 4, 6, 3)
_FILTERS = (64, 128, 256, 512)
_EXPANSION = 4


def _conv(x, filters, kernel, stride, name, init):
    """Conv without bias; strided convolutions pad explicitly.

    MLPerf's ``conv2d_fixed_padding`` (v0.6 resnet_model.py ``fixed_padding``):
    a strided k x k convolution pads (k-1)//2 before and the rest after,
    then runs VALID. Keras's "same" pads by the input size instead (2 before
    and 3 after for the 7x7/2 stem on 224 px, 0 and 1 for a 3x3/2 on even
    sides), which shifts every window; stride-1 "same" is symmetric already.
    """
    if stride > 1 and kernel > 1:
        before = (kernel - 1) // 2
        pad = (before, kernel - 1 - before)
        x = layers.ZeroPadding2D((pad, pad), name=f"{name}_pad")(x)
        padding = "valid"
    else:
        padding = "same"
    return layers.Conv2D(filters, kernel, strides=stride, padding=padding,
                         use_bias=False, kernel_initializer=init, name=name)(x)


def _bottleneck(x, filters, stride, batch_norm, name, zero_init_last_gamma,
                init="glorot_uniform"):
    """``batch_norm(x, name, gamma_initializer=)`` applies one BN layer."""
    shortcut = x
    out_filters = filters * _EXPANSION
    if stride != 1 or x.shape[-1] != out_filters:
        shortcut = _conv(x, out_filters, 1, stride, f"{name}_proj_conv", init)
        shortcut = batch_norm(shortcut, f"{name}_proj_bn")
    y = _conv(x, filters, 1, 1, f"{name}_conv1", init)
    y = layers.ReLU(name=f"{name}_relu1")(batch_norm(y, f"{name}_bn1"))
    y = _conv(y, filters, 3, stride, f"{name}_conv2", init)
    y = layers.ReLU(name=f"{name}_relu2")(batch_norm(y, f"{name}_bn2"))
    y = _conv(y, out_filters, 1, 1, f"{name}_conv3", init)
    y = batch_norm(y, f"{name}_bn3", gamma_initializer=(
        "zeros" if zero_init_last_gamma else "ones"))
    return layers.ReLU(name=f"{name}_out")(layers.Add(name=f"{name}_add")(
        [shortcut, y]))


def bottleneck_resnet(input_shape, num_classes, *, imagenet_stem: bool,
                      batch_norm=None, bn_momentum=0.9, bn_epsilon=1e-5,
                      zero_init_last_bn_gamma=True, example_weights_input=False,
                      name="resnet"):
    """The generic builder behind both configurations.

    Args:
      input_shape: (H, W, C), channels last.
      num_classes: size of the float32 logits.
      imagenet_stem: 7x7/2 conv + 3x3/2 max-pool (True) or a 3x3/1 conv
        (False, CIFAR).
      batch_norm: constructor ``(name=, momentum=, epsilon=,
        gamma_initializer=) -> layer``. Defaults to
        keras.layers.BatchNormalization.
      bn_momentum, bn_epsilon: BN moving-average momentum and epsilon.
        Default to 0.9 and 1e-5 (MLPerf).
      zero_init_last_bn_gamma: zero gamma of each block's last BN. Defaults
        to True.
      example_weights_input: take ``[images, weights]`` and mask every BN
        with the weights (see the module docstring). Defaults to False.
    """
    make_bn = batch_norm or layers.BatchNormalization
    images = keras.Input(shape=input_shape, name="images")
    weights = (keras.Input(shape=(), name="example_weights")
               if example_weights_input else None)

    def bn(x, name, gamma_initializer="ones"):
        layer = make_bn(name=name, momentum=bn_momentum, epsilon=bn_epsilon,
                        gamma_initializer=gamma_initializer)
        return layer(x) if weights is None else layer(x, mask=weights)

    if imagenet_stem:
        # MLPerf's initialisers (v0.6 resnet_model.py): variance scaling
        # (fan-in, scale 1, truncated normal) for convolutions, N(0, 0.01)
        # for the classifier. The CIFAR model keeps Keras's defaults.
        init = keras.initializers.VarianceScaling(
            scale=1.0, mode="fan_in", distribution="truncated_normal")
        dense_init = keras.initializers.RandomNormal(stddev=0.01)
        x = _conv(images, 64, 7, 2, "stem_conv", init)
        x = layers.ReLU(name="stem_relu")(bn(x, "stem_bn"))
        # Max-pool stays "same", as MLPerf's (padding='SAME').
        x = layers.MaxPooling2D(3, strides=2, padding="same", name="stem_pool")(x)
    else:
        init, dense_init = "glorot_uniform", "glorot_uniform"
        x = _conv(images, 64, 3, 1, "stem_conv", init)
        x = layers.ReLU(name="stem_relu")(bn(x, "stem_bn"))
    for stage, (blocks, filters) in enumerate(zip(_STAGES, _FILTERS)):
        for block in range(blocks):
            stride = 2 if block == 0 and stage > 0 else 1
            x = _bottleneck(x, filters, stride, bn, f"stage{stage + 1}_block{block + 1}",
                            zero_init_last_bn_gamma, init)
    x = layers.GlobalAveragePooling2D(name="pool")(x)
    outputs = layers.Dense(num_classes, dtype="float32", name="logits",
                           kernel_initializer=dense_init)(x)
    return keras.Model(images if weights is None else [images, weights],
                       outputs, name=name)


def resnet50_v1_5(num_classes=1000, input_shape=(224, 224, 3), **kwargs):
    """ImageNet ResNet-50 v1.5 (MLPerf reference)."""
    return bottleneck_resnet(input_shape, num_classes, imagenet_stem=True,
                             name="resnet50_v1_5", **kwargs)


def resnet50_cifar(num_classes=10, input_shape=(32, 32, 3), **kwargs):
    """CIFAR ResNet-50 (kuangliu/pytorch-cifar)."""
    return bottleneck_resnet(input_shape, num_classes, imagenet_stem=False,
                             name="resnet50_cifar", **kwargs)
