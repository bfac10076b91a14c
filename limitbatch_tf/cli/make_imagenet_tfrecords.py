"""Converts an ImageNet-style folder of images into TFRecords (TPU layout).

  limitbatch-make-imagenet-tfrecords --input_dir=IN --output_dir=OUT
      [--train_shards=1024] [--validation_shards=128]
      [--validation_labels=FILE] [--seed=12345] [--num_threads=4]

IN/train/<synset>/*.JPEG are the training images; the classes are the
synset folder names in sorted order, labels 1..K as in the TPU layout
(tensorflow/tpu tools/datasets/imagenet_to_gcs.py). Validation images are
either IN/validation/<synset>/* or flat IN/validation/* named by
--validation_labels: one "synset" per line for the files in sorted order
(ILSVRC2012_validation_ground_truth style), or "filename synset" lines.

Writes OUT/train-%05d-of-NNNNN and OUT/validation-%05d-of-MMMMM with the keys
image/encoded, image/format, image/class/label, image/class/synset,
image/height, image/width, image/filename and empty image/object/bbox/*
lists (the training crop then samples from the whole image). JPEGs are
stored as they are; PNG, GIF, BMP and CMYK JPEGs are re-encoded as RGB
JPEG (quality 95). Training images are shuffled across shards (--seed);
validation keeps sorted order. Bad input exits 2 with one line.
"""
import argparse
import concurrent.futures
import os
import random
import sys

import limitbatch_tf  # noqa: F401  (sets TF env vars before TF loads)

import tensorflow as tf

from limitbatch_tf.data.imagenet import encode_example

IMAGE_EXTENSIONS = (".jpeg", ".jpg", ".png", ".gif", ".bmp")
JPEG_QUALITY = 95


class InputError(Exception):
    """Bad input folder, labels file or image; the message is one line."""


def _images(folder):
    return sorted(name for name in os.listdir(folder)
                  if name.lower().endswith(IMAGE_EXTENSIONS)
                  and not name.startswith("."))


def list_train(input_dir):
    """(synsets in label order, [(path, synset)])."""
    folder = os.path.join(input_dir, "train")
    if not os.path.isdir(folder):
        raise InputError(f"{folder}: no such folder (expected "
                         f"train/<synset>/*.JPEG)")
    synsets = sorted(d for d in os.listdir(folder)
                     if os.path.isdir(os.path.join(folder, d)))
    if not synsets:
        raise InputError(f"{folder}: no class subfolders")
    items = [(os.path.join(folder, s, name), s) for s in synsets
             for name in _images(os.path.join(folder, s))]
    if not items:
        raise InputError(f"{folder}: no images ({', '.join(IMAGE_EXTENSIONS)})")
    return synsets, items


def _read_labels(path, names):
    try:
        with open(path) as f:
            lines = [line.split() for line in f if line.strip()]
    except OSError as e:
        raise InputError(f"--validation_labels={path}: {e.strerror}") from None
    if lines and all(len(line) == 2 for line in lines):
        by_name = dict(lines)
        missing = [n for n in names if n not in by_name]
        if missing:
            raise InputError(f"--validation_labels={path}: no label for "
                             f"{missing[0]} ({len(missing)} files unlabelled)")
        return [by_name[n] for n in names]
    if not all(len(line) == 1 for line in lines) or len(lines) != len(names):
        raise InputError(
            f"--validation_labels={path}: expected one synset per line for "
            f"the {len(names)} sorted validation files, or 'filename synset' "
            f"lines; got {len(lines)} lines")
    return [line[0] for line in lines]


def list_validation(input_dir, labels_file, synsets):
    """[(path, synset)] of the validation images, sorted."""
    folder = os.path.join(input_dir, "validation")
    if not os.path.isdir(folder):
        raise InputError(f"{folder}: no such folder")
    subfolders = sorted(d for d in os.listdir(folder)
                        if os.path.isdir(os.path.join(folder, d)))
    if subfolders:
        items = [(os.path.join(folder, s, name), s) for s in subfolders
                 for name in _images(os.path.join(folder, s))]
    else:
        names = _images(folder)
        if labels_file is None:
            raise InputError(f"{folder}: images without class subfolders "
                             f"need --validation_labels")
        items = [(os.path.join(folder, n), s)
                 for n, s in zip(names, _read_labels(labels_file, names))]
    known = set(synsets)
    for path, synset in items:
        if synset not in known:
            raise InputError(f"{path}: class {synset} is not among the "
                             f"{len(synsets)} train/ classes")
    if not items:
        raise InputError(f"{folder}: no images")
    return items


def to_jpeg(path):
    """(JPEG bytes, height, width) of an image file; re-encodes non-RGB/non-JPEG."""
    with open(path, "rb") as f:
        data = f.read()
    try:
        if data[:2] == b"\xff\xd8":
            height, width, channels = tf.image.extract_jpeg_shape(data).numpy()
            if channels in (1, 3):
                return data, int(height), int(width)
        image = tf.io.decode_image(data, channels=3, expand_animations=False)
    except tf.errors.InvalidArgumentError as e:
        message = e.message.splitlines()[0] if e.message else "undecodable"
        raise InputError(f"{path}: not a readable image ({message})") from None
    jpeg = tf.io.encode_jpeg(image, quality=JPEG_QUALITY).numpy()
    return jpeg, int(image.shape[0]), int(image.shape[1])


def write_shard(path, items, labels):
    tmp = path + ".tmp"
    with tf.io.TFRecordWriter(tmp) as writer:
        for source, synset in items:
            jpeg, height, width = to_jpeg(source)
            writer.write(encode_example(
                jpeg, labels[synset], height, width, synset=synset,
                filename=os.path.basename(source)))
    os.replace(tmp, path)


def write_split(output_dir, prefix, items, shards, labels, threads):
    if shards > len(items):
        raise InputError(f"--{prefix}_shards={shards} exceeds the {len(items)} "
                         f"{prefix} images")
    jobs = []
    with concurrent.futures.ThreadPoolExecutor(threads) as pool:
        for k in range(shards):
            part = items[k * len(items) // shards:(k + 1) * len(items) // shards]
            path = os.path.join(output_dir, f"{prefix}-{k:05d}-of-{shards:05d}")
            jobs.append(pool.submit(write_shard, path, part, labels))
        for job in jobs:
            job.result()  # re-raises the first InputError


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--input_dir", required=True)
    parser.add_argument("--output_dir", required=True)
    parser.add_argument("--train_shards", type=int, default=1024)
    parser.add_argument("--validation_shards", type=int, default=128)
    parser.add_argument("--validation_labels", default=None)
    parser.add_argument("--seed", type=int, default=12345,
                        help="order of the training images across shards")
    parser.add_argument("--num_threads", type=int, default=4)
    args = parser.parse_args(argv)
    try:
        for flag in ("train_shards", "validation_shards", "num_threads"):
            if getattr(args, flag) < 1:
                raise InputError(f"--{flag} must be >= 1")
        synsets, train = list_train(args.input_dir)
        validation = list_validation(args.input_dir, args.validation_labels,
                                     synsets)
        random.Random(args.seed).shuffle(train)
        labels = {s: k + 1 for k, s in enumerate(synsets)}
        os.makedirs(args.output_dir, exist_ok=True)
        write_split(args.output_dir, "train", train, args.train_shards,
                    labels, args.num_threads)
        write_split(args.output_dir, "validation", validation,
                    args.validation_shards, labels, args.num_threads)
    except (InputError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"wrote {len(train)} train images in {args.train_shards} shards and "
          f"{len(validation)} validation images in {args.validation_shards} "
          f"shards ({len(synsets)} classes, labels 1..{len(synsets)}) to "
          f"{args.output_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
