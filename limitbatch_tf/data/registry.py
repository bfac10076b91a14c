"""Dataset names accepted by --dataset and the loader behind each."""
from __future__ import annotations

from limitbatch_tf.data import cifar10, imagenet, mnist, synthetic


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
    "imagenet": imagenet.load,
    "synthetic_imagenet": _synthetic("synthetic_imagenet"),
    "synthetic_cifar10": _synthetic("synthetic_cifar10"),
}


def build_source(name: str, data_dir=None, validation_examples: int = 0,
                 augment: bool = True, image_size=None, *,
                 crop_area_range=(0.08, 1.0), crop_aspect_range=(0.75, 1.33),
                 label_offset: int = 1, cache_records=None,
                 shuffle_buffer: int = 10000):
    """Builds the data source for ``--dataset=name``.

    The keyword-only options configure the ImageNet input pipeline (see
    data/imagenet.py) and are ignored by the other datasets; Config.validate
    rejects them at non-default values for those.
    """
    if name not in LOADERS:
        raise ValueError(f"--dataset={name} is unknown; expected one of "
                         f"{', '.join(sorted(LOADERS))}")
    if name == "imagenet":
        return imagenet.load(
            data_dir, validation_examples, augment, image_size,
            crop_area_range=crop_area_range,
            crop_aspect_range=crop_aspect_range, label_offset=label_offset,
            cache_records=cache_records, shuffle_buffer=shuffle_buffer)
    return LOADERS[name](data_dir, validation_examples, augment, image_size)
