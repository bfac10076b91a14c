"""A data source over arrays held in memory (MNIST-sized datasets).

Images stay in memory as uint8; the pipeline moves only example indices until
the last step, where one vectorised gather builds each per-replica batch. The
global batch is never materialised, so a 60,000-example full batch costs no
more memory than its micro-batches.
"""
from __future__ import annotations

import numpy as np
import tensorflow as tf

from limitbatch_tf.data import base

# The pipeline is one vectorised gather per batch: tf.data's autotuning has
# nothing to tune here, so it is off, with fixed parallelism and prefetch
# depth. (The minute-long wait at the end of a run first blamed on it came
# from the iterator tf.distribute wraps around a dataset, which runs the
# autotuning thread whatever these options say: train/loop.py
# input_iterator, benchmarks/README.md.)
PARALLEL_CALLS = 2
PREFETCH = 2


def _untuned(dataset: tf.data.Dataset) -> tf.data.Dataset:
    options = tf.data.Options()
    options.autotune.enabled = False
    return dataset.with_options(options)


class InMemorySource:
    """Train and eval splits held as uint8 arrays.

    Args:
      info: the dataset's static facts.
      train: (images uint8 [N, H, W, C], labels int [N]).
      evals: split name -> (images, labels); "test" is the one reported as
        the final accuracy, "validation" (if present) is a held-out part of
        the training set.
      mean, std: per-channel normalisation applied after scaling to [0, 1].
    """

    def __init__(self, info: base.DatasetInfo, train, evals, mean=0.0, std=1.0,
                 augment=None):
        self.info = info
        # augment(images, seed) -> images, applied to training batches only;
        # seed is a stateless [2] seed unique to the batch, so augmentation
        # is reproducible and a resumed run draws what it would have drawn.
        self._augment = augment
        self._train_images = tf.constant(train[0])
        self._train_labels = tf.constant(np.asarray(train[1], np.int32))
        self._evals = {name: (tf.constant(x), tf.constant(np.asarray(y, np.int32)))
                       for name, (x, y) in evals.items()}
        self._mean = tf.constant(mean, tf.float32)
        self._std = tf.constant(std, tf.float32)

    def _gather(self, images, labels):
        def gather(indices):
            weights = tf.cast(indices >= 0, tf.float32)
            safe = tf.maximum(indices, 0)
            x = tf.cast(tf.gather(images, safe), tf.float32) / 255.0
            x = (x - self._mean) / self._std
            return x, tf.gather(labels, safe), weights
        return gather

    def train_dataset(self, ctx: tf.distribute.InputContext,
                      layout: base.StepLayout, seed: int,
                      start_step: int = 0, shuffle: bool = True):
        """Endless per-replica training batches, starting at update step ``start_step``."""
        steps = base.global_steps(self.info.num_train, layout.global_batch,
                                  seed, shuffle, start_step)
        batches = base.step_index_batches(steps, layout, ctx)
        gather = self._gather(self._train_images, self._train_labels)
        if self._augment is None:
            return _untuned(batches.map(
                gather, num_parallel_calls=PARALLEL_CALLS).prefetch(PREFETCH))
        per_step = layout.num_replicas // ctx.num_input_pipelines * layout.micro_batches

        def augmented(i, indices):
            x, y, w = gather(indices)
            return self._augment(x, tf.stack([tf.cast(seed, tf.int64), i])), y, w

        return _untuned(batches.enumerate(start=start_step * per_step).map(
            augmented, num_parallel_calls=PARALLEL_CALLS).prefetch(PREFETCH))

    @property
    def eval_splits(self):
        """Split name -> number of examples."""
        return {name: int(x.shape[0]) for name, (x, _) in self._evals.items()}

    def eval_dataset(self, ctx: tf.distribute.InputContext,
                     layout: base.StepLayout, split: str = "test"):
        """Finite per-replica evaluation batches covering the split exactly once."""
        images, labels = self._evals[split]
        indices = base.padded_eval_indices(int(images.shape[0]), layout, ctx)
        return _untuned(tf.data.Dataset.from_tensor_slices(indices).map(
            self._gather(images, labels),
            num_parallel_calls=PARALLEL_CALLS).prefetch(PREFETCH))
