"""Batch-wise, stateless image augmentation for in-memory sources.

``pad_crop_flip``: zero-pad by ``pad`` pixels, crop back to the original size
at a random offset per example, and flip horizontally with probability 1/2:
the CIFAR-10 recipe of kuangliu/pytorch-cifar (RandomCrop(32, padding=4),
RandomHorizontalFlip). Vectorised over the batch with gathers, and a pure
function of (images, seed).
"""
from __future__ import annotations

import functools

import tensorflow as tf


def pad_crop_flip(images, seed, pad: int = 4):
    """Random pad-and-crop and horizontal flip of a [N, H, W, C] batch."""
    n = tf.shape(images)[0]
    h, w = images.shape[1], images.shape[2]
    padded = tf.pad(images, [[0, 0], [pad, pad], [pad, pad], [0, 0]])
    offsets = tf.random.stateless_uniform([n, 2], seed, 0, 2 * pad + 1,
                                          dtype=tf.int32)
    rows = offsets[:, :1] + tf.range(h)[None, :]
    cols = offsets[:, 1:] + tf.range(w)[None, :]
    cropped = tf.gather(padded, rows, axis=1, batch_dims=1)
    cropped = tf.gather(cropped, cols, axis=2, batch_dims=1)
    flip = tf.random.stateless_uniform([n], seed + 1) < 0.5
    return tf.where(flip[:, None, None, None], tf.reverse(cropped, [2]), cropped)


def cifar_augment(pad: int = 4):
    return functools.partial(pad_crop_flip, pad=pad)
