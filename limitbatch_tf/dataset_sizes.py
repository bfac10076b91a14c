"""Training-set sizes known without reading data, for early batch checks.

A batch larger than the training set is refused when the flags are read,
before any data is loaded (on a TPU VM the default Fashion-MNIST files are
usually absent, which would otherwise be the first error). A batch equal to
another dataset's training set gets a hint naming the flags that select it:
``--tpu=pod --batch_size=1281167`` alone is the design brief's ImageNet
full-batch command without ``--dataset=imagenet``.
"""
from __future__ import annotations

# Fixed-size datasets: the whole training set, before any hold-out.
KNOWN_TRAIN_SIZES = {"mnist": 60000, "fashion_mnist": 60000, "cifar10": 50000,
                     "synthetic_imagenet": 1281167, "synthetic_cifar10": 50000}
IMAGENET_TRAIN_SIZE = 1281167  # the ILSVRC-2012 training set
_FLAGS_FOR = {IMAGENET_TRAIN_SIZE: (
    "--dataset=imagenet --model=resnet50_v1_5 --data_dir=DIR (or "
    "--config=experiments/imagenet/full_batch.yaml)")}


def too_large_message(batch: int, dataset: str, num_train: int) -> str:
    """One line for a batch above ``num_train``, with a hint when the batch is
    a known training set's size (the full batch of another dataset)."""
    line = (f"--batch_size={batch} exceeds the {num_train} training examples "
            f"of --dataset={dataset}")
    if batch in _FLAGS_FOR and dataset != "imagenet":
        line += (f"; {batch} is ImageNet's training set (full batch): add "
                 f"{_FLAGS_FOR[batch]}")
    return line


def check_batch_size(batch: int, dataset: str):
    """The early check: None, or the one-line error for ``batch``."""
    size = KNOWN_TRAIN_SIZES.get(dataset)
    if size is not None and batch > size:
        return too_large_message(batch, dataset, size)
    return None
