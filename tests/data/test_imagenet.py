"""The ImageNet TFRecord source against the records the tests write.

Every training example j has label j + 1 (0-based: j) and every validation
example label 101 + j, so labels identify examples.
"""
import json
import os

import numpy as np
import pytest
import tensorflow as tf
from hypothesis import given, settings, strategies as st

from limitbatch_tf.config import ConfigError
from limitbatch_tf import errors
from limitbatch_tf.data import base, imagenet, imagenet_files
from limitbatch_tf.data.mnist import DataNotFoundError
from fake_records import jpeg, smooth_image, write_prepared_tfds, write_shards

TRAIN_SIZES = (6, 7, 7)
EVAL_SIZES = (3, 4)
MEAN = np.array([123.675, 116.28, 103.53], np.float32)
STD = np.array([58.395, 57.12, 57.375], np.float32)


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    folder = str(tmp_path_factory.mktemp("imagenet"))
    rng = np.random.default_rng(0)
    train = []
    for j in range(sum(TRAIN_SIZES)):
        h, w = rng.integers(40, 100, 2)
        boxes = [(0.1, 0.2, 0.6, 0.9)] if j % 3 == 0 else []
        train.append((smooth_image(h, w, seed=j), j + 1, boxes))
    # Min side 64 at image_size 32: the center crop is 32 pixels, no resize.
    evals = [(smooth_image(64, 64 + 5 * j, seed=100 + j) if j % 2 else
              smooth_image(64 + 5 * j, 64, seed=100 + j), 101 + j, [])
             for j in range(sum(EVAL_SIZES))]
    train_files = write_shards(folder, "train", train, TRAIN_SIZES)
    write_shards(folder, "validation", evals, EVAL_SIZES)
    return folder, train_files, {label - 1: image for image, label, _ in evals}


@pytest.fixture(scope="module")
def source(data):
    return imagenet.load(data[0], image_size=32, shuffle_buffer=8)


def _collect(dataset, batches=None):
    xs, ys, ws = [], [], []
    for x, y, w in (dataset if batches is None else dataset.take(batches)):
        xs.append(x.numpy()), ys.append(y.numpy()), ws.append(w.numpy())
    return np.concatenate(xs), np.concatenate(ys), np.concatenate(ws)


def test_counts_labels_shapes_and_dtypes(data, source):
    folder = data[0]
    assert source.info == base.DatasetInfo("imagenet", (32, 32, 3), 1000, 20)
    assert source.eval_splits == {"test": 7}
    with open(os.path.join(folder, imagenet.COUNTS_FILE)) as f:
        counts = json.load(f)
    assert [counts[f"train-{k:05d}-of-00003"]["records"] for k in range(3)] == [6, 7, 7]

    ctx = tf.distribute.InputContext(1, 0, 1)
    x, y, w = next(iter(source.train_dataset(ctx, base.StepLayout.resolve(4, 1), 0)))
    assert x.shape == (4, 32, 32, 3) and x.dtype == tf.float32
    assert y.dtype == tf.int32 and set(y.numpy()) <= set(range(20))
    assert w.numpy().tolist() == [1.0] * 4

    raw = imagenet.load(folder, image_size=16, label_offset=0, dtype=tf.bfloat16)
    x, y, _ = next(iter(raw.eval_dataset(ctx, base.StepLayout.resolve(7, 1))))
    assert x.shape == (7, 16, 16, 3) and x.dtype == tf.bfloat16
    assert sorted(y.numpy()) == list(range(101, 108))


def test_label_offset_out_of_range_fails_naming_the_flag(data):
    source = imagenet.load(data[0], image_size=16, label_offset=2)
    ctx = tf.distribute.InputContext(1, 0, 1)
    with pytest.raises(tf.errors.InvalidArgumentError, match="label_offset"):
        _collect(source.train_dataset(ctx, base.StepLayout.resolve(20, 1), 0,
                                      shuffle=False), 1)


@pytest.mark.parametrize("batch, replicas, pipelines", [
    (4, 2, 1), (4, 2, 2), (3, 1, 1)])
def test_eval_uses_every_image_once_with_padding(data, source, batch,
                                                 replicas, pipelines):
    layout = base.StepLayout.resolve(batch, replicas)
    steps = base.eval_steps(7, layout)
    labels, weights = [], 0.0
    for pid in range(pipelines):
        ctx = tf.distribute.InputContext(pipelines, pid, replicas)
        batches = list(source.eval_dataset(ctx, layout))
        assert len(batches) == steps * replicas // pipelines  # same on all
        x, y, w = (np.concatenate([b[i].numpy() for b in batches]) for i in range(3))
        start, end = base.pipeline_share(7, pipelines, pid)
        assert w.tolist() == [1.0] * (end - start) + [0.0] * (len(w) - end + start)
        assert not x[w == 0].any() and not y[w == 0].any()
        for image, label in zip(x[w == 1], y[w == 1]):
            original = data[2][label]
            decoded = tf.io.decode_jpeg(jpeg(original)).numpy().astype(np.float32)
            top, left = ((s - 32 + 1) // 2 for s in original.shape[:2])
            want = (decoded[top:top + 32, left:left + 32] - MEAN) / STD
            assert np.abs(image - want).mean() < 0.01
        labels += y[w == 1].tolist()
        weights += w.sum()
    assert weights == 7 and sorted(labels) == list(range(100, 107))


def test_train_file_sharding_covers_every_file_once(data, source):
    train_files = np.array(data[1])
    layout = base.StepLayout.resolve(4, 2)  # one batch of 2 per pipeline and step
    seen = []
    for pid in range(2):
        ctx = tf.distribute.InputContext(2, pid, 2)
        files = sorted({f"train-{k:05d}-of-00003" for k in range(pid, 3, 2)})
        epoch = int(sum(np.isin(train_files, files)))
        _, y, w = _collect(source.train_dataset(ctx, layout, seed=1),
                           (epoch + 1) // 2)
        assert (w == 1).all()
        first_epoch = y[:epoch]
        assert sorted(first_epoch) == sorted(
            np.flatnonzero(np.isin(train_files, files)).tolist())
        seen += first_epoch.tolist()
    assert sorted(seen) == list(range(20))


@pytest.mark.parametrize("pipelines", [1, 2])
def test_full_batch_uses_every_example_once_per_step(source, pipelines):
    layout = base.StepLayout.resolve(20, 4, 3, allow_padding=True)  # 4x2x3=24
    per_step = 4 // pipelines * layout.micro_batches * layout.per_replica_batch
    steps = {0: [], 1: []}
    for pid in range(pipelines):
        ctx = tf.distribute.InputContext(pipelines, pid, 4)
        _, y, w = _collect(source.train_dataset(ctx, layout, seed=2),
                           2 * per_step // layout.per_replica_batch)
        start, end = base.pipeline_share(20, pipelines, pid)
        for step in (0, 1):
            rows = slice(step * per_step, (step + 1) * per_step)
            # this pipeline's share first, then its padding (step_index_batches)
            assert w[rows].tolist() == ([1.0] * (end - start)
                                        + [0.0] * (per_step - end + start))
            steps[step] += y[rows][w[rows] == 1].tolist()
    for step in (0, 1):
        assert sorted(steps[step]) == list(range(20))


def test_resume_reproduces_the_uninterrupted_stream(source):
    ctx = tf.distribute.InputContext(1, 0, 1)
    layout = base.StepLayout.resolve(4, 1)
    x, y, _ = _collect(source.train_dataset(ctx, layout, seed=3), 10)
    # step 6 starts 24 examples in: the second epoch's 5th record
    x6, y6, _ = _collect(source.train_dataset(ctx, layout, seed=3,
                                              start_step=6), 4)
    np.testing.assert_array_equal(y6, y[24:])
    np.testing.assert_array_equal(x6, x[24:])
    assert sorted(y[:20]) == list(range(20))  # epochs are permutations
    other, _, _ = _collect(source.train_dataset(ctx, layout, seed=4), 10)
    assert not np.array_equal(other, x)


def test_cached_records_full_batch_steps(data):
    source = imagenet.load(data[0], image_size=16, cache_records=True,
                           shuffle_buffer=8)
    ctx = tf.distribute.InputContext(1, 0, 1)
    layout = base.StepLayout.resolve(20, 1)
    _, y, w = _collect(source.train_dataset(ctx, layout, seed=0), 3)
    orders = y.reshape(3, 20)
    assert (w == 1).all() and all(sorted(o) == list(range(20)) for o in orders)
    assert len({tuple(o) for o in orders}) > 1  # reshuffled every epoch


def test_missing_and_incomplete_files(tmp_path, data):
    with pytest.raises(DataNotFoundError, match=r"--data_dir=.*train-%05d"):
        imagenet.load(str(tmp_path))
    with pytest.raises(DataNotFoundError, match="--data_dir=None"):
        imagenet.load(None)
    only_train = tmp_path / "only_train"
    only_train.mkdir()
    (only_train / "train-00000-of-00001").write_bytes(b"")
    with pytest.raises(DataNotFoundError, match="no validation-%05d"):
        imagenet.load(str(only_train))
    (only_train / "validation-00001-of-00003").write_bytes(b"")
    with pytest.raises(imagenet.ImageNetFormatError,
                       match="2 of 3 validation shards missing"):
        imagenet.load(str(only_train))
    with pytest.raises(ConfigError, match="--validation_examples"):
        imagenet.load(data[0], validation_examples=5)


def test_complete_canonical_sets_use_the_published_counts(tmp_path):
    for prefix, (shards, _) in imagenet.CANONICAL.items():
        for k in range(shards):
            (tmp_path / f"{prefix}-{k:05d}-of-{shards:05d}").write_bytes(b"")
    source = imagenet.load(str(tmp_path))
    assert source.info.num_train == 1281167
    assert source.eval_splits == {"test": 50000}
    assert source.info.image_shape == (224, 224, 3)
    assert not (tmp_path / imagenet.COUNTS_FILE).exists()  # nothing counted


def test_prepared_tfds_imagenet2012_is_read_when_no_tfrecords(tmp_path):
    def examples(n, first_label):
        return [{"image": smooth_image(48 + 4 * i, 40, seed=i),
                 "label": first_label + i, "file_name": f"x{i}.JPEG"}
                for i in range(n)]

    write_prepared_tfds("imagenet2012", str(tmp_path),
                        {"train": examples(5, 0), "validation": examples(3, 997)})
    source = imagenet.load(str(tmp_path), image_size=16, label_offset=1)
    assert source.info.num_train == 5 and source.eval_splits == {"test": 3}
    ctx = tf.distribute.InputContext(1, 0, 1)
    _, y, w = _collect(source.eval_dataset(ctx, base.StepLayout.resolve(2, 1)))
    assert sorted(y[w == 1]) == [997, 998, 999]  # tfds labels are 0-based
    _, y, _ = _collect(source.train_dataset(ctx, base.StepLayout.resolve(5, 1), 0), 1)
    assert sorted(y) == [0, 1, 2, 3, 4]


def _copy_of(folder, tmp_path):
    import shutil
    copy = tmp_path / "copy"
    shutil.copytree(folder, copy)
    return str(copy)


def _files_removed_after_one_step(folder, cache_records, monkeypatch):
    """Reads one full-batch step, deletes the shards, reads the next step."""
    source = imagenet.load(folder, image_size=16, cache_records=cache_records,
                           shuffle_buffer=8)
    monkeypatch.setattr(imagenet.Split, "total_bytes", lambda self: 10**6)
    ctx = tf.distribute.InputContext(1, 0, 1)
    iterator = iter(source.train_dataset(ctx, base.StepLayout.resolve(20, 1), seed=0))
    first = [next(iterator)[1].numpy() for _ in range(1)]
    for name in os.listdir(folder):
        if name.startswith("train-"):
            os.remove(os.path.join(folder, name))
    second = [next(iterator)[1].numpy() for _ in range(1)]
    return sorted(np.concatenate(first)), sorted(np.concatenate(second))


def test_full_batch_caches_by_default_when_the_host_can_hold_it(
        data, tmp_path, monkeypatch):
    """Unset --cache_records: full batch keeps its records after step 1 (the
    files can go); 1 MB of shards fits in half of any host's memory."""
    folder = _copy_of(data[0], tmp_path)
    first, second = _files_removed_after_one_step(folder, None, monkeypatch)
    assert first == second == list(range(20))


def test_without_the_cache_every_step_rereads_the_files(data, tmp_path, monkeypatch):
    folder = _copy_of(data[0], tmp_path)
    with pytest.raises(tf.errors.NotFoundError):
        _files_removed_after_one_step(folder, False, monkeypatch)


def test_host_can_hold_is_the_share_of_the_file_bytes(data):
    paths = imagenet.find_shards(data[0], "train")
    split = imagenet.Split(paths)
    size = sum(os.path.getsize(p) for p in paths)  # independent of gfile
    assert split.total_bytes() == size
    assert imagenet.host_can_hold(split, 10, available=lambda: size)  # half of it
    assert not imagenet.host_can_hold(split, 11, available=lambda: size)
    assert imagenet.host_can_hold(split, 20, available=lambda: 2 * size)


def test_images_take_the_compute_dtype_of_the_policy(data):
    """bfloat16 under mixed_bfloat16 (the TPU default): half the bytes of
    float32 cross to the accelerator; padding rows too."""
    import keras
    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    try:
        source = imagenet.load(data[0], image_size=16)
        ctx = tf.distribute.InputContext(1, 0, 1)
        layout = base.StepLayout.resolve(20, 1, 8, allow_padding=True)  # 24 rows
        x, _, w = next(iter(source.train_dataset(ctx, layout, seed=0)))
        ex, _, _ = next(iter(source.eval_dataset(ctx, layout)))
        assert x.dtype == ex.dtype == tf.bfloat16
    finally:
        keras.mixed_precision.set_global_policy(previous)
    assert imagenet.load(data[0], image_size=16)._dtype == tf.float32


def test_read_only_folder_counts_once_per_host(data, tmp_path, monkeypatch):
    """Counts that cannot be written next to the data go to this host's cache
    folder; the next start reads them there instead of counting again."""
    from limitbatch_tf.data import imagenet_files
    folder = _copy_of(data[0], tmp_path)
    os.remove(os.path.join(folder, imagenet.COUNTS_FILE))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    real_write = imagenet_files._write_json
    monkeypatch.setattr(imagenet_files, "_write_json", lambda path, value: (
        False if path.startswith(folder) else real_write(path, value)))
    paths = imagenet.find_shards(folder, "train")
    assert imagenet.cached_counts(paths) == list(TRAIN_SIZES)
    assert not os.path.exists(os.path.join(folder, imagenet.COUNTS_FILE))
    assert os.path.exists(imagenet_files.local_counts_path(folder))
    monkeypatch.setattr(imagenet_files, "_COUNTED", {})
    monkeypatch.setattr(imagenet_files, "count_records",
                        lambda paths: pytest.fail("counted again"))
    assert imagenet.cached_counts(paths) == list(TRAIN_SIZES)


def _framed(payloads):
    """TFRecord framing written by TensorFlow around ``payloads``."""
    import tempfile
    with tempfile.NamedTemporaryFile(delete=False) as f:
        path = f.name
    with tf.io.TFRecordWriter(path) as writer:
        for p in payloads:
            writer.write(p)
    with open(path, "rb") as f:
        raw = f.read()
    os.remove(path)
    return raw


_GOOD = _framed([b"first record", b"second", b"x" * 40])


@settings(max_examples=40, deadline=None)
@given(st.one_of(
    st.binary(max_size=120),
    # valid framing with a few bytes changed or cut off
    st.tuples(st.integers(0, len(_GOOD) - 1), st.binary(min_size=1,
                                                        max_size=4)).map(
        lambda c: _GOOD[:c[0]] + c[1] + _GOOD[c[0] + len(c[1]):]),
    st.integers(0, len(_GOOD)).map(lambda n: _GOOD[:n])))
def test_fuzz_count_records_gives_counts_or_a_record_error(tmp_path_factory,
                                                           data):
    """The TFRecord reader: a count that TensorFlow's reader agrees with, or
    one RecordFormatError naming the file."""
    folder = tmp_path_factory.mktemp("fuzz")
    good, bad = str(folder / "train-00000-of-00002"), str(
        folder / "train-00001-of-00002")
    with open(good, "wb") as f:
        f.write(_GOOD)
    with open(bad, "wb") as f:
        f.write(data)
    try:
        counts = imagenet_files.count_records([good, bad])
    except errors.RecordFormatError as e:
        assert str(e).startswith(bad + ": not a readable TFRecord file (")
        assert "\n" not in str(e)
        with pytest.raises(tf.errors.DataLossError):
            list(tf.data.TFRecordDataset(bad))
        return
    assert counts == [3, len(list(tf.data.TFRecordDataset(bad)))]


def test_corrupt_jpeg_in_a_valid_record_is_bad_input_naming_data_dir(
        tmp_path, data):
    """CRC-valid records whose image does not decode: found by tf.data only
    while reading, mapped by limitbatch_tf.errors to one line."""
    folder = tmp_path / "bad"
    folder.mkdir()
    for name in os.listdir(data[0]):
        if name.startswith(("train", "validation")):
            (folder / name).write_bytes(open(os.path.join(data[0], name),
                                             "rb").read())
    with tf.io.TFRecordWriter(str(folder / "train-00001-of-00003")) as w:
        for j in range(7):
            w.write(imagenet.encode_example(b"\xff\xd8 not a jpeg", j + 1,
                                            40, 40))
    source = imagenet.load(str(folder), image_size=16, shuffle_buffer=0)
    ctx = tf.distribute.InputContext(1, 0, 1)
    with pytest.raises(tf.errors.OpError) as info:
        _collect(source.train_dataset(ctx, base.StepLayout.resolve(20, 1), 0,
                                      shuffle=False), 1)
    mapped = errors.as_input_error(info.value, "imagenet", str(folder))
    assert isinstance(mapped, errors.RecordFormatError)
    assert str(mapped).startswith(f"--data_dir={folder}: a corrupt or "
                                  f"undecodable record")
    assert "JPEG" in str(mapped)
