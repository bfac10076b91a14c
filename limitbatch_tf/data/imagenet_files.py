"""ImageNet TFRecord files: the shard set in a folder and its record counts.

The MLPerf/TPU layout names shards ``train-%05d-of-01024`` and
``validation-%05d-of-00128``; with the full sets the canonical counts
(1,281,167 / 50,000) are used, otherwise records are counted once and the
counts cached in ``limitbatch_tf_counts.json`` next to the data (keyed by
file size and mtime). Split out of data/imagenet.py, which streams them.
"""
from __future__ import annotations

import concurrent.futures
import hashlib
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
    New counts are written back; for a read-only folder (a shared bucket)
    into this host's cache folder instead (``local_counts_path``), so only
    the first start counts. The canonical full sets need no per-file counts
    except to split records between input pipelines (full batch, and
    evaluation on several hosts).
    """
    folder = os.path.dirname(paths[0]) if paths else ""
    cache_path = os.path.join(folder, COUNTS_FILE)
    stored = {}
    for path in (local_counts_path(folder), cache_path):  # the folder's wins
        try:
            with tf.io.gfile.GFile(path) as f:
                stored.update(json.load(f))
        except (OSError, ValueError, tf.errors.OpError):
            pass
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
        for target in (cache_path, local_counts_path(folder)):
            if _write_json(target, stored):
                break  # read-only data: kept in this host's cache folder
    return [counts[p] for p in paths]


def local_counts_path(folder: str) -> str:
    """This host's copy of a read-only folder's counts, so a restart does not
    count again (``$XDG_CACHE_HOME`` or ``~/.cache``/limitbatch_tf/counts)."""
    root = os.environ.get("XDG_CACHE_HOME") or os.path.join(
        os.path.expanduser("~"), ".cache")
    key = hashlib.sha1(folder.encode()).hexdigest()[:16]
    return os.path.join(root, "limitbatch_tf", "counts", f"{key}.json")


def _write_json(path: str, value) -> bool:
    try:
        tf.io.gfile.makedirs(os.path.dirname(path))
        tmp = f"{path}.tmp{os.getpid()}"
        with tf.io.gfile.GFile(tmp, "w") as f:
            json.dump(value, f, indent=1, sort_keys=True)
        tf.io.gfile.rename(tmp, path, overwrite=True)
        return True
    except (OSError, tf.errors.OpError):
        return False


def available_memory_bytes() -> int:
    """This host's available memory (MemAvailable), or its physical memory."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")


def host_can_hold(split, records: int, available=available_memory_bytes,
                  fraction: float = 0.5) -> bool:
    """Whether ``records`` of ``split`` (their share of its file bytes) fit
    in ``fraction`` of this host's available memory; what tf.data's cache
    of raw records will take."""
    need = split.total_bytes() * records / max(1, split.num_examples)
    return need <= fraction * available()


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

    def total_bytes(self) -> int:
        """Bytes of all the split's files (stat in parallel: GCS is slow)."""
        if getattr(self, "_bytes", None) is None:
            with concurrent.futures.ThreadPoolExecutor(32) as pool:
                self._bytes = sum(pool.map(
                    lambda p: tf.io.gfile.stat(p).length, self.files))
        return self._bytes

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
