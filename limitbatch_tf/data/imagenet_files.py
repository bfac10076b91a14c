"""ImageNet TFRecord files: the shard set in a folder and its record counts.

The MLPerf/TPU layout names shards ``train-%05d-of-01024`` and
``validation-%05d-of-00128``; with the full sets the canonical counts
(1,281,167 / 50,000) are used, otherwise records are counted once and the
counts cached in ``limitbatch_tf_counts.json`` next to the data (keyed by
file size and mtime). Split out of data/imagenet.py, which streams them.
"""
from __future__ import annotations

import json
import os
import re

import tensorflow as tf

from limitbatch_tf.errors import InputError, RecordFormatError, tf_reason


CANONICAL = {"train": (1024, 1281167), "validation": (128, 50000)}
COUNTS_FILE = "limitbatch_tf_counts.json"


class ImageNetFormatError(InputError):
    """The TFRecord files are there but do not form a usable set."""


def find_shards(data_dir: str, prefix: str):
    """The sorted complete shard set ``prefix-%05d-of-NNNNN`` in ``data_dir``.

    Returns [] when there is none; raises ImageNetFormatError for mixed or
    incomplete sets.
    """
    pattern = re.compile(rf"{prefix}-(\d{{5}})-of-(\d{{5}})$")
    found = {}
    for path in tf.io.gfile.glob(os.path.join(data_dir, f"{prefix}-*-of-*")):
        match = pattern.match(os.path.basename(path))
        if match:
            found.setdefault(int(match.group(2)), set()).add(int(match.group(1)))
    if not found:
        return []
    if len(found) > 1:
        raise ImageNetFormatError(
            f"{data_dir}: {prefix}-* shards of several sets "
            f"({', '.join(f'of-{n:05d}' for n in sorted(found))}); keep one")
    total, present = next(iter(found.items()))
    missing = sorted(set(range(total)) - present)
    if missing:
        raise ImageNetFormatError(
            f"{data_dir}: {len(missing)} of {total} {prefix} shards missing, "
            f"e.g. {prefix}-{missing[0]:05d}-of-{total:05d}")
    return [os.path.join(data_dir, f"{prefix}-{k:05d}-of-{total:05d}")
            for k in range(total)]


def count_records(paths):
    """Records in each TFRecord file, read in parallel: list of ints.

    Raises:
        RecordFormatError: naming the first file whose framing or CRC is
            corrupt (TensorFlow's DataLossError does not name it).
    """
    if not paths:
        return []

    @tf.autograph.experimental.do_not_convert
    def count(path):
        return tf.data.TFRecordDataset(path).reduce(
            tf.constant(0, tf.int64), lambda n, _: n + 1)

    counts = tf.data.Dataset.from_tensor_slices(list(paths)).map(
        count, num_parallel_calls=tf.data.AUTOTUNE)
    try:
        return [int(n) for n in counts.as_numpy_iterator()]
    except tf.errors.DataLossError:
        pass
    for path in paths:  # the parallel count failed: find the file, one by one
        try:
            count(tf.constant(path))
        except tf.errors.DataLossError as e:
            raise RecordFormatError(
                f"{path}: not a readable TFRecord file "
                f"({tf_reason(e.message)}); expected length-and-CRC framed records") from None
    raise RecordFormatError(
        f"{os.path.dirname(paths[0])}: a TFRecord file there is corrupt")


def _stamp(path):
    stat = tf.io.gfile.stat(path)
    return [stat.length, stat.mtime_nsec]


_COUNTED = {}  # path -> (stamp, records): this process's counts


def cached_counts(paths):
    """Per-file record counts, from COUNTS_FILE next to the files or counted.

    A file's entry is reused only while its size and mtime are unchanged.
    New counts are written back (silently skipped on a read-only folder).
    """
    folder = os.path.dirname(paths[0]) if paths else ""
    cache_path = os.path.join(folder, COUNTS_FILE)
    try:
        with tf.io.gfile.GFile(cache_path) as f:
            stored = json.load(f)
    except (OSError, ValueError, tf.errors.OpError):
        stored = {}
    stamps = {p: _stamp(p) for p in paths}
    counts = {}
    for p in paths:
        entry = stored.get(os.path.basename(p))
        if isinstance(entry, dict) and entry.get("stamp") == stamps[p]:
            counts[p] = int(entry["records"])
        elif _COUNTED.get(p, (None,))[0] == stamps[p]:
            counts[p] = _COUNTED[p][1]
    todo = [p for p in paths if p not in counts]
    if todo:
        print(f"counting the records of {len(todo)} files in {folder} "
              f"(once; kept in {COUNTS_FILE})", flush=True)
        for p, n in zip(todo, count_records(todo)):
            counts[p] = n
            _COUNTED[p] = (stamps[p], n)
            stored[os.path.basename(p)] = {"stamp": stamps[p], "records": n}
        try:
            tmp = f"{cache_path}.tmp{os.getpid()}"
            with tf.io.gfile.GFile(tmp, "w") as f:
                json.dump(stored, f, indent=1, sort_keys=True)
            tf.io.gfile.rename(tmp, cache_path, overwrite=True)
        except (OSError, tf.errors.OpError):
            pass  # read-only data: the counts live in this process only
    return [counts[p] for p in paths]


class Split:
    """The shard files of one split, with lazily known per-file counts.

    Args:
      files: shard paths in their canonical (sorted) order.
      total: number of records when known without counting (the canonical
        sets), else None.
      counts: per-file record counts when known (tfds), else None.
    """

    def __init__(self, files, total=None, counts=None):
        self.files = list(files)
        self._total = total
        self._counts = list(counts) if counts is not None else None

    def counts(self):
        if self._counts is None:
            self._counts = cached_counts(self.files)
        return self._counts

    @property
    def num_examples(self) -> int:
        return self._total if self._total is not None else sum(self.counts())

    def slices(self, start: int, end: int):
        """(path, skip, take) triples covering records [start, end) in order.

        take -1 means "to the end of the file". The whole split needs no
        counts.
        """
        if start == 0 and end == self.num_examples:
            return [(path, 0, -1) for path in self.files]
        out, offset = [], 0
        for path, n in zip(self.files, self.counts()):
            lo, hi = max(start, offset), min(end, offset + n)
            if lo < hi:
                out.append((path, lo - offset, hi - lo))
            offset += n
        return out


def _canonical(files, prefix):
    shards, examples = CANONICAL[prefix]
    return examples if len(files) == shards else None
