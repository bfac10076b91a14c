"""Small MNIST-format datasets that tests write themselves.

Each class c brightens a 7x7 block at its own position on a noisy
background, so a LeNet learns it within a few dozen steps.
"""
import os

import numpy as np

from limitbatch_tf.data.idx import write_idx


def make_images(num, num_classes=10, size=28, seed=0):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, num_classes, num).astype(np.uint8)
    images = rng.integers(0, 60, (num, size, size)).astype(np.uint8)
    for i, c in enumerate(labels):
        r, col = 3 + 7 * (c // 4), 3 + 7 * (c % 4)
        images[i, r:r + 7, col:col + 7] = 230
    return images, labels


def write_mnist_dir(path, num_train=512, num_test=128, gz=True, seed=0):
    """Writes the four IDX files of an MNIST-format dataset into ``path``."""
    os.makedirs(path, exist_ok=True)
    ext = ".gz" if gz else ""
    train = make_images(num_train, seed=seed)
    test = make_images(num_test, seed=seed + 1)
    write_idx(os.path.join(path, f"train-images-idx3-ubyte{ext}"), train[0])
    write_idx(os.path.join(path, f"train-labels-idx1-ubyte{ext}"), train[1])
    write_idx(os.path.join(path, f"t10k-images-idx3-ubyte{ext}"), test[0])
    write_idx(os.path.join(path, f"t10k-labels-idx1-ubyte{ext}"), test[1])
    return train, test
