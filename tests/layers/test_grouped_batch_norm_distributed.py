"""GroupedBatchNormalization on 8 logical CPU replicas vs the NumPy reference.

Each case runs 3 training steps inside `strategy.run` and checks, every step,
outputs and the gradients of the global loss sum(y * dy) w.r.t. inputs, gamma
and beta, and finally the moving statistics held by every replica.
"""
import numpy as np
import pytest
import tensorflow as tf

from limitbatch_tf import distribute

from conftest import logical_cpus
from gbn_reference import backward
from gbn_reference import forward
from gbn_reference import ghost_groups
from gbn_reference import moving_update
from gbn_reference import replica_groups_to_examples
from limitbatch_tf.layers import GroupedBatchNormalization
from limitbatch_tf.layers import grouped_batch_norm as gbn_module

REPLICAS = 8
PER_REPLICA = 4
SHAPE = (2, 2, 3)  # spatial 2x2, 3 channels
MOMENTUM = 0.8
EPS = 1e-3
STEPS = 3


@pytest.fixture(scope="module")
def strategy():
    return distribute.cpu_mirrored_strategy(logical_cpus(REPLICAS))


def _distribute(strategy, array):
    def value_fn(ctx):
        r = ctx.replica_id_in_sync_group
        return tf.constant(array[r * PER_REPLICA:(r + 1) * PER_REPLICA])
    return strategy.experimental_distribute_values_from_function(value_fn)


def _gather(strategy, value):
    return np.concatenate(
        [t.numpy() for t in strategy.experimental_local_results(value)])


def _sum(strategy, value):
    return sum(t.numpy() for t in strategy.experimental_local_results(value))


CASES = {
    "local": (dict(), lambda b: ghost_groups(REPLICAS * b, b)),
    "ghost2": (dict(ghost_batch_size=2),
               lambda b: ghost_groups(REPLICAS * b, 2)),
    "group2": (dict(replica_group_size=2), lambda b: replica_groups_to_examples(
        [[0, 1], [2, 3], [4, 5], [6, 7]], b)),
    "group4": (dict(replica_group_size=4), lambda b: replica_groups_to_examples(
        [[0, 1, 2, 3], [4, 5, 6, 7]], b)),
    "all": (dict(replica_group_size="all"),
            lambda b: [np.arange(REPLICAS * b)]),
    "assignment": (dict(group_assignment=[[0, 5], [1, 4], [2, 7], [3, 6]]),
                   lambda b: replica_groups_to_examples(
                       [[0, 5], [1, 4], [2, 7], [3, 6]], b)),
}
KEYS = ([(case, False, False) for case in sorted(CASES)]
        + [(case, True, False) for case in ("all", "assignment", "ghost2")])


def _inputs():
    rng = np.random.default_rng(0)
    batch = (REPLICAS * PER_REPLICA,) + SHAPE
    # Offsets per replica make the group choice visible in the statistics.
    offsets = rng.normal(size=(REPLICAS, 1, 1, 1, SHAPE[-1])) * 2
    xs = [(rng.normal(size=(REPLICAS, PER_REPLICA) + SHAPE) + offsets)
          .reshape(batch).astype("float32") * 1.5 + 0.5 for _ in range(STEPS)]
    dys = [rng.normal(size=batch).astype("float32") for _ in range(STEPS)]
    weights = np.ones(batch[0], "float32")
    # Padded examples in some replicas, never a whole stat group.
    weights[[1, 2, 9, 22, 30]] = 0.0
    return xs, dys, weights


def _run(strategy, case, masked, compiled):
    """Three training steps of one case: outputs, gradients, moving stats."""
    xs, dys, weights = _inputs()
    rng = np.random.default_rng(1)
    gamma = rng.uniform(0.5, 1.5, SHAPE[-1]).astype("float32")
    beta = rng.normal(size=SHAPE[-1]).astype("float32")
    with strategy.scope():
        layer = GroupedBatchNormalization(momentum=MOMENTUM, epsilon=EPS,
                                          **CASES[case][0])
        layer.build((PER_REPLICA,) + SHAPE)
        layer.gamma.assign(gamma)
        layer.beta.assign(beta)

    def replica_step(x, dy, w):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = layer(x, training=True, mask=w if masked else None)
            loss = tf.reduce_sum(y * dy)
        return [y] + tape.gradient(loss, [x, layer.gamma, layer.beta])

    def step(*args):
        return strategy.run(replica_step, args=args)

    # Eager strategy.run costs ~1/4 of a tf.function trace on 8 logical CPUs;
    # one case checks the compiled (training) path.
    step = tf.function(step) if compiled else step
    runs = []
    for x, dy in zip(xs, dys):
        y, dx, dgamma, dbeta = step(
            *(_distribute(strategy, a) for a in (x, dy, weights)))
        runs.append((_gather(strategy, y), _gather(strategy, dx),
                     _sum(strategy, dgamma), _sum(strategy, dbeta)))
    moving = [np.stack([v.numpy() for v in var.value.values])
              for var in (layer.moving_mean, layer.moving_variance)]
    return runs, moving, gamma, beta


@pytest.mark.parametrize(
    "case,masked,compiled",
    KEYS + [("group2", True, True)],
    ids=[f"{c}-{'masked' if m else 'full'}" for c, m, _ in KEYS]
    + ["group2-masked-tf.function"])
def test_matches_numpy_reference(strategy, case, masked, compiled):
    _check_against_reference(case, masked,
                             *_run(strategy, case, masked, compiled))


def test_tpu_branch_wiring(strategy, monkeypatch):
    """The TPU branch with CrossReplicaSum emulated by an all-reduce.

    Checks what can be checked off-TPU: the group_assignment handed to the
    op (one row per group) and the extra all-reduce for the moving stats.
    """
    seen = []

    def cross_replica_sum(input, group_assignment):  # noqa: A002 (op's name)
        groups = group_assignment.numpy().tolist()
        seen.append(groups)
        ctx = tf.distribute.get_replica_context()
        replica = int(tf.get_static_value(ctx.replica_id_in_sync_group))
        own = [k for k, g in enumerate(groups) if replica in g][0]
        one_hot = tf.one_hot(own, len(groups), dtype=input.dtype)
        table = ctx.all_reduce(tf.distribute.ReduceOp.SUM,
                               one_hot[:, None, None, None] * input[None])
        return tf.reduce_sum(one_hot[:, None, None, None] * table, 0)

    monkeypatch.setattr(gbn_module, "_is_tpu_strategy", lambda s: True)
    monkeypatch.setattr(tf.raw_ops, "CrossReplicaSum", cross_replica_sum)
    _check_against_reference("assignment", True,
                             *_run(strategy, "assignment", True, False))
    assert seen[0] == [[0, 5], [1, 4], [2, 7], [3, 6]]


def _check_against_reference(case, masked, runs, moving, gamma, beta):
    groups = CASES[case][1](PER_REPLICA)
    xs, dys, weights = _inputs()
    w = weights if masked else None

    ref_mean, ref_var = np.zeros(SHAPE[-1]), np.ones(SHAPE[-1])
    for x, dy, (y, dx, dgamma, dbeta) in zip(xs, dys, runs):
        ref_y, stats = forward(x, gamma, beta, groups, w, EPS)
        ref_dx, ref_dgamma, ref_dbeta = backward(x, gamma, groups, dy, w, EPS)
        np.testing.assert_allclose(y, ref_y, rtol=1e-4, atol=1e-4)
        np.testing.assert_allclose(dx, ref_dx, rtol=1e-3, atol=1e-4)
        np.testing.assert_allclose(dgamma, ref_dgamma, rtol=1e-4, atol=1e-4)
        np.testing.assert_allclose(dbeta, ref_dbeta, rtol=1e-4, atol=1e-4)
        ref_mean, ref_var = moving_update(ref_mean, ref_var, stats, MOMENTUM)
    # Every replica holds the replica-averaged moving statistics.
    for per_replica, ref in zip(moving, (ref_mean, ref_var)):
        np.testing.assert_allclose(
            per_replica, np.broadcast_to(ref, per_replica.shape),
            rtol=1e-5, atol=1e-5)


def test_group_size_must_divide_replicas(strategy):
    with strategy.scope():
        layer = GroupedBatchNormalization(replica_group_size=3)
        layer.build((PER_REPLICA,) + SHAPE)
    x = _distribute(strategy, np.zeros((REPLICAS * PER_REPLICA,) + SHAPE,
                                       "float32"))
    with pytest.raises(ValueError, match="replica_group_size must divide"):
        strategy.run(lambda v: layer(v, training=True), args=(x,))


def test_group_assignment_must_partition_replicas(strategy):
    with strategy.scope():
        layer = GroupedBatchNormalization(group_assignment=[[0, 1], [2, 3]])
        layer.build((PER_REPLICA,) + SHAPE)
    x = _distribute(strategy, np.zeros((REPLICAS * PER_REPLICA,) + SHAPE,
                                       "float32"))
    with pytest.raises(ValueError, match="must partition"):
        strategy.run(lambda v: layer(v, training=True), args=(x,))


def test_cross_replica_sum_equals_all_reduce_with_gradients(strategy):
    """The BN all-reduce (which avoids TF's whole-graph custom-gradient walk)
    returns and differentiates exactly like ReplicaContext.all_reduce."""
    x = np.arange(REPLICAS * PER_REPLICA * 3, dtype=np.float32).reshape(
        REPLICAS * PER_REPLICA, 3) / 7.0
    weights = np.linspace(-1.0, 2.0, REPLICAS * PER_REPLICA * 3,
                          dtype=np.float32).reshape(-1, 3)

    def step(values, w, ours):
        ctx = tf.distribute.get_replica_context()
        with tf.GradientTape() as tape:
            tape.watch(values)
            s = tf.reduce_sum(values * values, 0)
            total = (gbn_module.cross_replica_sum(ctx, s) if ours
                     else ctx.all_reduce(tf.distribute.ReduceOp.SUM, s))
            loss = tf.reduce_sum(total * tf.reduce_sum(w, 0))
        return total, tape.gradient(loss, values)

    results = {}
    for ours in (True, False):
        fn = tf.function(lambda v, w, o=ours: strategy.run(step, args=(v, w, o)))
        total, grad = fn(_distribute(strategy, x), _distribute(strategy, weights))
        results[ours] = ([t.numpy() for t in strategy.experimental_local_results(total)],
                         [g.numpy() for g in strategy.experimental_local_results(grad)])
    np.testing.assert_allclose(results[True][0], results[False][0], rtol=1e-6)
    np.testing.assert_allclose(results[True][1], results[False][1], rtol=1e-6)
    np.testing.assert_allclose(results[True][0][0], (x * x).sum(0), rtol=1e-5)
