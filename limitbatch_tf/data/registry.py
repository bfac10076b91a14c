"""Dataset names accepted by --dataset and the loader behind each."""
from __future__ import annotations

from limitbatch_tf.data import cifar10, mnist, synthetic


def _mnist(name):
    return lambda data_dir, validation_examples, augment, image_size: mnist.load(
        name, data_dir, validation_examples)


def _synthetic(name):
    return lambda data_dir, validation_examples, augment, image_size: (
        synthetic.SyntheticSource(name, image_size))


# name -> loader(data_dir, validation_examples, augment, image_size) -> source
LOADERS = {
    "mnist": _mnist("mnist"),
    "fashion_mnist": _mnist("fashion_mnist"),
    "cifar10": lambda data_dir, validation_examples, augment, image_size: (
        cifar10.load(data_dir, validation_examples, augment)),
    "synthetic_imagenet": _synthetic("synthetic_imagenet"),
    "synthetic_cifar10": _synthetic("synthetic_cifar10"),
}


def build_source(name: str, data_dir=None, validation_examples: int = 0,
                 augment: bool = True, image_size=None):
    """Builds the data source for ``--dataset=name``."""
    if name not in LOADERS:
        raise ValueError(f"--dataset={name} is unknown; expected one of "
                         f"{', '.join(sorted(LOADERS))}")
    return LOADERS[name](data_dir, validation_examples, augment, image_size)
