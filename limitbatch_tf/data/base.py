"""The contract between data sources and the training loop.

Every batch a source yields is a triple ``(images, labels, weights)``:
``weights`` is 1.0 for a real example and 0.0 for padding. Padding lets a
global batch that does not divide into replicas x micro-batches (the paper's
full batch: 60,000 or 1,281,167 examples on any number of replicas) still use
every example exactly once per step: the loop sums ``weight * loss`` and
divides by the real global batch size, and batch norm ignores weight-0 rows.

The step layout (how one update step's global batch is split into replicas
and micro-batches) is computed once, in :class:`StepLayout`, and shared by
the pipeline and the loop so both count the same examples.
"""
from __future__ import annotations

import dataclasses
import math

import tensorflow as tf

from limitbatch_tf.config import ConfigError


@dataclasses.dataclass(frozen=True)
class DatasetInfo:
    """Static facts about a dataset the model and the loop need."""

    name: str
    image_shape: tuple
    num_classes: int
    num_train: int


@dataclasses.dataclass(frozen=True)
class StepLayout:
    """How one update step's global batch maps onto replicas and micro-batches.

    Attributes:
      global_batch: real examples per update step (B).
      num_replicas: replicas in sync (R).
      micro_batches: micro-batches accumulated per update step per replica (k).
      per_replica_batch: examples per micro-batch per replica (b).
    The padded step size is ``R * k * b >= B``; the difference is padding.
    """

    global_batch: int
    num_replicas: int
    micro_batches: int
    per_replica_batch: int

    @property
    def padded_batch(self) -> int:
        return self.num_replicas * self.micro_batches * self.per_replica_batch

    @property
    def padding(self) -> int:
        return self.padded_batch - self.global_batch

    @classmethod
    def resolve(cls, global_batch, num_replicas, micro_batch_size=None,
                allow_padding=False):
        """Chooses k and b for a global batch B on R replicas.

        Args:
          global_batch: B, real examples per update step.
          num_replicas: R.
          micro_batch_size: per-replica examples per micro-batch, or None for
            one micro-batch of ceil(B / R). Defaults to None.
          allow_padding: whether B may leave R*k*b - B padded rows. Defaults
            to False (then B must equal R*k*b exactly).
        Raises:
          ConfigError: naming the flag when the layout is impossible.
        """
        if global_batch < 1:
            raise ConfigError(f"--batch_size must be >= 1, got {global_batch}")
        if micro_batch_size is None:
            k, b = 1, math.ceil(global_batch / num_replicas)
        else:
            if micro_batch_size < 1:
                raise ConfigError(
                    f"--micro_batch_size must be >= 1, got {micro_batch_size}")
            if micro_batch_size * num_replicas > global_batch:
                raise ConfigError(
                    f"--micro_batch_size={micro_batch_size} on {num_replicas} "
                    f"replicas exceeds --batch_size={global_batch}")
            b = micro_batch_size
            k = math.ceil(global_batch / (num_replicas * b))
        layout = cls(global_batch, num_replicas, k, b)
        if layout.padding and not allow_padding:
            raise ConfigError(
                f"--batch_size={global_batch} is not divisible by replicas x "
                f"micro-batch ({num_replicas} x {k} x {b} = "
                f"{layout.padded_batch}); pass --pad_batches to pad with "
                f"zero-weight examples")
        return layout


def pipeline_share(total: int, num_pipelines: int, pipeline_id: int):
    """[start, end) of ``total`` items owned by one input pipeline.

    The first ``total % num_pipelines`` pipelines own one item more, so every
    item is owned exactly once.
    """
    base, extra = divmod(total, num_pipelines)
    start = pipeline_id * base + min(pipeline_id, extra)
    return start, start + base + (1 if pipeline_id < extra else 0)


def _check_layout(layout: StepLayout, ctx: tf.distribute.InputContext):
    if ctx.num_replicas_in_sync != layout.num_replicas:
        raise ValueError(
            f"step layout has {layout.num_replicas} replicas but the strategy "
            f"has {ctx.num_replicas_in_sync}")
    if layout.num_replicas % ctx.num_input_pipelines:
        raise ValueError(
            f"{layout.num_replicas} replicas do not divide over "
            f"{ctx.num_input_pipelines} input pipelines")


def step_index_batches(step_indices: tf.data.Dataset, layout: StepLayout,
                       ctx: tf.distribute.InputContext) -> tf.data.Dataset:
    """Turns a stream of global steps of example indices into per-replica batches.

    Args:
      step_indices: dataset of int64 vectors of length ``layout.global_batch``,
        one per update step, identical on every input pipeline.
      layout: the step layout.
      ctx: this pipeline's input context.
    Returns:
      A dataset of int64 vectors of length ``per_replica_batch``; -1 marks a
      padded row. Each step yields ``R_local * k`` of them, in the order the
      distributed iterator hands them to this pipeline's replicas.
    """
    _check_layout(layout, ctx)
    start, end = pipeline_share(layout.global_batch, ctx.num_input_pipelines,
                                ctx.input_pipeline_id)
    local_rows = (layout.padded_batch // ctx.num_input_pipelines)
    b = layout.per_replica_batch

    def to_local_batches(indices):
        local = indices[start:end]
        pad = tf.fill([local_rows - (end - start)], tf.constant(-1, tf.int64))
        return tf.reshape(tf.concat([local, pad], 0), [-1, b])

    return step_indices.map(to_local_batches).unbatch()


def padded_eval_indices(num_examples: int, layout: StepLayout,
                        ctx: tf.distribute.InputContext):
    """Evaluation indices for one pipeline, padded so every replica runs the same steps.

    Every example is evaluated exactly once across pipelines; padded rows are -1.
    Returns an int64 array of shape [num_batches, per_replica_batch].
    """
    _check_layout(layout, ctx)
    per_step = layout.num_replicas * layout.per_replica_batch
    steps = max(1, math.ceil(num_examples / per_step))
    total = steps * per_step
    local_rows = total // ctx.num_input_pipelines
    start, end = pipeline_share(num_examples, ctx.num_input_pipelines,
                                ctx.input_pipeline_id)
    # Pipelines own contiguous, nearly equal shares; each pads to local_rows.
    local = tf.concat([tf.range(start, end, dtype=tf.int64),
                       tf.fill([local_rows - (end - start)],
                               tf.constant(-1, tf.int64))], 0)
    return tf.reshape(local, [-1, layout.per_replica_batch])


def eval_steps(num_examples: int, layout: StepLayout) -> int:
    """Number of evaluation steps that cover ``num_examples`` exactly once."""
    return max(1, math.ceil(
        num_examples / (layout.num_replicas * layout.per_replica_batch)))


def epoch_permutations(num_examples: int, seed: int,
                       shuffle: bool = True) -> tf.data.Dataset:
    """An endless stream of examples indices, one fresh permutation per epoch.

    Permutation e depends only on (seed, e), so a resumed run that skips to
    step s sees exactly the examples an uninterrupted run would.
    """
    indices = tf.range(num_examples, dtype=tf.int64)

    def permutation(epoch):
        if not shuffle:
            return indices
        return tf.random.experimental.stateless_shuffle(
            indices, seed=tf.stack([tf.cast(seed, tf.int64), epoch]))

    return tf.data.Dataset.range(2**62).map(permutation)


def global_steps(num_examples: int, global_batch: int, seed: int,
                 shuffle: bool = True, start_step: int = 0) -> tf.data.Dataset:
    """Index vectors of successive update steps, B indices each.

    Steps run on across epoch boundaries (as the MLPerf reference does), so
    every example is seen once per epoch and ``B = num_examples`` makes each
    step exactly one epoch (full batch). ``start_step`` skips already trained
    steps without touching image data.
    """
    steps = epoch_permutations(num_examples, seed, shuffle).rebatch(
        global_batch, drop_remainder=True)
    return steps.skip(start_step)
