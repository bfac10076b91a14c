"""What a run builds from its Config besides data and model: the dtype
policy and the optimizer (through the optimizers' factory)."""
from __future__ import annotations

import keras
import tensorflow as tf

from limitbatch_tf import optimizers
from limitbatch_tf.config import Config, ConfigError


def set_precision(config: Config, strategy, bn_span, layout) -> str:
    """Sets Keras's global dtype policy for this run; returns its name.

    Always set (float32 included): the policy is process-global, and a run
    must not inherit the previous run's.
    """
    on_tpu = isinstance(strategy, tf.distribute.TPUStrategy)
    precision = config.resolved_precision(on_tpu)
    keras.mixed_precision.set_global_policy(precision)
    if (config.jit_compile and not on_tpu and bn_span is not None
            and layout.num_replicas > 1
            and bn_span > layout.per_replica_batch):
        raise ConfigError(
            f"--jit_compile: batch norm spans {bn_span} examples across "
            f"replicas (per-replica batch {layout.per_replica_batch}); its "
            f"all-reduce cannot run inside XLA off TPU: use --bn=local/ghost "
            f"or drop --jit_compile")
    return precision


def build_optimizer(config: Config, learning_rate):
    """The optimizer the config names, through the optimizers' factory."""
    try:
        return optimizers.build_optimizer(
            config.optimizer, learning_rate, momentum=config.momentum,
            nesterov=config.nesterov, weight_decay=config.weight_decay,
            beta_1=config.beta_1, beta_2=config.beta_2, epsilon=config.epsilon,
            lars_eeta=config.lars_eeta, lars_epsilon=config.lars_epsilon,
            lars_clip=config.lars_clip,
            layerwise=config.layerwise, trust_ratio_bounds=config.bounds(),
            exclude_from_weight_decay=config.patterns(
                config.exclude_from_weight_decay),
            exclude_from_adaptation=config.patterns(
                config.exclude_from_adaptation),
            exclude_vectors=config.exclude_vectors)
    except ValueError as e:
        raise ConfigError(f"--optimizer={config.optimizer}: {e}") from None


def print_exclusions(optimizer):
    report = getattr(optimizer, "print_exclusions", None)
    if report is None:
        print(f"{type(optimizer).__name__} has no weight-decay or adaptation "
              f"exclusions", flush=True)
    else:
        report()
