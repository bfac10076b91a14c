"""ImageNet streamed from JPEG TFRecords (MLPerf / TPU layout) or tfds.

Files, in --data_dir: ``train-%05d-of-NNNNN`` and ``validation-%05d-of-MMMMM``
(1024 and 128 shards for the real set), each record a ``tf.train.Example``
with ``image/encoded`` (JPEG bytes), ``image/class/label`` (1..1000; minus
``label_offset`` gives 0..999) and optional object boxes
``image/object/bbox/{xmin,ymin,xmax,ymax}``. tools/make_imagenet_tfrecords.py
writes this layout from a folder of images. Without such files a tfds
``imagenet2012`` prepared in --data_dir is read instead (its shards are
TFRecords too, keys ``image`` and ``label`` 0..999).

Counts: the canonical 1,281,167 / 50,000 when the complete 1024 / 128 shard
sets are present; otherwise records are counted once and the per-file counts
kept in ``limitbatch_tf_counts.json`` next to the data (in this host's
``~/.cache/limitbatch_tf/counts`` when that folder is read-only). Files are
accessed through tf.io.gfile, so --data_dir may be a gs:// bucket.

Sharding over input pipelines (``tf.distribute.InputContext``):

- Training: pipeline p reads files p, p+P, p+2P, ... (as the TPU reference),
  interleaved in parallel (file order reshuffled every epoch), records
  permuted in blocks of ``shuffle_buffer``, one epoch after another.
  Each update step takes its share of the global batch
  (``base.pipeline_share``) and pads it with zero-weight rows to
  ``padded_batch / P``, so the per-replica batches come in the order
  ``base.step_index_batches`` defines.
- Exact full batch (global batch == training set) and evaluation: pipeline p
  owns the contiguous record range ``base.pipeline_share(N, P, p)`` of the
  sorted files (whole files, plus partial files at the range's edges), the
  same split the in-memory sources use, so every example is used exactly
  once per step (evaluation: once per pass) whatever the shard sizes. A
  training step is then exactly one epoch of the pipeline's range.
  The same ranges are used for training when there are fewer files than
  pipelines.

For huge batches (issue 15): full batch caches each host's raw records after
the first step when its share fits in half the host's memory (unset
``cache_records``), the block shuffle reads the next block while the current
one is decoded, and images leave the host in the compute dtype of the Keras
policy (bfloat16 on TPU).

Epoch e of pipeline p is shuffled with seeds derived from (seed, p, e) and
the i-th example's crop and flip from (seed, p, i), so a run resumed at step
s (``start_step``) reads and augments exactly what an uninterrupted run
would; it skips whole epochs without reading them and the rest of the
current epoch as raw records, before any decoding.
"""
from __future__ import annotations

import dataclasses
import os

import tensorflow as tf

from limitbatch_tf.config import ConfigError
from limitbatch_tf.data import base, image_ops
from limitbatch_tf.data.mnist import DataNotFoundError
from limitbatch_tf.data.imagenet_files import (  # noqa: F401  (re-exported)
    CANONICAL, COUNTS_FILE, ImageNetFormatError, Split, _canonical,
    cached_counts, count_records, find_shards, host_can_hold)

NUM_CLASSES = 1000
DEFAULT_IMAGE_SIZE = 224
# prefix -> (shards, examples) of the real ImageNet-2012 set.
BOX_KEYS = ("image/object/bbox/ymin", "image/object/bbox/xmin",
            "image/object/bbox/ymax", "image/object/bbox/xmax")
_CYCLE_LENGTH = 16  # files read concurrently per pipeline (TPU reference: 64)
_READ_BUFFER = 8 << 20  # bytes of read-ahead per open file


@dataclasses.dataclass(frozen=True)
class RecordFormat:
    """Feature keys of one record layout."""

    image_key: str = "image/encoded"
    label_key: str = "image/class/label"
    label_offset: int = 1
    has_boxes: bool = True


TFDS_FORMAT = RecordFormat("image", "label", 0, False)


def encode_example(jpeg: bytes, label: int, height: int, width: int,
                   synset: str = "", filename: str = "", boxes=()) -> bytes:
    """A serialized ``tf.train.Example`` in the TPU layout.

    Args:
      jpeg: the JPEG-encoded image.
      label: 1-based class index (the TPU layout's ``image/class/label``).
      height, width: pixel size of the image.
      synset: WordNet id of the class, e.g. "n01440764".
      filename: the source file's name.
      boxes: ``(ymin, xmin, ymax, xmax)`` object boxes in [0, 1]; none by
        default (then the training crop samples from the whole image).
    """
    def b(values):
        return tf.train.Feature(bytes_list=tf.train.BytesList(value=values))

    def i(values):
        return tf.train.Feature(int64_list=tf.train.Int64List(value=values))

    def f(values):
        return tf.train.Feature(float_list=tf.train.FloatList(value=values))

    feature = {
        "image/encoded": b([jpeg]), "image/format": b([b"JPEG"]),
        "image/class/label": i([label]),
        "image/class/synset": b([synset.encode()]),
        "image/height": i([height]), "image/width": i([width]),
        "image/filename": b([filename.encode()]),
    }
    for k, key in enumerate(BOX_KEYS):
        feature[key] = f([box[k] for box in boxes])
    return tf.train.Example(features=tf.train.Features(
        feature=feature)).SerializeToString()


# --- the source ------------------------------------------------------------------

class ImageNetSource:
    """Per-replica batches of ImageNet streamed from TFRecord shards.

    Args:
      train: the training Split.
      evals: split name -> Split; "test" is reported as the final accuracy
        (ImageNet's validation files).
      record_format: the records' keys and label offset.
      image_size: side of the square model input. Defaults to 224.
      augment: inception crop and flip for training; False trains on the
        evaluation center crop. Defaults to True.
      crop_area_range, crop_aspect_range: of the inception crop (see
        image_ops.distorted_crop_window). Default to (0.08, 1.0) and
        (0.75, 1.33).
      cache_records: keep each pipeline's raw (undecoded) records in memory
        after the first epoch; file order is then no longer reshuffled per
        epoch (the record shuffle buffer still is). None (the default):
        cache the training records when the step is the whole training set
        (full batch reads every record every step) and this pipeline's share
        of the record bytes fits in half the host's available memory
        (``host_can_hold``).
      shuffle_buffer: records permuted together: the training stream is
        cut into blocks of this many records, each shuffled (<= 1: none).
        Defaults to 10000.
      dtype: dtype of the images. None (the default): the compute dtype of
        Keras's global dtype policy when the dataset is built (bfloat16
        under mixed_bfloat16, the TPU default), so images cross to the
        accelerator at half the bytes of float32.
    """

    def __init__(self, train: Split, evals: dict, record_format: RecordFormat,
                 image_size: int = DEFAULT_IMAGE_SIZE, augment: bool = True,
                 crop_area_range=(0.08, 1.0), crop_aspect_range=(0.75, 1.33),
                 cache_records=None, shuffle_buffer: int = 10000,
                 dtype=None, name: str = "imagenet"):
        self._train = train
        self._evals = dict(evals)
        self._format = record_format
        self._image_size = image_size
        self._augment = augment
        self._area = tuple(crop_area_range)
        self._aspect = tuple(crop_aspect_range)
        self._cache = cache_records
        self._shuffle_buffer = shuffle_buffer
        self._fixed_dtype = None if dtype is None else tf.as_dtype(dtype)
        self.info = base.DatasetInfo(name, (image_size, image_size, 3),
                                     NUM_CLASSES, train.num_examples)

    @property
    def _dtype(self):
        if self._fixed_dtype is not None:
            return self._fixed_dtype
        import keras  # the policy build.set_precision set for this run
        return tf.as_dtype(keras.mixed_precision.global_policy().compute_dtype)

    @property
    def eval_splits(self):
        """Split name -> number of examples."""
        return {name: split.num_examples for name, split in self._evals.items()}

    # --- records -> examples
    def _parse(self, record):
        fmt = self._format
        spec = {fmt.image_key: tf.io.FixedLenFeature([], tf.string),
                fmt.label_key: tf.io.FixedLenFeature([], tf.int64)}
        if fmt.has_boxes:
            spec.update({key: tf.io.VarLenFeature(tf.float32) for key in BOX_KEYS})
        features = tf.io.parse_single_example(record, spec)
        label = features[fmt.label_key] - fmt.label_offset
        check = tf.debugging.Assert(
            tf.logical_and(label >= 0, label < NUM_CLASSES),
            [f"an ImageNet label minus label_offset={fmt.label_offset} is "
             f"outside [0, {NUM_CLASSES}); check --label_offset. Label:", label])
        with tf.control_dependencies([check]):
            label = tf.cast(label, tf.int32)
        if fmt.has_boxes:
            boxes = tf.stack([tf.sparse.to_dense(features[key]) for key in BOX_KEYS], -1)
        else:
            boxes = tf.zeros([0, 4], tf.float32)
        return features[fmt.image_key], label, boxes[None]

    def _train_example(self, index, record, seed):
        image_bytes, label, boxes = self._parse(record)
        if self._augment:
            example_seed = tf.random.experimental.stateless_fold_in(seed, index)
            image = image_ops.preprocess_train(
                image_bytes, boxes, example_seed, self._image_size,
                self._area, self._aspect, self._dtype)
        else:
            image = image_ops.preprocess_eval(image_bytes, self._image_size,
                                              self._dtype)
        return image, label, tf.constant(1.0)

    def _eval_example(self, record):
        image_bytes, label, _ = self._parse(record)
        return (image_ops.preprocess_eval(image_bytes, self._image_size,
                                          self._dtype), label, tf.constant(1.0))

    def _padding(self):
        """An endless stream of zero-weight rows."""
        s = self._image_size
        return tf.data.Dataset.from_tensors(
            (tf.zeros([s, s, 3], self._dtype), tf.constant(0, tf.int32),
             tf.constant(0.0))).repeat()

    @staticmethod
    def _read(slices, order_key=None):
        """Records of (path, skip, take) slices, files interleaved in parallel.

        ``order_key`` (a [2] stateless seed) shuffles the file order.
        """
        paths = tf.constant([s[0] for s in slices], tf.string)
        skips = tf.constant([s[1] for s in slices], tf.int64)
        takes = tf.constant([s[2] for s in slices], tf.int64)
        if order_key is not None and len(slices) > 1:
            order = tf.random.experimental.stateless_shuffle(
                tf.range(len(slices)), seed=order_key)
            paths, skips, takes = (tf.gather(t, order) for t in (paths, skips, takes))
        cycle = max(1, min(len(slices), _CYCLE_LENGTH))
        parallel = dict(num_parallel_calls=tf.data.AUTOTUNE,
                        deterministic=True) if cycle > 1 else {}
        return tf.data.Dataset.from_tensor_slices((paths, skips, takes)).interleave(
            lambda path, skip, take: tf.data.TFRecordDataset(
                path, buffer_size=_READ_BUFFER).skip(skip).take(take),
            cycle_length=cycle, block_length=1, **parallel)

    @staticmethod
    def _block_shuffle(records, size, key):
        """Shuffles each block of ``size`` consecutive records (stateless).

        tf.data's shuffle buffer cannot take a per-epoch seed computed inside
        the pipeline (its seed goes through Python-side checks), so the
        buffer is a sequence of blocks, each permuted with its own seed.
        """
        fold_in = tf.random.experimental.stateless_fold_in
        # One block read ahead (prefetch): the next block is read while this
        # one is shuffled and decoded, instead of decoding pausing for it.
        return records.batch(size).prefetch(1).enumerate().map(
            lambda j, block: tf.random.experimental.stateless_shuffle(
                block, seed=fold_in(key, j))).unbatch()

    # --- training
    def train_dataset(self, ctx: tf.distribute.InputContext,
                      layout: base.StepLayout, seed: int,
                      start_step: int = 0, shuffle: bool = True):
        """Endless per-replica training batches, from update step ``start_step``.

        Each step yields ``R_local * k`` batches of ``per_replica_batch``
        rows: this pipeline's share of the global batch, then zero-weight
        padding up to ``padded_batch / P`` rows.
        """
        base._check_layout(layout, ctx)
        pipelines, pid = ctx.num_input_pipelines, ctx.input_pipeline_id
        local_rows = layout.padded_batch // pipelines
        split = self._train
        full = layout.global_batch == split.num_examples
        if full or len(split.files) < pipelines:
            start, end = base.pipeline_share(split.num_examples, pipelines, pid)
            slices, epoch_size = split.slices(start, end), end - start
        else:
            slices, epoch_size = [(p, 0, -1) for p in split.files[pid::pipelines]], None
        if full:
            share = epoch_size
        else:
            lo, hi = base.pipeline_share(layout.global_batch, pipelines, pid)
            share = hi - lo
        if share > local_rows:
            raise ValueError(
                f"input pipeline {pid} holds {share} examples per step but "
                f"the step layout gives it {local_rows} rows")

        skip = start_step * share
        if skip and epoch_size is None:
            counts = dict(zip(split.files, split.counts()))
            epoch_size = sum(counts[p] for p, _, _ in slices)
        start_epoch, rest = divmod(skip, epoch_size) if skip else (0, 0)

        seed = tf.constant(seed, tf.int64)
        shuffle_key = tf.stack([seed, tf.constant(2 * pid + 1, tf.int64)])
        augment_key = tf.stack([seed, tf.constant(2 * pid, tf.int64)])

        def epoch_key(epoch, which):
            return tf.random.experimental.stateless_fold_in(
                tf.random.experimental.stateless_fold_in(shuffle_key, epoch), which)

        cache = self._cache
        if cache is None:
            cache = full and host_can_hold(split, epoch_size)
        fixed = self._read(slices)
        if cache:
            fixed = fixed.cache()

        def epoch_records(epoch):
            if shuffle and not cache:
                records = self._read(slices, epoch_key(epoch, 0))
            else:
                records = fixed
            if shuffle and self._shuffle_buffer > 1:
                records = self._block_shuffle(records, self._shuffle_buffer,
                                              epoch_key(epoch, 1))
            if full:  # a step is exactly this epoch: fail loudly if it is not
                records = records.apply(
                    tf.data.experimental.assert_cardinality(epoch_size))
            return records

        rows = tf.data.Dataset.range(start_epoch, 2**62).flat_map(
            epoch_records).skip(rest).enumerate(start=skip).map(
                lambda i, record: self._train_example(i, record, augment_key),
                num_parallel_calls=tf.data.AUTOTUNE)
        if share < local_rows:
            padded = tf.data.Dataset.range(local_rows).map(
                lambda r: tf.cast(r >= share, tf.int64)).repeat()
            rows = tf.data.Dataset.choose_from_datasets(
                [rows, self._padding()], padded)
        return rows.batch(layout.per_replica_batch, drop_remainder=True
                          ).prefetch(tf.data.AUTOTUNE)

    # --- evaluation
    def eval_dataset(self, ctx: tf.distribute.InputContext,
                     layout: base.StepLayout, split: str = "test"):
        """Finite per-replica batches covering the split exactly once.

        Like ``base.padded_eval_indices``: ``eval_steps`` steps on every
        replica, this pipeline's contiguous share of the records, then
        zero-weight rows.
        """
        base._check_layout(layout, ctx)
        data = self._evals[split]
        total = data.num_examples
        steps = base.eval_steps(total, layout)
        local_rows = (steps * layout.num_replicas * layout.per_replica_batch
                      // ctx.num_input_pipelines)
        start, end = base.pipeline_share(total, ctx.num_input_pipelines,
                                         ctx.input_pipeline_id)
        records = self._read(data.slices(start, end))
        if self._cache:  # explicit only: evaluation reads its share rarely
            records = records.cache()
        real = records.apply(tf.data.experimental.assert_cardinality(
            end - start)).map(self._eval_example,
                              num_parallel_calls=tf.data.AUTOTUNE)
        return real.concatenate(self._padding().take(local_rows - (end - start))
                                ).batch(layout.per_replica_batch,
                                        drop_remainder=True
                                        ).prefetch(tf.data.AUTOTUNE)


# --- loading ---------------------------------------------------------------------

def _tfds_splits(data_dir):
    """(train, validation) Splits of a tfds imagenet2012 prepared in data_dir, or None."""
    try:
        import tensorflow_datasets as tfds  # slow import: only on fallback
        builder = tfds.builder("imagenet2012", data_dir=data_dir)
        if not builder.is_prepared():
            return None
        file_format = str(getattr(builder.info.file_format, "value",
                                  builder.info.file_format))
        splits = [builder.info.splits[name] for name in ("train", "validation")]
    except Exception:  # noqa: BLE001  any tfds failure means "not available"
        return None
    if file_format != "tfrecord":
        raise DataNotFoundError(
            f"--dataset=imagenet: the tfds imagenet2012 in --data_dir="
            f"{data_dir} is stored as {file_format}; this pipeline reads "
            f"tfrecord shards")
    return tuple(Split([os.fspath(p) for p in s.filepaths],
                       total=s.num_examples, counts=s.shard_lengths)
                 for s in splits)


def load(data_dir=None, validation_examples: int = 0, augment: bool = True,
         image_size=None, *, crop_area_range=(0.08, 1.0),
         crop_aspect_range=(0.75, 1.33), label_offset: int = 1,
         cache_records=None, shuffle_buffer: int = 10000,
         dtype=None) -> ImageNetSource:
    """ImageNet from TFRecords in ``data_dir`` (or a tfds imagenet2012 there).

    Args:
      data_dir: folder of ``train-*-of-*`` and ``validation-*-of-*`` shards,
        or a tfds data_dir with imagenet2012 prepared.
      validation_examples: must be 0: ImageNet's validation files are the
        evaluation split ("test").
      augment: inception crop and flip for training. Defaults to True.
      image_size: model input side. Defaults to 224.
      crop_area_range, crop_aspect_range, cache_records, shuffle_buffer,
        dtype: see :class:`ImageNetSource`.
      label_offset: subtracted from ``image/class/label`` of the TFRecords
        (1 for the TPU layout's 1..1000). Defaults to 1. tfds labels are
        0-based already and ignore it.
    Raises:
      DataNotFoundError: one line naming --data_dir and the expected files.
      ImageNetFormatError: an incomplete or mixed shard set.
      ConfigError: validation_examples > 0.
    """
    if validation_examples:
        raise ConfigError(
            f"--validation_examples={validation_examples}: --dataset=imagenet "
            f"evaluates on its validation files; hold-out is not supported")
    expected = ("train-%05d-of-NNNNN and validation-%05d-of-NNNNN TFRecord "
                "shards (e.g. of-01024 / of-00128; tools/"
                "make_imagenet_tfrecords.py writes them)")
    if not data_dir or not tf.io.gfile.isdir(data_dir):
        raise DataNotFoundError(
            f"--dataset=imagenet: --data_dir={data_dir} is not a folder; "
            f"expected {expected} or a prepared tfds 'imagenet2012' there")
    train_files = find_shards(data_dir, "train")
    eval_files = find_shards(data_dir, "validation")
    if train_files and eval_files:
        train = Split(train_files, _canonical(train_files, "train"))
        evals = Split(eval_files, _canonical(eval_files, "validation"))
        record_format = RecordFormat(label_offset=label_offset)
    else:
        found = _tfds_splits(data_dir) if not (train_files or eval_files) else None
        if found is None:
            missing = "train" if not train_files else "validation"
            raise DataNotFoundError(
                f"--dataset=imagenet: no {missing}-%05d-of-NNNNN files in "
                f"--data_dir={data_dir}; expected {expected}, or a prepared "
                f"tfds 'imagenet2012' there")
        (train, evals), record_format = found, TFDS_FORMAT
    return ImageNetSource(
        train, {"test": evals}, record_format,
        image_size=image_size or DEFAULT_IMAGE_SIZE, augment=augment,
        crop_area_range=crop_area_range, crop_aspect_range=crop_aspect_range,
        cache_records=cache_records, shuffle_buffer=shuffle_buffer,
        dtype=dtype)
