"""MNIST and Fashion-MNIST from IDX files, with a tfds fallback.

The paper (section 3.1) trains LeNet on MNIST with a 55K/5K/10K
train/validation/test split, and 60K/10K for Table 2 and full batch;
``validation_examples`` selects between the two.
"""
from __future__ import annotations

import os


from limitbatch_tf.config import ConfigError
from limitbatch_tf.data import base, idx
from limitbatch_tf.errors import InputError
from limitbatch_tf.data.in_memory import InMemorySource

_FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}
DEFAULT_DATA_DIRS = {"fashion_mnist": "/usr/share/datasets/fashion-mnist"}
_HOW_TO_GET = {
    "fashion_mnist": "apt-get install dataset-fashion-mnist",
    "mnist": "copy the four MNIST IDX files there",
}
# Per-pixel mean and std of the training images, after scaling to [0, 1].
_STATS = {"mnist": (0.1307, 0.3081), "fashion_mnist": (0.2860, 0.3530)}


class DataNotFoundError(FileNotFoundError, InputError):
    """The dataset's files are neither in --data_dir nor prepared by tfds."""


def _find(data_dir: str, stem: str):
    for name in (stem, stem + ".gz"):
        path = os.path.join(data_dir, name)
        if os.path.isfile(path):
            return path
    return None


def _read_idx_dir(data_dir: str):
    paths = {key: _find(data_dir, stem) for key, stem in _FILES.items()}
    if any(p is None for p in paths.values()):
        return None
    arrays = {key: idx.read_idx(p) for key, p in paths.items()}
    for split in ("train", "test"):
        images, labels = arrays[f"{split}_images"], arrays[f"{split}_labels"]
        if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
            raise idx.IdxFormatError(
                f"{paths[split + '_images']}: expected images [N, H, W] and "
                f"labels [N] of the same N, got {images.shape} and "
                f"{labels.shape}")
    return ((arrays["train_images"], arrays["train_labels"]),
            (arrays["test_images"], arrays["test_labels"]))


def read_prepared_tfds(name: str, data_dir, splits=("train", "test")):
    """(images, labels) numpy pairs of a tfds dataset prepared under ``data_dir``.

    Returns None when tfds is missing or the dataset is not prepared there:
    nothing is downloaded.
    """
    try:
        import tensorflow_datasets as tfds  # slow import: only on fallback
        builder = tfds.builder(name, data_dir=data_dir)
        if not builder.is_prepared():
            return None
        return tuple(tfds.as_numpy(builder.as_dataset(
            split=s, batch_size=-1, as_supervised=True)) for s in splits)
    except Exception:  # noqa: BLE001  any tfds failure means "not available"
        return None


def _read_tfds(name: str, data_dir):
    """MNIST-style [N, H, W] arrays from a prepared tfds dataset, or None."""
    splits = read_prepared_tfds(name, data_dir)
    return None if splits is None else tuple((x[..., 0], y) for x, y in splits)


def load(name: str, data_dir=None, validation_examples: int = 0
         ) -> InMemorySource:
    """Loads MNIST or Fashion-MNIST into an in-memory source.

    Args:
      name: "mnist" or "fashion_mnist".
      data_dir: folder of the four IDX files (raw or .gz). Defaults to the
        Debian package's folder for fashion_mnist.
      validation_examples: hold out the last N training examples as the
        "validation" split (5000 gives the paper's 55K/5K). Defaults to 0.
    Raises:
      DataNotFoundError: one line naming the expected files and folder.
    """
    data_dir = data_dir if data_dir is not None else DEFAULT_DATA_DIRS.get(name)
    arrays = _read_idx_dir(data_dir) if data_dir and os.path.isdir(data_dir) else None
    if arrays is None:
        arrays = _read_tfds(name, data_dir)
    if arrays is None:
        raise DataNotFoundError(
            f"--dataset={name}: expected {', '.join(_FILES.values())} "
            f"(raw or .gz) in --data_dir={data_dir} ({_HOW_TO_GET[name]}), "
            f"or a prepared tfds '{name}' there")
    (train_x, train_y), (test_x, test_y) = arrays
    if not 0 <= validation_examples < len(train_x):
        raise ConfigError(
            f"--validation_examples={validation_examples}: expected 0 <= N "
            f"< {len(train_x)} (the training set's size)")
    evals = {"test": (test_x[..., None], test_y)}
    if validation_examples:
        cut = len(train_x) - validation_examples
        evals["validation"] = (train_x[cut:, ..., None], train_y[cut:])
        train_x, train_y = train_x[:cut], train_y[:cut]
    num_classes = int(max(train_y.max(), test_y.max())) + 1
    info = base.DatasetInfo(name=name, image_shape=train_x.shape[1:] + (1,),
                            num_classes=max(num_classes, 10),
                            num_train=len(train_x))
    mean, std = _STATS[name]
    return InMemorySource(info, (train_x[..., None], train_y), evals, mean, std)
