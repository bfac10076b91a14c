"""Dataset names accepted by --dataset and the loader behind each."""
from __future__ import annotations

import functools

from limitbatch_tf.data import mnist

# name -> loader(data_dir, validation_examples) -> source
LOADERS = {
    "mnist": functools.partial(mnist.load, "mnist"),
    "fashion_mnist": functools.partial(mnist.load, "fashion_mnist"),
}


def build_source(name: str, data_dir=None, validation_examples: int = 0):
    """Builds the data source for ``--dataset=name``."""
    if name not in LOADERS:
        raise ValueError(f"--dataset={name} is unknown; expected one of "
                         f"{', '.join(sorted(LOADERS))}")
    return LOADERS[name](data_dir=data_dir,
                         validation_examples=validation_examples)
