"""Softmax regression: one dense layer from the flattened image to logits.

The smallest workload of the forecast's calibration study (issue 19;
experiments/forecast/): multinomial logistic regression, trained with the
package's cross-entropy loss, is convex, so its limit of the batch size is
set by the gradient noise alone (no architecture effects).
"""
from __future__ import annotations

import keras
from keras import layers


def softmax_regression(input_shape, num_classes: int) -> keras.Model:
    """logits = flatten(x) W + b (softmax applied by the loss)."""
    return keras.Sequential([
        keras.Input(shape=input_shape),
        layers.Flatten(name="flatten"),
        layers.Dense(num_classes, name="logits", dtype="float32"),
    ], name="softmax_regression")
