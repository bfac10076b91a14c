"""A multilayer perceptron: the forecast study's non-convolutional workload.

Issue 19's calibration study (experiments/forecast/) wants workloads that
differ: LeNet-5 (convolutions), softmax regression (convex) and this MLP,
two ReLU layers of 256 units (784-256-256-10 on 28x28 images, 269,322
parameters): a non-convex net without weight sharing, at about LeNet-5's
cost per example on a CPU (the TPU tutorial's LeNet costs ~7x per example
here, too much for a search of tens of runs on two cores).
"""
from __future__ import annotations

import keras
from keras import layers

HIDDEN = (256, 256)


def mlp(input_shape, num_classes: int, hidden=HIDDEN) -> keras.Model:
    """logits = W3 relu(W2 relu(W1 flatten(x) + b1) + b2) + b3."""
    return keras.Sequential(
        [keras.Input(shape=input_shape), layers.Flatten(name="flatten")]
        + [layers.Dense(width, activation="relu", name=f"fc{i + 1}")
           for i, width in enumerate(hidden)]
        + [layers.Dense(num_classes, name="logits", dtype="float32")],
        name="mlp")
