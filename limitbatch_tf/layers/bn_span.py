"""BN span -> layer arguments, and the batch-norm factory models use.

The "BN span" is the number of examples whose statistics normalise each
example (TPU MLPerf logs it as replica group size x per-replica batch; the
paper, section 4, finds 128 best for ResNet-50 at 32K, Ying et al. 64).
"""
import functools

import keras

from limitbatch_tf.layers.grouped_batch_norm import ALL_REPLICAS
from limitbatch_tf.layers.grouped_batch_norm import GroupedBatchNormalization

BN_MODES = ("local", "ghost", "grouped", "sync")

# Arguments only GroupedBatchNormalization understands.
_GROUPED_ONLY = ("ghost_batch_size", "replica_group_size", "group_assignment",
                 "micro_batches_per_step")


def _positive_int(value, name):
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}.")


def resolve_bn_span(bn_span, per_replica_batch, num_replicas):
    """Splits a BN span into a ghost batch size and a replica group size.

    - `bn_span < per_replica_batch`: ghost batches of `bn_span` examples
      within each replica (`bn_span` must divide `per_replica_batch`).
    - `bn_span == per_replica_batch`: local BN.
    - `bn_span > per_replica_batch`: groups of `G = bn_span /
      per_replica_batch` replicas (a whole number that divides
      `num_replicas`).

    Args:
        bn_span: Examples per batch-norm statistic.
        per_replica_batch: Examples per replica per call.
        num_replicas: Replicas in sync.

    Returns:
        `(ghost_batch_size or None, replica_group_size)`, the arguments of
        `GroupedBatchNormalization`.
    """
    _positive_int(bn_span, "bn_span")
    _positive_int(per_replica_batch, "per_replica_batch")
    _positive_int(num_replicas, "num_replicas")
    if bn_span <= per_replica_batch:
        if per_replica_batch % bn_span:
            raise ValueError(
                f"bn_span ({bn_span}) must divide the per-replica batch "
                f"({per_replica_batch}) when it is smaller.")
        ghost = bn_span if bn_span < per_replica_batch else None
        return ghost, 1
    if bn_span % per_replica_batch:
        raise ValueError(
            f"bn_span ({bn_span}) must be a multiple of the per-replica batch "
            f"({per_replica_batch}) when it is larger.")
    group_size = bn_span // per_replica_batch
    if num_replicas % group_size:
        raise ValueError(
            f"bn_span ({bn_span}) spans {group_size} replicas, which must "
            f"divide the {num_replicas} replicas in sync.")
    return None, group_size


def make_batch_norm(mode, **kwargs):
    """A batch-norm constructor for models: `make_batch_norm(m, ...)(name=)`.

    Modes:
        - `"local"`: `keras.layers.BatchNormalization`, statistics of each
          replica's batch (the stock layer, as baseline).
        - `"ghost"`: `GroupedBatchNormalization`; needs `ghost_batch_size`.
        - `"grouped"`: `GroupedBatchNormalization`; needs
          `replica_group_size` or `group_assignment` (1 gives local
          statistics with masks and the micro-batch momentum correction).
        - `"sync"`: `GroupedBatchNormalization(replica_group_size="all")`
          rather than Keras's `synchronized=True`: one all-reduce instead of
          three, the same numerics as the other spans (so span studies vary
          one thing), per-example masks across replicas (Keras's masked path
          ignores `synchronized`) and the micro-batch momentum correction.

    Args:
        mode: One of `"local"`, `"ghost"`, `"grouped"`, `"sync"`.
        **kwargs: Layer arguments bound into the constructor; the
            `GroupedBatchNormalization`-only ones are refused for `"local"`.

    Returns:
        A callable taking further layer arguments (e.g. `name`) and returning
        a new layer.
    """
    if mode not in BN_MODES:
        raise ValueError(f"mode must be one of {BN_MODES}, got {mode!r}.")
    if mode == "local":
        extra = sorted(set(kwargs) & set(_GROUPED_ONLY))
        if extra:
            raise ValueError(
                f"mode='local' is keras.layers.BatchNormalization, which does "
                f"not take {extra}; use mode='grouped' with "
                f"replica_group_size=1.")
        return functools.partial(keras.layers.BatchNormalization, **kwargs)
    if mode == "ghost" and kwargs.get("ghost_batch_size") is None:
        raise ValueError("mode='ghost' needs ghost_batch_size.")
    if mode == "grouped" and kwargs.get("replica_group_size") is None and (
            kwargs.get("group_assignment") is None):
        raise ValueError(
            "mode='grouped' needs replica_group_size or group_assignment.")
    if mode == "sync":
        if kwargs.get("replica_group_size", ALL_REPLICAS) != ALL_REPLICAS:
            raise ValueError(
                "mode='sync' uses all replicas; got replica_group_size="
                f"{kwargs['replica_group_size']!r}.")
        kwargs["replica_group_size"] = ALL_REPLICAS
    return functools.partial(GroupedBatchNormalization, **kwargs)
