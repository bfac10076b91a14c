"""LeNet variants for MNIST-scale studies.

- ``lenet5``: the classic LeNet-5 shape (LeCun et al. 1998): conv 6@5x5,
  pool, conv 16@5x5, pool, dense 120, 84. ReLU and max-pooling replace the
  original tanh and subsampling, and the first convolution pads "same" so a
  28x28 input plays the role of the original 32x32 one.
- ``lenet_tpu``: the "LeNet" of Google's TPU MNIST model
  (tensorflow/tpu models/official/mnist), the net the paper's MNIST results
  most likely used: conv 32@5x5 same relu, pool 2, conv 32@5x5 (64 in the
  pre-2019 version) same relu, pool 2, dense 1024 relu, dropout 0.4.
Both return float32 logits.
"""
from __future__ import annotations

import keras
from keras import layers


def lenet5(input_shape, num_classes: int) -> keras.Model:
    """Classic LeNet-5 (6/16 filters, 120/84 dense) with ReLU and max-pooling."""
    return keras.Sequential([
        keras.Input(shape=input_shape),
        layers.Conv2D(6, 5, padding="same", activation="relu", name="conv1"),
        layers.MaxPooling2D(2, name="pool1"),
        layers.Conv2D(16, 5, activation="relu", name="conv2"),
        layers.MaxPooling2D(2, name="pool2"),
        layers.Flatten(name="flatten"),
        layers.Dense(120, activation="relu", name="fc1"),
        layers.Dense(84, activation="relu", name="fc2"),
        layers.Dense(num_classes, name="logits", dtype="float32"),
    ], name="lenet5")


def lenet_tpu(input_shape, num_classes: int, conv2_filters: int = 32,
              dropout: float = 0.4) -> keras.Model:
    """The TPU MNIST reference net.

    Args:
      conv2_filters: filters of the second convolution. Defaults to 32 (the
        current reference); 64 is the pre-2019 version.
      dropout: dropout rate before the output layer. Defaults to 0.4.
    """
    return keras.Sequential([
        keras.Input(shape=input_shape),
        layers.Conv2D(32, 5, padding="same", activation="relu", name="conv1"),
        layers.MaxPooling2D(2, name="pool1"),
        layers.Conv2D(conv2_filters, 5, padding="same", activation="relu",
                      name="conv2"),
        layers.MaxPooling2D(2, name="pool2"),
        layers.Flatten(name="flatten"),
        layers.Dense(1024, activation="relu", name="fc1"),
        layers.Dropout(dropout, name="dropout"),
        layers.Dense(num_classes, name="logits", dtype="float32"),
    ], name="lenet_tpu")
