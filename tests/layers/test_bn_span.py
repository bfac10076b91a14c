"""resolve_bn_span and make_batch_norm."""
import keras
import pytest

from limitbatch_tf.layers import GroupedBatchNormalization
from limitbatch_tf.layers import contiguous_group_assignment
from limitbatch_tf.layers import make_batch_norm
from limitbatch_tf.layers import resolve_bn_span


@pytest.mark.parametrize("span,batch,replicas,expected", [
    (32, 128, 8, (32, 1)),      # ghost batches within a replica
    (1, 4, 1, (1, 1)),          # ghost batch of one example
    (128, 128, 8, (None, 1)),   # local BN
    (256, 128, 8, (None, 2)),   # groups of 2 replicas
    (128, 16, 8, (None, 8)),    # all replicas: synchronized BN
    (64, 32, 256, (None, 2)),   # the paper's span at 64 (Ying et al.)
])
def test_resolve_bn_span(span, batch, replicas, expected):
    assert resolve_bn_span(span, batch, replicas) == expected


@pytest.mark.parametrize("span,batch,replicas,match", [
    (48, 128, 8, "must divide the per-replica batch"),
    (192, 128, 8, "multiple of the per-replica batch"),
    (384, 128, 8, "must divide the 8 replicas"),
    (256, 16, 8, "must divide the 8 replicas"),
    (0, 128, 8, "bn_span must be a positive int"),
    (64.0, 128, 8, "bn_span must be a positive int"),
    (64, 0, 8, "per_replica_batch must be a positive int"),
    (64, 128, True, "num_replicas must be a positive int"),
])
def test_resolve_bn_span_errors(span, batch, replicas, match):
    with pytest.raises(ValueError, match=match):
        resolve_bn_span(span, batch, replicas)


def test_contiguous_group_assignment():
    assert contiguous_group_assignment(8, 4) == [[0, 1, 2, 3], [4, 5, 6, 7]]
    assert contiguous_group_assignment(4, 1) == [[0], [1], [2], [3]]
    with pytest.raises(ValueError, match="must divide"):
        contiguous_group_assignment(8, 3)


def test_make_batch_norm_modes():
    local = make_batch_norm("local", momentum=0.9)(name="bn")
    assert type(local) is keras.layers.BatchNormalization
    assert local.momentum == 0.9 and local.name == "bn"
    ghost = make_batch_norm("ghost", ghost_batch_size=16)()
    assert isinstance(ghost, GroupedBatchNormalization)
    assert ghost.ghost_batch_size == 16 and ghost.replica_group_size == 1
    grouped = make_batch_norm("grouped", replica_group_size=4)()
    assert grouped.replica_group_size == 4 and grouped.ghost_batch_size is None
    sync = make_batch_norm("sync", micro_batches_per_step=2)()
    assert sync.replica_group_size == "all"
    assert sync.micro_batches_per_step == 2
    # Each call builds a new layer.
    factory = make_batch_norm("grouped", replica_group_size=1)
    assert factory() is not factory()


@pytest.mark.parametrize("mode,kwargs,match", [
    ("batch", {}, "mode must be one of"),
    ("local", dict(ghost_batch_size=4), "does not take"),
    ("ghost", {}, "needs ghost_batch_size"),
    ("grouped", {}, "needs replica_group_size"),
    ("sync", dict(replica_group_size=2), "uses all replicas"),
])
def test_make_batch_norm_errors(mode, kwargs, match):
    with pytest.raises(ValueError, match=match):
        make_batch_norm(mode, **kwargs)
