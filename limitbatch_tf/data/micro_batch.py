"""Picks a micro-batch when a replica's share of the step will not fit.

The ladder's 819,200 images on 256 TPU v3 cores are 3,200 per core in one
pass, far beyond a core's 16 GiB; full batch is 626 per core on 2048. When
``--micro_batch_size`` is unset and the per-replica batch exceeds the
per-replica limit (``--replica_batch_limit``, or the model's default below),
the step is split into micro-batches: the largest size that

- is at most the limit,
- divides the per-replica batch (when the step is padded: any size; among
  those of half the limit or more, the one computing the fewest padded
  rows), and
- tiles the BN span (``layers.bn_span.resolve_bn_span`` accepts it: ghost
  batches within a replica, or a whole group of replicas),

so the BN statistics and the gradient are those of the unsplit step.
"""
from __future__ import annotations

import math

from limitbatch_tf.layers.bn_span import resolve_bn_span

# Examples per replica per pass that fit, at the model's reference image
# side; scaled by area for other sides. ResNet-50 at 224 px: 256 per TPU v3
# core (16 GiB), the paper's Table 4 layout (128K on 256 chips = 512 cores).
MODEL_LIMITS = {"resnet50_v1_5": (256, 224)}


def default_limit(model: str, image_size=None):
    """The model's per-replica examples per pass, or None when unbounded."""
    if model not in MODEL_LIMITS:
        return None
    limit, side = MODEL_LIMITS[model]
    side_now = image_size or side
    return max(1, int(limit * side * side / (side_now * side_now)))


def _tiles(micro: int, bn_span, num_replicas: int) -> bool:
    if bn_span is None:
        return True
    try:
        resolve_bn_span(bn_span, micro, num_replicas)
    except ValueError:
        return False
    return True


def choose(global_batch: int, num_replicas: int, limit, bn_span=None,
           allow_padding: bool = False):
    """The micro-batch size for an unsplit step that does not fit, or None.

    Args:
      global_batch: B.
      num_replicas: R.
      limit: examples per replica per pass, or None (no limit: None).
      bn_span: examples per BN statistic, or None (no BN constraint).
      allow_padding: the step may be padded (full batch, --pad_batches).
    Returns:
      None when one pass per replica fits (or there is no limit), else the
      chosen size.
    Raises:
      ValueError: no size fits; the message names the flags to set.
    """
    per_replica = math.ceil(global_batch / num_replicas)
    if limit is None or per_replica <= limit:
        return None
    exact = global_batch % num_replicas == 0
    candidates = [m for m in range(limit, 0, -1)
                  if (allow_padding or (exact and per_replica % m == 0))
                  and _tiles(m, bn_span, num_replicas)]
    if candidates:
        # Sizes of half the limit or more keep passes few; among them the
        # fewest rows computed (padding included), then the larger size.
        large = [m for m in candidates if 2 * m >= limit] or candidates
        return min(large, key=lambda m: (math.ceil(per_replica / m) * m, -m))
    raise ValueError(
        f"--batch_size={global_batch} on {num_replicas} replicas is "
        f"{per_replica} examples per replica, above the limit of {limit} "
        f"per pass, and no micro-batch up to {limit} divides it"
        + (f" and tiles --bn_span={bn_span}" if bn_span else "")
        + ": set --micro_batch_size (with --pad_batches) or "
        "--replica_batch_limit")


def step_layout(config, num_train: int, num_replicas: int, log=print):
    """The StepLayout for ``config`` on ``num_replicas`` (train/plan.make_plan).

    ``--batch_size`` equal to the training set (or ``full``) is full batch
    on any replica count: padded with zero-weight rows, no --pad_batches
    needed. An unset ``--micro_batch_size`` is chosen here when the
    per-replica batch exceeds the limit, and ``log`` says what was chosen.
    Raises ConfigError with one line naming the flags.
    """
    from limitbatch_tf.config import ConfigError
    from limitbatch_tf.data.base import StepLayout
    from limitbatch_tf.dataset_sizes import too_large_message

    batch = num_train if config.batch_size == "full" else int(config.batch_size)
    if batch > num_train:
        raise ConfigError(too_large_message(batch, config.dataset, num_train))
    full = batch == num_train
    allow_padding = full or config.pad_batches
    micro = config.micro_batch_size
    if micro is None:
        limit = config.replica_batch_limit or default_limit(
            config.model, config.image_size)
        span = config.bn_span or (config.ghost_batch_size
                                  if config.bn == "ghost" else None)
        try:
            micro = choose(batch, num_replicas, limit, span, allow_padding)
        except ValueError as e:
            raise ConfigError(str(e)) from None
        if micro is not None:
            layout = StepLayout.resolve(batch, num_replicas, micro, allow_padding)
            log(f"micro-batch: --micro_batch_size={micro} chosen "
                f"({math.ceil(batch / num_replicas)} examples per replica "
                f"exceed the limit of {limit} per pass"
                + (f"; tiles BN span {span}" if span else "")
                + f"): {layout.micro_batches} micro-batches per step", flush=True)
            return layout
    return StepLayout.resolve(batch, num_replicas, micro, allow_padding)
