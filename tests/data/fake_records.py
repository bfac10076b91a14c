"""Small image datasets that tests write themselves: JPEG TFRecords, tfds.

Images are smooth colour gradients plus a per-image offset, so JPEG keeps
them within a few grey levels and a crop one pixel off is visibly wrong.
"""
import os

import numpy as np
import tensorflow as tf

from limitbatch_tf.data.imagenet import encode_example


def smooth_image(height, width, seed):
    """uint8 [height, width, 3]: gradients of ~3 levels per pixel, per channel."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    slopes = rng.uniform(1.5, 3.0, (3, 2)) * rng.choice([-1, 1], (3, 2))
    offsets = rng.uniform(60, 190, 3)
    image = np.stack([offsets[c] + slopes[c, 0] * (y - height / 2)
                      + slopes[c, 1] * (x - width / 2) for c in range(3)], -1)
    return np.clip(image, 0, 255).astype(np.uint8)


def jpeg(image, quality=95):
    return tf.io.encode_jpeg(image, quality=quality).numpy()


def write_shards(folder, prefix, examples, sizes):
    """Writes ``prefix-%05d-of-%05d`` shards of ``sizes[k]`` examples each.

    ``examples`` are (image uint8, label, boxes) triples in order; returns
    the file name of each example.
    """
    assert sum(sizes) == len(examples)
    os.makedirs(folder, exist_ok=True)
    names, start = [], 0
    for k, size in enumerate(sizes):
        name = f"{prefix}-{k:05d}-of-{len(sizes):05d}"
        with tf.io.TFRecordWriter(os.path.join(folder, name)) as writer:
            for image, label, boxes in examples[start:start + size]:
                writer.write(encode_example(
                    jpeg(image), label, image.shape[0], image.shape[1],
                    filename=f"{prefix}_{label}.JPEG", boxes=boxes))
                names.append(name)
        start += size
    return names


def write_prepared_tfds(name, data_dir, splits):
    """A tfds dataset ``name`` that tfds.builder(name, data_dir) sees prepared.

    Args:
      splits: split name -> list of feature dicts (as the builder's
        FeaturesDict takes them), one shard per split.
    """
    import tensorflow_datasets as tfds
    builder = tfds.builder(name, data_dir=data_dir)
    os.makedirs(builder.data_dir, exist_ok=True)
    template = "{DATASET}-{SPLIT}.{FILEFORMAT}-{SHARD_X_OF_Y}"
    infos = []
    for split, examples in splits.items():
        file_template = tfds.core.ShardedFileTemplate(
            data_dir=builder.data_dir, template=template, dataset_name=name,
            split=split, filetype_suffix="tfrecord")
        with tf.io.TFRecordWriter(os.fspath(file_template.sharded_filepath(
                shard_index=0, num_shards=1))) as writer:
            for example in examples:
                writer.write(builder.info.features.serialize_example(example))
        infos.append(tfds.core.SplitInfo(
            name=split, shard_lengths=[len(examples)], num_bytes=0,
            filename_template=file_template))
    builder.info.set_splits(tfds.core.SplitDict(infos))
    builder.info.write_to_directory(builder.data_dir)
    assert tfds.builder(name, data_dir=data_dir).is_prepared()
