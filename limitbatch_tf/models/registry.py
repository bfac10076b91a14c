"""Model names accepted by --model and the builder behind each."""
from __future__ import annotations

from limitbatch_tf.config import MODELS_WITH_BATCH_NORM
from limitbatch_tf.layers import make_batch_norm, resolve_bn_span
from limitbatch_tf.models import lenet, mlp, resnet, softmax


def _lenet5(info, config, layout):
    return lenet.lenet5(info.image_shape, info.num_classes)


def _softmax_regression(info, config, layout):
    return softmax.softmax_regression(info.image_shape, info.num_classes)


def _mlp(info, config, layout):
    return mlp.mlp(info.image_shape, info.num_classes)


def _lenet_tpu(info, config, layout):
    return lenet.lenet_tpu(info.image_shape, info.num_classes,
                           conv2_filters=config.lenet_conv2_filters)


def batch_norm_for(config, layout):
    """The BN constructor of --bn / --bn_span for this step layout.

    --bn_span (examples per BN statistic) picks ghost batches within a
    replica's micro-batch or groups of replicas (MLPerf's "BN span");
    otherwise --bn names the mode. Statistics are per micro-batch, and the
    moving averages are corrected so k micro-batches decay like one step.
    """
    mode, kwargs = config.bn, {}
    if config.bn_span is not None:
        ghost, group = resolve_bn_span(config.bn_span, layout.per_replica_batch,
                                       layout.num_replicas)
        mode = "ghost" if ghost else "grouped"
        kwargs = {"ghost_batch_size": ghost} if ghost else {
            "replica_group_size": group}
    elif mode == "ghost":
        kwargs = {"ghost_batch_size": config.ghost_batch_size}
    elif mode == "grouped":
        kwargs = {"replica_group_size": config.bn_group_size}
    if mode != "local":
        kwargs["micro_batches_per_step"] = layout.micro_batches
    elif layout.micro_batches > 1 or layout.padding:
        # Keras's layer has neither the micro-batch momentum correction nor
        # a [batch] mask for padded rows; group 1 is its local statistics.
        mode, kwargs = "grouped", {"replica_group_size": 1,
                                   "micro_batches_per_step": layout.micro_batches}
    return make_batch_norm(mode, **kwargs)


def bn_span_of(config, layout):
    """Examples per BN statistic (MLPerf's model_bn_span), None without BN."""
    if config.model not in HAS_BATCH_NORM:
        return None
    b, replicas = layout.per_replica_batch, layout.num_replicas
    if config.bn_span is not None:
        return config.bn_span
    return {"local": b, "ghost": config.ghost_batch_size,
            "grouped": (config.bn_group_size or 1) * b,
            "sync": replicas * b}[config.bn]


def _resnet(builder):
    def build(info, config, layout):
        return builder(num_classes=info.num_classes, input_shape=info.image_shape,
                       batch_norm=batch_norm_for(config, layout),
                       bn_momentum=config.bn_momentum,
                       bn_epsilon=config.bn_epsilon,
                       zero_init_last_bn_gamma=config.zero_init_last_bn_gamma,
                       # Padded (weight-0) rows stay out of BN statistics.
                       example_weights_input=layout.padding > 0)
    return build


# name -> builder(dataset_info, config, step_layout) -> keras.Model
BUILDERS = {"lenet5": _lenet5, "lenet_tpu": _lenet_tpu,
            "softmax_regression": _softmax_regression, "mlp": _mlp,
            "resnet50_v1_5": _resnet(resnet.resnet50_v1_5),
            "resnet50_cifar": _resnet(resnet.resnet50_cifar)}
HAS_BATCH_NORM = MODELS_WITH_BATCH_NORM  # config.py: the one list


def build_model(name, info, config, layout):
    """Builds ``--model=name`` for a dataset; call inside the strategy scope."""
    if name not in BUILDERS:
        raise ValueError(f"--model={name} is unknown; expected one of "
                         f"{', '.join(sorted(BUILDERS))}")
    return BUILDERS[name](info, config, layout)
