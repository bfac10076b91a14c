"""tools/make_imagenet_tfrecords.py: image folders -> TFRecords -> read back."""
import importlib.util
import io
import pathlib

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from limitbatch_tf.data import base, imagenet
from fake_records import smooth_image

ROOT = pathlib.Path(__file__).resolve().parents[2]
SYNSETS = ("n02", "n01", "n03")  # sorted: n01 -> 1, n02 -> 2, n03 -> 3


@pytest.fixture(scope="module")
def tool():
    spec = importlib.util.spec_from_file_location(
        "make_imagenet_tfrecords", ROOT / "tools" / "make_imagenet_tfrecords.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _save(path, image, fmt):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(image).save(path, format=fmt)


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """3 classes x 3 train images (PNG, JPEG, CMYK JPEG), flat validation."""
    root = tmp_path_factory.mktemp("folder")
    images = {}
    for c, synset in enumerate(SYNSETS):
        for i, fmt in enumerate(("PNG", "JPEG", "JPEG")):
            image = smooth_image(30 + 10 * c, 50 + 5 * i, seed=10 * c + i)
            name = f"{synset}_{i}.{'png' if fmt == 'PNG' else 'JPEG'}"
            path = root / "train" / synset / name
            if i == 2:  # CMYK JPEG: must be re-encoded as RGB
                path.parent.mkdir(parents=True, exist_ok=True)
                Image.fromarray(image).convert("CMYK").save(path, format="JPEG")
            else:
                _save(path, image, fmt)
            images[name] = image
    val_synsets = ("n03", "n01", "n02", "n01")
    for i, synset in enumerate(val_synsets):
        image = smooth_image(40, 36, seed=100 + i)
        _save(root / "validation" / f"val_{i}.JPEG", image, "JPEG")
        images[f"val_{i}.JPEG"] = image
    (root / "labels.txt").write_text("\n".join(val_synsets) + "\n")
    return root, images


def _read(path):
    examples = []
    for record in tf.data.TFRecordDataset(str(path)):
        example = tf.train.Example.FromString(record.numpy())
        examples.append({k: (list(v.bytes_list.value) or list(v.int64_list.value)
                             or list(v.float_list.value))
                         for k, v in example.features.feature.items()})
    return examples


def test_round_trip(tool, folder, tmp_path, capsys):
    root, images = folder
    out = tmp_path / "records"
    assert tool.main([f"--input_dir={root}", f"--output_dir={out}",
                      "--train_shards=2", "--validation_shards=3",
                      f"--validation_labels={root / 'labels.txt'}"]) == 0
    assert "9 train images in 2 shards" in capsys.readouterr().out
    assert sorted(p.name for p in out.iterdir()) == [
        "train-00000-of-00002", "train-00001-of-00002",
        "validation-00000-of-00003", "validation-00001-of-00003",
        "validation-00002-of-00003"]
    train = _read(out / "train-00000-of-00002") + _read(out / "train-00001-of-00002")
    validation = [e for k in range(3) for e in _read(out / f"validation-{k:05d}-of-00003")]
    assert len(train) == 9 and len(validation) == 4
    for example in train + validation:
        name = example["image/filename"][0].decode()
        synset = example["image/class/synset"][0].decode()
        label = example["image/class/label"][0]
        assert label == sorted(SYNSETS).index(synset) + 1
        if name.startswith("val_"):
            assert synset == ("n03", "n01", "n02", "n01")[int(name[4])]
        else:
            assert name.startswith(synset)
        assert example["image/format"] == [b"JPEG"]
        assert example.get("image/object/bbox/xmin", []) == []
        decoded = np.asarray(Image.open(io.BytesIO(example["image/encoded"][0])))
        original = images[name]
        assert decoded.shape == original.shape  # RGB, also from PNG and CMYK
        assert [example["image/height"][0], example["image/width"][0]] == list(
            original.shape[:2])
        assert np.abs(decoded.astype(float) - original).mean() < 3.0
        if name == f"{synset}_1.JPEG":  # RGB JPEGs are stored byte for byte
            source = root / "train" / synset / name
            assert example["image/encoded"][0] == source.read_bytes()
    # training images are shuffled across shards, validation keeps its order
    assert [e["image/filename"][0] for e in validation] == [
        f"val_{i}.JPEG".encode() for i in range(4)]

    source = imagenet.load(str(out), image_size=16)
    assert source.info.num_train == 9 and source.eval_splits == {"test": 4}
    ctx = tf.distribute.InputContext(1, 0, 1)
    labels = np.concatenate([y.numpy() for _, y, _ in source.eval_dataset(
        ctx, base.StepLayout.resolve(4, 1))])
    assert sorted(labels) == [0, 0, 1, 2]


def test_class_subfolders_for_validation(tool, folder, tmp_path):
    root, _ = folder
    tree = tmp_path / "tree"
    for synset in SYNSETS:
        _save(tree / "train" / synset / "a.JPEG", smooth_image(20, 20, 1), "JPEG")
    _save(tree / "validation" / "n03" / "v.png", smooth_image(20, 20, 2), "PNG")
    assert tool.main([f"--input_dir={tree}", f"--output_dir={tmp_path / 'o'}",
                      "--train_shards=1", "--validation_shards=1"]) == 0
    (example,) = _read(tmp_path / "o" / "validation-00000-of-00001")
    assert example["image/class/label"] == [3]


@pytest.mark.parametrize("args, message", [
    (["--input_dir={tmp}/nowhere"], "nowhere/train: no such folder"),
    (["--train_shards=10", "--validation_labels={labels}"],
     "--train_shards=10 exceeds the 9 train images"),
    (["--train_shards=0"], "--train_shards must be >= 1"),
    ([], "images without class subfolders need --validation_labels"),
    (["--validation_labels={tmp}/bad.txt"], "expected one synset per line"),
    (["--validation_labels={tmp}/unknown.txt"], "class n09 is not among the 3"),
])
def test_bad_input_exits_2_with_one_line(tool, folder, tmp_path, capsys, args,
                                         message):
    root, _ = folder
    (tmp_path / "bad.txt").write_text("n01\nn02\n")
    (tmp_path / "unknown.txt").write_text("n01\nn09\nn02\nn03\n")
    args = [a.format(tmp=tmp_path, labels=root / "labels.txt") for a in args]
    argv = [f"--input_dir={root}", f"--output_dir={tmp_path / 'out'}"] + args
    assert tool.main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_corrupt_image_exits_2(tool, tmp_path, capsys):
    _save(tmp_path / "in" / "train" / "n01" / "ok.JPEG", smooth_image(9, 9, 0), "JPEG")
    (tmp_path / "in" / "train" / "n01" / "broken.png").write_bytes(b"not an image")
    _save(tmp_path / "in" / "validation" / "n01" / "v.JPEG", smooth_image(9, 9, 1), "JPEG")
    assert tool.main([f"--input_dir={tmp_path / 'in'}",
                      f"--output_dir={tmp_path / 'out'}", "--train_shards=1",
                      "--validation_shards=1"]) == 2
    assert "broken.png: not a readable image" in capsys.readouterr().err
