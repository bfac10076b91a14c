"""IDX reader against files the test writes, and against malformed bytes."""
import gzip
import struct

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from limitbatch_tf.data import idx


@pytest.mark.parametrize("gz", [False, True])
@pytest.mark.parametrize("dtype", [np.uint8, np.int16, np.int32, np.float32])
def test_round_trip(tmp_path, gz, dtype):
    array = (np.arange(2 * 3 * 5) - 7).reshape(2, 3, 5).astype(dtype)
    path = str(tmp_path / ("x.idx" + (".gz" if gz else "")))
    idx.write_idx(path, array)
    back = idx.read_idx(path)
    assert back.dtype == np.dtype(dtype) and back.shape == (2, 3, 5)
    np.testing.assert_array_equal(back, array)


def test_reads_big_endian_bytes_written_by_hand(tmp_path):
    # 2 labels of type int32 (0x0C), big-endian: independent of write_idx.
    raw = struct.pack(">HBBI", 0, 0x0C, 1, 2) + struct.pack(">ii", 258, -1)
    path = tmp_path / "labels"
    path.write_bytes(gzip.compress(raw))
    np.testing.assert_array_equal(idx.read_idx(str(path)), [258, -1])


@pytest.mark.parametrize("data, message", [
    (b"\x01\x00\x08\x01" + b"\0" * 8, "bad IDX magic"),
    (b"\x00\x00\x07\x01" + b"\0" * 8, "bad IDX magic"),
    (b"\x00\x00\x08", "too short"),
    (b"\x00\x00\x08\x03\x00\x00\x00\x02", "truncated header"),
    (struct.pack(">HBBI", 0, 8, 1, 5) + b"abc", "needs 5 data bytes"),
    (struct.pack(">HBBI", 0, 8, 1, 2) + b"abc", "needs 2 data bytes"),
])
def test_malformed_bytes_raise_clear_error(data, message):
    with pytest.raises(idx.IdxFormatError, match=message):
        idx.parse_idx(data, "f")


def test_corrupt_gzip(tmp_path):
    path = tmp_path / "x.gz"
    path.write_bytes(gzip.compress(b"\x00\x00\x08\x01" + b"\0" * 100)[:20])
    with pytest.raises(idx.IdxFormatError, match="corrupt gzip"):
        idx.read_idx(str(path))


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=64))
def test_fuzz_parse_never_crashes(data):
    try:
        array = idx.parse_idx(data, "fuzz")
    except idx.IdxFormatError:
        return
    assert array.size * array.dtype.itemsize <= len(data)
