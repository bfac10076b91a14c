"""Step layouts and the in-memory pipeline against the raw arrays."""
import numpy as np
import pytest
import tensorflow as tf

from limitbatch_tf.data import base, mnist
from fakedata import write_mnist_dir


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    path = tmp_path_factory.mktemp("mnist")
    write_mnist_dir(str(path), num_train=70, num_test=23)
    return mnist.load("mnist", str(path))


@pytest.mark.parametrize("batch, replicas, micro, pad, expect", [
    (256, 1, None, False, (1, 256)),
    (256, 4, None, False, (1, 64)),
    (256, 4, 16, False, (4, 16)),
    (60000, 7, None, True, (1, 8572)),
    (60000, 7, 1000, True, (9, 1000)),
])
def test_layout_resolve(batch, replicas, micro, pad, expect):
    layout = base.StepLayout.resolve(batch, replicas, micro, pad)
    assert (layout.micro_batches, layout.per_replica_batch) == expect
    assert 0 <= layout.padding < replicas * layout.per_replica_batch


@pytest.mark.parametrize("args, message", [
    ((256, 3), "not divisible"),
    ((256, 4, 100), "exceeds --batch_size"),
    ((256, 4, 0), "--micro_batch_size must be >= 1"),
    ((0, 1), "--batch_size must be >= 1"),
])
def test_layout_errors(args, message):
    with pytest.raises(ValueError, match=message):
        base.StepLayout.resolve(*args)


def _collect(dataset, batches):
    xs, ys, ws = [], [], []
    for x, y, w in dataset.take(batches):
        xs.append(x.numpy()), ys.append(y.numpy()), ws.append(w.numpy())
    return np.concatenate(xs), np.concatenate(ys), np.concatenate(ws)


def _raw_index(source, images):
    """Finds each batch row among the raw training images (all distinct)."""
    raw = source._train_images.numpy().reshape(70, -1).astype(np.float32)
    flat = (images.reshape(len(images), -1) * mnist._STATS["mnist"][1]
            + mnist._STATS["mnist"][0]) * 255.0
    dist = np.abs(flat[:, None, :] - raw[None, :, :]).max(-1)
    assert (dist.min(1) < 1e-3).all(), "a batch row is not a training image"
    return dist.argmin(1)


@pytest.mark.parametrize("pipelines", [1, 2])
def test_full_batch_uses_every_example_once_per_step(source, pipelines):
    layout = base.StepLayout.resolve(70, 4, 6, allow_padding=True)  # 4x3x6=72
    seen = []
    for pid in range(pipelines):
        ctx = tf.distribute.InputContext(pipelines, pid, 4)
        per_step = 4 // pipelines * layout.micro_batches
        x, y, w = _collect(source.train_dataset(ctx, layout, seed=3), per_step)
        real = w == 1.0
        start, end = base.pipeline_share(70, pipelines, pid)
        assert w.sum() == end - start
        seen.append(_raw_index(source, x[real]))
        np.testing.assert_array_equal(
            y[real], source._train_labels.numpy()[seen[-1]])
    seen = np.concatenate(seen)
    assert sorted(seen) == list(range(70))


def test_epochs_are_permutations_and_reproducible(source):
    layout = base.StepLayout.resolve(10, 1)
    ctx = tf.distribute.InputContext(1, 0, 1)
    x, _, _ = _collect(source.train_dataset(ctx, layout, seed=5), 14)
    order = _raw_index(source, x)
    assert sorted(order[:70]) == list(range(70))
    assert sorted(order[70:140]) == list(range(70))
    assert list(order[:70]) != list(order[70:140])
    x2, _, _ = _collect(source.train_dataset(ctx, layout, seed=5, start_step=9), 5)
    np.testing.assert_array_equal(_raw_index(source, x2), order[90:140])


@pytest.mark.parametrize("replicas, pipelines", [(1, 1), (4, 1), (4, 2)])
def test_eval_covers_split_exactly_once(source, replicas, pipelines):
    layout = base.StepLayout.resolve(8 * replicas, replicas)
    steps = base.eval_steps(23, layout)
    labels, total = [], 0
    for pid in range(pipelines):
        ctx = tf.distribute.InputContext(pipelines, pid, replicas)
        batches = list(source.eval_dataset(ctx, layout))
        assert len(batches) == steps * replicas // pipelines
        for _, y, w in batches:
            labels.extend(y.numpy()[w.numpy() == 1])
            total += len(w)
    assert total == steps * replicas * 8
    assert sorted(labels) == sorted(source._evals["test"][1].numpy())


def test_validation_split_holds_out_last_examples(tmp_path):
    train, _ = write_mnist_dir(str(tmp_path), num_train=50, num_test=10, gz=False)
    source = mnist.load("mnist", str(tmp_path), validation_examples=12)
    assert source.info.num_train == 38
    assert source.eval_splits == {"test": 10, "validation": 12}
    np.testing.assert_array_equal(source._evals["validation"][1].numpy(),
                                  train[1][38:])


def test_missing_files_name_what_was_expected(tmp_path):
    with pytest.raises(mnist.DataNotFoundError,
                       match=r"expected train-images-idx3-ubyte.*--data_dir="):
        mnist.load("fashion_mnist", str(tmp_path / "nowhere"))


def test_in_memory_pipelines_leave_tf_data_autotuning_off(source):
    """Autotuning's optimisation thread sleeps up to 60 s between rounds and
    destroying the iterator waits the sleep out: the process then exits up
    to a minute after its last line (issue 16.3). The in-memory pipelines
    (one gather per batch) run untuned; the options must survive what the
    loop adds (``.repeat()``) and the augmented CIFAR path."""
    from limitbatch_tf.data import synthetic  # noqa: F401
    from limitbatch_tf.data.augment import cifar_augment
    from limitbatch_tf.data.in_memory import InMemorySource
    ctx = tf.distribute.InputContext(1, 0, 1)
    layout = base.StepLayout.resolve(8, 1)
    info = base.DatasetInfo("t", (32, 32, 3), 10, 16)
    images = np.zeros((16, 32, 32, 3), np.uint8)
    labels = np.zeros(16, np.int32)
    augmented = InMemorySource(info, (images, labels), {"test": (images, labels)},
                               augment=cifar_augment())
    for dataset in (source.train_dataset(ctx, layout, 0),
                    source.eval_dataset(ctx, layout).repeat(),
                    augmented.train_dataset(ctx, layout, 0)):
        assert dataset.options().autotune.enabled is False
        next(iter(dataset))  # and the untuned pipeline still yields
