"""Reader for the IDX format of MNIST and Fashion-MNIST.

Format (LeCun et al., http://yann.lecun.com/exdb/mnist/): two zero bytes, a
type code, the number of dimensions n, n big-endian uint32 sizes, then the
data in big-endian order. Files may be gzip-compressed. Every malformed file
raises :class:`IdxFormatError` naming the file and what was wrong.
"""
from __future__ import annotations

import gzip
import os
import struct
import zlib

import numpy as np

from limitbatch_tf.errors import InputError

_DTYPES = {
    0x08: np.dtype(">u1"), 0x09: np.dtype(">i1"), 0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"), 0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8"),
}
_GZIP_MAGIC = b"\x1f\x8b"


class IdxFormatError(InputError):
    """A file that is not a well-formed IDX file."""


def _read_bytes(path: str) -> bytes:
    with open(path, "rb") as f:
        raw = f.read()
    if raw[:2] != _GZIP_MAGIC:
        return raw
    try:
        return gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as e:
        raise IdxFormatError(f"{path}: corrupt gzip data ({e})") from None


def parse_idx(data: bytes, name: str = "<bytes>") -> np.ndarray:
    """Parses IDX bytes into a native-endian NumPy array."""
    if len(data) < 4:
        raise IdxFormatError(f"{name}: {len(data)} bytes, too short for an "
                             f"IDX header")
    zero, code, ndim = struct.unpack(">HBB", data[:4])
    if zero != 0 or code not in _DTYPES:
        raise IdxFormatError(f"{name}: bad IDX magic {data[:4].hex()} "
                             f"(expected 0000 + type code + ndim)")
    if ndim == 0:
        raise IdxFormatError(f"{name}: IDX header declares 0 dimensions")
    header = 4 + 4 * ndim
    if len(data) < header:
        raise IdxFormatError(f"{name}: truncated header ({len(data)} bytes, "
                             f"{ndim} dimensions need {header})")
    shape = struct.unpack(f">{ndim}I", data[4:header])
    dtype = _DTYPES[code]
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(data) - header != expected:
        raise IdxFormatError(
            f"{name}: shape {shape} of {dtype.str} needs {expected} data "
            f"bytes, file has {len(data) - header}")
    array = np.frombuffer(data, dtype=dtype, offset=header).reshape(shape)
    return array.astype(dtype.newbyteorder("="))


def read_idx(path: str) -> np.ndarray:
    """Reads an IDX file (raw or gzip) into a NumPy array."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path}: no such file")
    return parse_idx(_read_bytes(path), path)


def write_idx(path: str, array: np.ndarray) -> None:
    """Writes ``array`` as an IDX file; gzip-compressed when path ends in .gz."""
    array = np.asarray(array)
    codes = {v.newbyteorder("=").str: k for k, v in _DTYPES.items()}
    key = array.dtype.newbyteorder("=").str
    if key not in codes:
        raise ValueError(f"dtype {array.dtype} has no IDX type code")
    code = codes[key]
    header = struct.pack(">HBB", 0, code, array.ndim)
    header += struct.pack(f">{array.ndim}I", *array.shape)
    payload = header + array.astype(_DTYPES[code]).tobytes()
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "wb") as f:
        f.write(payload)
