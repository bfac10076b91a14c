"""Synthetic data for throughput measurement: no input cost.

One random per-replica batch is built once and repeated
(``Dataset.from_tensors(...).repeat()``), so the measured examples/s are the
model's and the step's, not the input pipeline's. The nominal training-set
size sets epochs and "full batch"; rows are never padded, so use it for
speed, not for accuracy or exact full-batch semantics.
"""
from __future__ import annotations

import numpy as np
import tensorflow as tf

from limitbatch_tf.data import base

SHAPES = {
    "synthetic_imagenet": ((224, 224, 3), 1000, 1281167),
    "synthetic_cifar10": ((32, 32, 3), 10, 50000),
}
EVAL_EXAMPLES = 256


class SyntheticSource:
    def __init__(self, name: str, image_size=None, seed: int = 0):
        shape, classes, num_train = SHAPES[name]
        if image_size is not None:
            shape = (image_size, image_size, shape[2])
        self.info = base.DatasetInfo(name, shape, classes, num_train)
        self._rng = np.random.default_rng(seed)

    @property
    def eval_splits(self):
        return {"test": EVAL_EXAMPLES}

    def _batch(self, size):
        x = self._rng.standard_normal((size,) + self.info.image_shape,
                                      dtype=np.float32)
        y = self._rng.integers(0, self.info.num_classes, size).astype(np.int32)
        return tf.constant(x), tf.constant(y), tf.ones([size], tf.float32)

    def train_dataset(self, ctx, layout: base.StepLayout, seed: int,
                      start_step: int = 0, shuffle: bool = True):
        return tf.data.Dataset.from_tensors(
            self._batch(layout.per_replica_batch)).repeat()

    def eval_dataset(self, ctx, layout: base.StepLayout, split: str = "test"):
        steps = base.eval_steps(EVAL_EXAMPLES, layout)
        per_pipeline = steps * layout.num_replicas // ctx.num_input_pipelines
        return tf.data.Dataset.from_tensors(
            self._batch(layout.per_replica_batch)).repeat(per_pipeline)
