"""Layers: batch normalization over ghost batches and replica groups."""
from limitbatch_tf.layers.bn_span import BN_MODES
from limitbatch_tf.layers.bn_span import make_batch_norm
from limitbatch_tf.layers.bn_span import resolve_bn_span
from limitbatch_tf.layers.grouped_batch_norm import GroupedBatchNormalization
from limitbatch_tf.layers.grouped_batch_norm import contiguous_group_assignment

__all__ = [
    "BN_MODES",
    "GroupedBatchNormalization",
    "contiguous_group_assignment",
    "make_batch_norm",
    "resolve_bn_span",
]
