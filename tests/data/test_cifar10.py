"""CIFAR-10 pickle reader against generated pickles; augmentation."""
import os
import pickle

import numpy as np
import pytest
import tensorflow as tf
from hypothesis import given, settings, strategies as st

from limitbatch_tf.data import base, cifar10, synthetic
from limitbatch_tf.data.augment import pad_crop_flip
from fake_records import write_prepared_tfds


def _write(folder, name, n, seed):
    rng = np.random.default_rng(seed)
    data = rng.integers(0, 256, (n, 3072), dtype=np.uint8)
    labels = rng.integers(0, 10, n).tolist()
    with open(os.path.join(folder, name), "wb") as f:
        pickle.dump({b"data": data, b"labels": labels}, f)
    return data, labels


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    root = tmp_path_factory.mktemp("cifar")
    folder = root / "cifar-10-batches-py"
    folder.mkdir()
    raw = [_write(str(folder), f"data_batch_{i}", 6, i) for i in range(1, 6)]
    raw.append(_write(str(folder), "test_batch", 5, 9))
    return root, raw


def test_reader_transposes_chw_to_hwc(folder):
    root, raw = folder
    images, labels = cifar10.read_batch(str(root / "cifar-10-batches-py" / "test_batch"))
    data, want_labels = raw[-1]
    assert images.shape == (5, 32, 32, 3)
    # pixel (row 3, col 7) of example 2: red at 3*32+7, green +1024, blue +2048
    np.testing.assert_array_equal(images[2, 3, 7], data[2, [103, 1127, 2151]])
    assert labels.tolist() == want_labels


def test_load_from_parent_folder_with_validation(folder):
    root, raw = folder
    source = cifar10.load(str(root), validation_examples=4)
    assert source.info.num_train == 26 and source.eval_splits == {
        "test": 5, "validation": 4}


def test_missing_and_corrupt(tmp_path):
    with pytest.raises(FileNotFoundError, match="or a prepared tfds 'cifar10'"):
        cifar10.load(str(tmp_path))
    (tmp_path / "test_batch").write_bytes(b"not a pickle")
    with pytest.raises(cifar10.CifarFormatError, match="not a CIFAR-10 pickle"):
        cifar10.read_batch(str(tmp_path / "test_batch"))


def test_pickle_naming_any_other_callable_is_refused_unrun(tmp_path):
    class Payload:
        def __reduce__(self):
            return (os.mkdir, (str(tmp_path / "ran"),))
    path = tmp_path / "test_batch"
    path.write_bytes(pickle.dumps({b"data": Payload(), b"labels": [1]}))
    with pytest.raises(cifar10.CifarFormatError, match="refers to posix.mkdir"):
        cifar10.read_batch(str(path))
    assert not (tmp_path / "ran").exists()


@pytest.mark.parametrize("batch, message", [
    ({b"data": np.zeros((2, 3072), np.float32), b"labels": [1, 2]}, "uint8"),
    ({b"data": np.zeros((2, 3072), np.uint8), b"labels": [1, 12]}, "0..9"),
    ({b"data": np.zeros((2, 3071), np.uint8), b"labels": [1, 2]}, "3072"),
    ({b"data": np.zeros((2, 3072), np.uint8)}, "b'labels'"),
])
def test_wrong_contents_are_refused(tmp_path, batch, message):
    path = tmp_path / "data_batch_1"
    path.write_bytes(pickle.dumps(batch))
    with pytest.raises(cifar10.CifarFormatError, match=message):
        cifar10.read_batch(str(path))


@pytest.mark.parametrize("raw, error", [
    (b"0", "UnpicklingError"), (b"\x80\x02h\x05.", "UnpicklingError"),
    (b"\x80\x02X\x04\x00\x00\x00\xff\xfe\xfd\xfc.", "UnicodeDecodeError"),
    (b"\x80\x02\x8b\xff\xff\xff\x7f", "UnpicklingError"),
    (b"I9999x\n.", "ValueError"),
    # BYTEARRAY8 declaring 2**63 - 1 bytes
    (b"\x80\x05\x96\xff\xff\xff\xff\xff\xff\xff\x7f", "MemoryError"),
    (b"\x80\x02cbuiltins\nint\n.", "UnpicklingError"),
])
def test_each_way_a_pickle_breaks_is_a_format_error(tmp_path, raw, error):
    path = tmp_path / "data_batch_1"
    path.write_bytes(raw)
    with pytest.raises(cifar10.CifarFormatError, match=f"\\({error}: "):
        cifar10.read_batch(str(path))


_VALID = pickle.dumps({b"data": np.arange(2 * 3072).astype(np.uint8).reshape(
    2, 3072), b"labels": [3, 7]}, protocol=2)


@settings(max_examples=200, deadline=None)
@given(st.one_of(
    st.binary(max_size=200),
    # a valid batch with a few bytes changed or cut: reaches deeper opcodes
    st.tuples(st.integers(0, len(_VALID) - 1), st.binary(min_size=1,
                                                         max_size=8)).map(
        lambda cut: _VALID[:cut[0]] + cut[1] + _VALID[cut[0] + len(cut[1]):]),
    st.integers(0, len(_VALID)).map(lambda n: _VALID[:n])))
def test_fuzz_read_batch_gives_arrays_or_a_format_error(tmp_path_factory, data):
    path = str(tmp_path_factory.mktemp("fuzz") / "data_batch_1")
    with open(path, "wb") as f:
        f.write(data)
    try:
        images, labels = cifar10.read_batch(path)
    except cifar10.CifarFormatError as e:
        assert str(e).startswith(path + ": ") and "\n" not in str(e)
        return
    assert images.dtype == np.uint8 and images.shape[1:] == (32, 32, 3)
    assert labels.dtype == np.int32 and len(labels) == len(images)
    assert labels.min(initial=0) >= 0 and labels.max(initial=0) < 10


def test_prepared_tfds_cifar10_is_read_when_no_pickles(tmp_path):
    rng = np.random.default_rng(3)
    splits = {split: [{"id": f"{split}_{i}", "label": int(rng.integers(10)),
                       "image": rng.integers(0, 256, (32, 32, 3), np.uint8)}
                      for i in range(n)] for split, n in (("train", 6), ("test", 4))}
    write_prepared_tfds("cifar10", str(tmp_path), splits)
    source = cifar10.load(str(tmp_path), validation_examples=2)
    assert source.info.num_train == 4
    assert source.eval_splits == {"test": 4, "validation": 2}
    # tfds keeps its own order: compare the examples as a set of (label, image)
    want = {(e["label"], e["image"].tobytes()) for e in splits["test"]}
    images, labels = source._evals["test"]
    assert images.dtype == tf.uint8 and images.shape == (4, 32, 32, 3)
    assert {(int(y), x.tobytes()) for x, y in zip(images.numpy(),
                                                  labels.numpy())} == want


def test_pad_crop_flip_keeps_pixels_and_is_seeded():
    x = tf.reshape(tf.range(2 * 8 * 8, dtype=tf.float32) + 1, [2, 8, 8, 1])
    a = pad_crop_flip(x, tf.constant([1, 2], tf.int64), pad=2)
    b = pad_crop_flip(x, tf.constant([1, 2], tf.int64), pad=2)
    np.testing.assert_array_equal(a, b)
    for i in range(2):
        values = set(a[i].numpy().ravel()) - {0.0}
        assert values <= set(x[i].numpy().ravel())   # only own pixels or padding
        assert len(values) >= 6 * 6                  # at most 2 rows/cols lost


def test_synthetic_shapes():
    source = synthetic.SyntheticSource("synthetic_imagenet", image_size=16)
    layout = base.StepLayout.resolve(8, 2)
    ctx = tf.distribute.InputContext(1, 0, 2)
    x, y, w = next(iter(source.train_dataset(ctx, layout, seed=0)))
    assert x.shape == (4, 16, 16, 3) and y.dtype == tf.int32
    assert source.info.num_train == 1281167 and source.info.num_classes == 1000
    assert len(list(source.eval_dataset(ctx, layout))) == base.eval_steps(256, layout) * 2
