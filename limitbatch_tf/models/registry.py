"""Model names accepted by --model and the builder behind each."""
from __future__ import annotations

from limitbatch_tf.models import lenet


def _lenet5(info, config):
    return lenet.lenet5(info.image_shape, info.num_classes)


def _lenet_tpu(info, config):
    return lenet.lenet_tpu(info.image_shape, info.num_classes,
                           conv2_filters=config.lenet_conv2_filters)


# name -> builder(dataset_info, config) -> keras.Model
BUILDERS = {"lenet5": _lenet5, "lenet_tpu": _lenet_tpu}


def build_model(name, info, config):
    """Builds ``--model=name`` for a dataset; call inside the strategy scope."""
    if name not in BUILDERS:
        raise ValueError(f"--model={name} is unknown; expected one of "
                         f"{', '.join(sorted(BUILDERS))}")
    return BUILDERS[name](info, config)
