"""Batch normalization over ghost batches and groups of replicas.

The batch statistics of `keras.layers.BatchNormalization` span either one
replica's batch (local BN) or all replicas (`synchronized=True`). The paper
(You et al. 2020, section 4, "distributed BN") and the TPU MLPerf ResNet-50
submissions pick the span in between: the "BN span" is the number of examples
whose statistics normalise each example. This layer offers the two ways to set
it (docs/references.md, R6, "Google TPU MLPerf v0.6/v0.7"):

- `ghost_batch_size=g`: each replica's batch is cut into consecutive ghost
  batches of `g` examples, each normalised with its own statistics (Hoffer et
  al. 2017, "Train longer, generalize better", Algorithm 1).
- `replica_group_size=G`: the sufficient statistics (count, sum, sum of
  squares, in float32) of the replicas `[k*G, ..., k*G + G - 1]` are summed and
  every replica of group `k` normalises with them. `G=1` is local BN, `G="all"`
  synchronized BN. `group_assignment` names arbitrary groups instead.

For one stat group with per-example weights `w` (the `mask`, 1 by default):

    N = sum(w),  mean = sum(w * x) / N,  var = sum(w * (x - mean)^2) / N
    y = gamma * (x - mean) / sqrt(var + epsilon) + beta

`var` is the biased variance, as in Keras for both normalisation and the
moving variance. The sums are taken about the moving mean (a constant shift,
identical on all replicas) which leaves the result unchanged mathematically
and limits float32 cancellation in `E[x^2] - E[x]^2`.

Moving statistics: every training call updates

    moving = moving * m + batch_stat * (1 - m),   m = momentum ** (1 / k)

with `k = micro_batches_per_step`, so the `k` calls of one accumulated step
decay the moving averages like one Keras update of `momentum`. `batch_stat`
is the count-weighted average over all replicas of the statistics each
replica normalised with; without padding that is the plain average over
replicas, so every replica holds the same moving statistics and they equal the
per-group moving statistics averaged over replicas that the TPU reference uses
for evaluation (an EMA is linear, so averaging commutes with it). Checkpoints
therefore hold the evaluation statistics without a separate sync step. The
price is one small all-reduce (3 x channels floats) per layer and training
call for local/ghost statistics and on TPU; the fallback group sum below
already yields it.
"""
import keras
import tensorflow as tf

# A replica group size meaning "all replicas in sync" (synchronized BN).
ALL_REPLICAS = "all"


def contiguous_group_assignment(num_replicas, group_size):
    """Replica groups `[[0..G-1], [G..2G-1], ...]` of the TPU MLPerf reference.

    Args:
        num_replicas: Number of replicas in sync.
        group_size: Replicas per group `G`; must divide `num_replicas`.

    Returns:
        A list of `num_replicas // group_size` lists of replica ids.
    """
    if group_size < 1 or num_replicas % group_size:
        raise ValueError(
            f"replica_group_size must divide the {num_replicas} replicas in "
            f"sync, got {group_size}.")
    return [list(range(start, start + group_size))
            for start in range(0, num_replicas, group_size)]


def _validate_partition(group_assignment, num_replicas):
    ids = sorted(i for group in group_assignment for i in group)
    if ids != list(range(num_replicas)):
        raise ValueError(
            "group_assignment must partition the replica ids "
            f"0..{num_replicas - 1}, got {group_assignment}.")


def _check_positive_int(value, name, alternatives=""):
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        expected = f"a positive int {alternatives}".strip()
        raise ValueError(f"{name} must be {expected}, got {value!r}.")


def _is_tpu_strategy(strategy):
    tpu_classes = (tf.distribute.TPUStrategy,
                   tf.distribute.experimental.TPUStrategy)
    return isinstance(strategy, tpu_classes)


def _merge_sum(ctx, value):
    """Sum of ``value`` over all replicas, from the replica context; no gradient.

    What ``ReplicaContext.all_reduce`` does inside its merge_call. On TPU the
    replica context's own all_reduce is one CrossReplicaSum op (no
    merge_call), kept as it was.
    """
    if _is_tpu_strategy(tf.distribute.get_strategy()):
        return ctx.all_reduce(tf.distribute.ReduceOp.SUM, value)

    def merge(strategy, per_replica):
        return strategy.extended.batch_reduce_to(
            tf.distribute.ReduceOp.SUM, [(per_replica, per_replica)])[0]
    return ctx.merge_call(merge, args=(value,))


def cross_replica_sum(ctx, value):
    """Differentiable all-reduce SUM; the gradient is the all-reduced gradient.

    Equal to ``ctx.all_reduce(SUM, value)``, which we do not call: in graph
    mode its ``tf.custom_gradient`` walks the graph back from the reduced
    output to find captured variables, and as that output depends on every
    other replica's graph, each call walks the whole model. With one call
    per BN layer, tracing ResNet-50 under MirroredStrategy then grows
    quadratically (210 s for 2 replicas with sync BN on our 2-core CPU,
    against 6 s with local BN). Here the reduced tensor is an *input* of the
    custom-gradient function, so that walk stops at once.
    """
    @tf.custom_gradient
    def with_gradient(local, reduced):
        def grad(dy):
            return cross_replica_sum(ctx, dy), tf.zeros_like(reduced)
        return tf.identity(reduced), grad

    return with_gradient(value, tf.stop_gradient(_merge_sum(ctx, value)))


def _moments_from_sums(sums, shift):
    """(mean, biased variance) from `[..., 3, C]` sums of (w, w*d, w*d^2)."""
    count, sum_d, sum_d2 = sums[..., 0, :], sums[..., 1, :], sums[..., 2, :]
    mean_d = tf.math.divide_no_nan(sum_d, count)
    variance = tf.maximum(
        tf.math.divide_no_nan(sum_d2, count) - tf.square(mean_d), 0.0)
    return shift + mean_d, variance


def _count_weighted(mean, variance, counts):
    """`[3, C]`: sums over rows of (count, count * mean, count * variance)."""
    weighted = tf.stack([counts, counts * mean, counts * variance], 0)
    return tf.reduce_sum(tf.stop_gradient(weighted), axis=1)


@keras.saving.register_keras_serializable(package="limitbatch_tf")
class GroupedBatchNormalization(keras.layers.BatchNormalization):
    """BatchNormalization with ghost batches and replica groups.

    A drop-in for `keras.layers.BatchNormalization` with channels last: same
    constructor arguments and variables (`gamma`, `beta`, `moving_mean`,
    `moving_variance`), so weights and checkpoints map one to one. Inference
    (`training=False`) is unchanged. The module docstring gives the formulas.

    Args:
        ghost_batch_size: Examples per ghost batch within a replica (Hoffer et
            al. 2017). The per-replica batch must be a multiple of it during
            training. Cannot be combined with replica groups larger than 1.
            Defaults to `None` (the whole per-replica batch).
        replica_group_size: Replicas `G` whose statistics are summed, in
            contiguous groups `[k*G .. k*G+G-1]`; `"all"` for all replicas.
            Must divide the number of replicas in sync. Defaults to `None`:
            1 (local statistics), or `"all"` when `synchronized=True`.
        group_assignment: Explicit replica groups, a list of lists of replica
            ids partitioning `0..num_replicas-1`, instead of
            `replica_group_size`. Defaults to `None`.
        micro_batches_per_step: Training calls `k` per optimizer step (gradient
            accumulation); the moving averages use momentum `momentum**(1/k)`
            per call. Defaults to 1.
        synchronized: As in Keras: `True` means `replica_group_size="all"`.
            Defaults to `False`.
        **kwargs: The other `keras.layers.BatchNormalization` arguments
            (`axis` must be the last axis; `renorm` is not supported).

    Call arguments:
        inputs: Tensor `[batch, ..., channels]`.
        training: As in Keras.
        mask: Optional per-example weights of shape `[batch]`, or per position
            of shape `inputs.shape[:-1]` (the Keras mask shape); bool or float.
            Examples of weight 0 (padding) do not enter the statistics (their
            outputs are still computed, with the group's statistics); other
            weights weight the sums. Defaults to `None` (all weights 1).

    References:
        - Ioffe and Szegedy 2015, https://arxiv.org/abs/1502.03167.
        - Hoffer et al. 2017 (ghost BN), https://arxiv.org/abs/1705.08741.
        - Ying et al. 2018 (distributed BN on TPU pods),
          https://arxiv.org/abs/1811.06992.
        - You et al. 2020, "The Limit of the Batch Size", section 4.
    """

    def __init__(self, ghost_batch_size=None, replica_group_size=None,
                 group_assignment=None, micro_batches_per_step=1,
                 synchronized=False, **kwargs):
        if kwargs.get("renorm"):
            raise ValueError(
                "renorm=True is not supported by GroupedBatchNormalization.")
        super().__init__(**kwargs)
        # Keras's own `synchronized` path is bypassed by `_group_moments`;
        # keep the flag for config compatibility and express it as a group.
        self.synchronized = bool(synchronized)
        if group_assignment is not None:
            if replica_group_size is not None or synchronized:
                raise ValueError(
                    "Pass either group_assignment or replica_group_size "
                    "(or synchronized), not both.")
            group_assignment = [[int(i) for i in g] for g in group_assignment]
            if not group_assignment or not all(group_assignment):
                raise ValueError(
                    "group_assignment must be a non-empty list of non-empty "
                    f"lists of replica ids, got {group_assignment}.")
            _validate_partition(group_assignment, 1 + max(
                i for g in group_assignment for i in g))
        elif replica_group_size is None:
            replica_group_size = ALL_REPLICAS if synchronized else 1
        elif synchronized and replica_group_size != ALL_REPLICAS:
            raise ValueError(
                "synchronized=True means replica_group_size='all', got "
                f"replica_group_size={replica_group_size!r}.")
        if replica_group_size not in (None, ALL_REPLICAS):
            _check_positive_int(replica_group_size, "replica_group_size",
                                "or 'all'")
        if ghost_batch_size is not None:
            _check_positive_int(ghost_batch_size, "ghost_batch_size", "or None")
            if replica_group_size != 1:
                raise ValueError(
                    "ghost_batch_size splits one replica's batch; it cannot "
                    "be combined with replica groups larger than 1.")
        _check_positive_int(micro_batches_per_step, "micro_batches_per_step")
        self.ghost_batch_size = ghost_batch_size
        self.replica_group_size = replica_group_size
        self.group_assignment = group_assignment
        self.micro_batches_per_step = micro_batches_per_step

    @property
    def momentum_per_call(self):
        """Momentum of one training call: `momentum ** (1/k)`."""
        return self.momentum ** (1.0 / self.micro_batches_per_step)

    def build(self, input_shape):
        rank = len(input_shape)
        if self.axis not in (-1, rank - 1):
            raise ValueError(
                "GroupedBatchNormalization normalises the last (channels) "
                f"axis only; got axis={self.axis} for input rank {rank}.")
        super().build(input_shape)

    def get_config(self):
        config = super().get_config()
        config.update({
            "ghost_batch_size": self.ghost_batch_size,
            "replica_group_size": self.replica_group_size,
            "group_assignment": self.group_assignment,
            "micro_batches_per_step": self.micro_batches_per_step,
        })
        return config

    def compute_mask(self, inputs, mask=None):
        # A [batch] mask is per-example weights for the statistics (padded
        # rows), not a Keras positional mask: do not attach it to the output
        # (Conv2D and pooling downstream cannot take it). Positional masks
        # pass through as in keras.layers.BatchNormalization.
        if mask is not None and len(mask.shape) == 1 and len(inputs.shape) > 2:
            return None
        return super().compute_mask(inputs, mask)

    def call(self, inputs, training=None, mask=None):
        if not (training and self.trainable):
            return super().call(inputs, training=False)
        compute_dtype = keras.backend.result_type(inputs.dtype, "float32")
        x = tf.cast(inputs, compute_dtype)
        mean, variance, x_groups = self._group_moments(x, mask)
        # Same arithmetic as tf.nn.batch_normalization (what Keras calls).
        inv = tf.math.rsqrt(variance + self.epsilon)
        if self.scale:
            inv *= tf.cast(self.gamma, compute_dtype)
        offset = -mean * inv
        if self.center:
            offset += tf.cast(self.beta, compute_dtype)
        outputs = x_groups * inv[:, None, :] + offset[:, None, :]
        outputs = tf.reshape(outputs, tf.shape(x))
        return tf.cast(outputs, self.compute_dtype)

    # ---------------------------------------------------------- statistics
    def _group_moments(self, x, mask):
        """Normalising statistics and `x` as `[stat_groups, examples, C]`."""
        channels = x.shape[-1]
        num_groups = self._num_ghost_batches(x)
        x_groups = tf.reshape(x, [num_groups, -1, channels])
        shift = tf.stop_gradient(tf.cast(self.moving_mean, x.dtype))
        d = x_groups - shift
        if mask is None:
            count = tf.cast(tf.shape(d)[1], d.dtype) * tf.ones_like(d[:, 0])
            sums = [count, tf.reduce_sum(d, 1), tf.reduce_sum(d * d, 1)]
        else:
            w = tf.reshape(self._weights_from_mask(mask, x, d.dtype),
                           [num_groups, -1, 1])
            wd = w * d
            count = tf.reduce_sum(w, 1) * tf.ones_like(d[:, 0])
            sums = [count, tf.reduce_sum(wd, 1), tf.reduce_sum(wd * d, 1)]
        local_sums = tf.stack(sums, axis=1)  # [stat groups, 3, C]

        ctx = tf.distribute.get_replica_context()
        num_replicas = ctx.num_replicas_in_sync if ctx is not None else 1
        groups = self._replica_groups(num_replicas)
        if len(groups) == num_replicas:  # one replica per group: local stats
            mean, variance = _moments_from_sums(local_sums, shift)
            self._update_moving(mean, variance, local_sums[:, 0], ctx,
                                num_replicas)
        elif _is_tpu_strategy(tf.distribute.get_strategy()):
            # TPU: sum within groups only (the MLPerf cross-replica sum).
            group_sums = tf.raw_ops.CrossReplicaSum(
                input=local_sums,
                group_assignment=tf.constant(groups, tf.int32))
            mean, variance = _moments_from_sums(group_sums, shift)
            self._update_moving(mean, variance, local_sums[:, 0], ctx,
                                num_replicas)
        else:
            mean, variance = self._fallback_group_moments(
                local_sums, shift, groups, ctx)
        return mean, variance, x_groups

    def _fallback_group_moments(self, local_sums, shift, groups, ctx):
        """Exact grouped sums with one all-reduce, for any tf.distribute.

        Each replica writes its sums into its group's row of a zero table
        `[num_groups, 3, C]`; an all-reduce SUM over all replicas fills every
        row with its group's sums. The gradient of the all-reduce is an
        all-reduce, so gradients reach every replica of the group.
        """
        group_of_replica = [0] * sum(len(g) for g in groups)
        for k, group in enumerate(groups):
            for replica in group:
                group_of_replica[replica] = k
        group_id = tf.gather(tf.constant(group_of_replica, tf.int32),
                             ctx.replica_id_in_sync_group)
        one_hot = tf.one_hot(group_id, len(groups), dtype=local_sums.dtype)
        table = cross_replica_sum(ctx, one_hot[:, None, None] * local_sums)
        # Contract with the one-hot (not gather): a dense gradient.
        own = tf.reduce_sum(one_hot[:, None, None] * table, 0, keepdims=True)
        table_const = tf.stop_gradient(table)
        self._assign_moving(_count_weighted(
            *_moments_from_sums(table_const, shift), table_const[:, 0]))
        return _moments_from_sums(own, shift)

    def _update_moving(self, mean, variance, counts, ctx, num_replicas):
        """Moving update with the statistics averaged over all replicas."""
        weighted = _count_weighted(mean, variance, counts)
        if num_replicas > 1:
            # Statistics only (no gradient): the merge-call sum alone.
            weighted = _merge_sum(ctx, tf.stop_gradient(weighted))
        self._assign_moving(weighted)

    def _assign_moving(self, weighted):
        """EMA step towards `weighted` = summed (count, count*mean, count*var)."""
        total, sum_mean, sum_variance = tf.unstack(weighted)
        # No update when every example was padding (total count 0).
        rate = (1.0 - self.momentum_per_call) * tf.cast(total > 0, total.dtype)
        for variable, value in (
                (self.moving_mean, tf.math.divide_no_nan(sum_mean, total)),
                (self.moving_variance,
                 tf.math.divide_no_nan(sum_variance, total))):
            old = tf.cast(variable, value.dtype)
            variable.assign(tf.cast(old + (value - old) * rate,
                                    variable.dtype))

    # ------------------------------------------------------------- helpers
    def _replica_groups(self, num_replicas):
        if self.group_assignment is not None:
            _validate_partition(self.group_assignment, num_replicas)
            return self.group_assignment
        size = self.replica_group_size
        if size == ALL_REPLICAS:
            size = num_replicas
        return contiguous_group_assignment(num_replicas, size)

    def _num_ghost_batches(self, x):
        if self.ghost_batch_size is None:
            return 1
        batch = x.shape[0]
        if batch is not None:
            if batch % self.ghost_batch_size:
                raise ValueError(
                    f"The per-replica batch ({batch}) must be a multiple of "
                    f"ghost_batch_size ({self.ghost_batch_size}).")
            return batch // self.ghost_batch_size
        batch = tf.shape(x)[0]
        tf.debugging.assert_equal(
            batch % self.ghost_batch_size, 0,
            message="The per-replica batch must be a multiple of "
                    "ghost_batch_size.")
        return batch // self.ghost_batch_size

    @staticmethod
    def _weights_from_mask(mask, x, dtype):
        mask = tf.cast(mask, dtype)
        rank = len(x.shape)
        if len(mask.shape) == 1:
            mask = tf.reshape(mask, [-1] + [1] * (rank - 2))
            return tf.broadcast_to(mask, tf.shape(x)[:-1])
        if len(mask.shape) != rank - 1:
            raise ValueError(
                "mask must have shape [batch] or inputs.shape[:-1]; got "
                f"mask.shape={mask.shape}, inputs.shape={x.shape}.")
        return mask
