"""CIFAR-10 from the python pickle batches (cifar-10-batches-py), or tfds.

Files: data_batch_1..5 and test_batch, each a pickled dict with b"data"
(uint8 [N, 3072], channel-major: 1024 red, 1024 green, 1024 blue values of a
32x32 image) and b"labels". Training batches get the pad-4 crop and flip of
data/augment.py unless ``augment`` is off (e.g. for exact full-batch
gradient descent, where the paper's "full batch" means the same examples
every step).

Without the pickles, a tfds ``cifar10`` already prepared in --data_dir
(``tfds.builder('cifar10', data_dir=...)``) is read instead, as data/mnist.py
does for MNIST; nothing is downloaded.
"""
from __future__ import annotations

import os
import pickle

import numpy as np

from limitbatch_tf.config import ConfigError
from limitbatch_tf.data import base
from limitbatch_tf.data.augment import cifar_augment
from limitbatch_tf.data.in_memory import InMemorySource
from limitbatch_tf.data.mnist import DataNotFoundError, read_prepared_tfds
from limitbatch_tf.errors import InputError

_TRAIN = [f"data_batch_{i}" for i in range(1, 6)]
_TEST = "test_batch"
MEAN = (0.4914, 0.4822, 0.4465)
STD = (0.2470, 0.2435, 0.2616)


class CifarFormatError(InputError):
    """A pickle that is not a CIFAR-10 batch."""


# The only globals a CIFAR-10 batch pickle refers to: a NumPy array's
# reconstruction (numpy.core before NumPy 2, numpy._core after).
_ALLOWED_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy", "ndarray"), ("numpy", "dtype"),
    ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar"),
}


class _BatchUnpickler(pickle.Unpickler):
    """Unpickles plain data and NumPy arrays only.

    ``pickle.load`` of an arbitrary file runs whatever callable the file
    names; a CIFAR-10 batch needs none but the array's reconstruction, so
    every other global is refused (the file is then not a CIFAR-10 batch).
    """

    def find_class(self, module, name):
        if (module, name) not in _ALLOWED_GLOBALS:
            raise pickle.UnpicklingError(f"refers to {module}.{name}")
        return super().find_class(module, name)


def read_batch(path: str):
    """(images uint8 [N, 32, 32, 3], labels int32 [N]) of one pickle batch."""
    try:
        with open(path, "rb") as f:
            batch = _BatchUnpickler(f, encoding="bytes").load()
        data = np.asarray(batch[b"data"])
        labels = np.asarray(batch[b"labels"])
    # A damaged pickle fails in many ways (UnpicklingError, EOFError,
    # UnicodeDecodeError, ValueError, MemoryError for a huge declared
    # length, ...; tests/data/test_cifar10.py has one of each): every one
    # means "not a CIFAR-10 batch".
    except Exception as e:  # noqa: BLE001
        first = (str(e).strip().splitlines() or [type(e).__name__])[0]
        raise CifarFormatError(
            f"{path}: not a CIFAR-10 pickle batch ({type(e).__name__}: "
            f"{first[:200]}); expected a pickled dict with b'data' uint8 "
            f"[N, 3072] and b'labels' [N]") from None
    if (data.dtype != np.uint8 or labels.dtype.kind not in "iu"
            or labels.ndim != 1):
        raise CifarFormatError(
            f"{path}: expected b'data' of uint8 and b'labels' a list of "
            f"integers, got {data.dtype} and {labels.dtype} {labels.shape}")
    if labels.size and not (labels.min() >= 0 and labels.max() < 10):
        raise CifarFormatError(f"{path}: labels outside 0..9")
    labels = labels.astype(np.int32)
    if data.ndim != 2 or data.shape[1] != 3072 or len(data) != len(labels):
        raise CifarFormatError(f"{path}: expected data [N, 3072] and N labels, "
                               f"got {data.shape} and {labels.shape}")
    return data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1), labels


def _folder(data_dir):
    for candidate in (data_dir, os.path.join(data_dir or "", "cifar-10-batches-py")):
        if candidate and os.path.isfile(os.path.join(candidate, _TEST)):
            return candidate
    return None


def load(data_dir=None, validation_examples: int = 0, augment: bool = True):
    """CIFAR-10 as an in-memory source (50K train / 10K test)."""
    folder = _folder(data_dir)
    if folder is not None:
        parts = [read_batch(os.path.join(folder, name)) for name in _TRAIN
                 if os.path.isfile(os.path.join(folder, name))]
        if not parts:
            raise DataNotFoundError(
                f"--dataset=cifar10: no data_batch_* in {folder}")
        train_x = np.concatenate([p[0] for p in parts])
        train_y = np.concatenate([p[1] for p in parts])
        test = read_batch(os.path.join(folder, _TEST))
    else:
        splits = read_prepared_tfds("cifar10", data_dir)
        if splits is None:
            raise DataNotFoundError(
                f"--dataset=cifar10: expected {', '.join(_TRAIN)}, {_TEST} "
                f"(python pickle batches) in --data_dir={data_dir} or its "
                f"cifar-10-batches-py/ folder, or a prepared tfds 'cifar10' "
                f"there")
        (train_x, train_y), test = [
            (np.asarray(x, np.uint8), np.asarray(y, np.int32)) for x, y in splits]
    evals = {"test": test}
    if not 0 <= validation_examples < len(train_x):
        raise ConfigError(
            f"--validation_examples={validation_examples}: expected 0 <= N "
            f"< {len(train_x)} (the training set's size)")
    if validation_examples:
        cut = len(train_x) - validation_examples
        evals["validation"] = (train_x[cut:], train_y[cut:])
        train_x, train_y = train_x[:cut], train_y[:cut]
    info = base.DatasetInfo("cifar10", (32, 32, 3), 10, len(train_x))
    return InMemorySource(info, (train_x, train_y), evals, MEAN, STD,
                          augment=cifar_augment() if augment else None)
