"""Read IDX files, the simple binary format MNIST is distributed in.

An IDX file is a short header followed by the array's bytes:

    bytes 0-1    0x00 0x00             the "magic" prefix
    byte  2      dtype code            0x08 uint8, 0x09 int8, 0x0B int16,
                                       0x0C int32, 0x0D float32, 0x0E float64
    byte  3      ndim                  number of dimensions
    4 * ndim     dims                  each a big-endian unsigned 32-bit int
    payload      prod(dims) items      big-endian, C (row-major) order

MNIST images are (N, 28, 28) uint8 and labels (N,) uint8. A file may be gzip
compressed; its first two bytes (1f 8b) say so, not its name: a browser may
save the unpacked bytes under the name ending in .gz, or the reverse.

The header is checked before anything large is allocated: the payload is read
in chunks, never more than the header promises plus one byte (to notice
trailing bytes), so a lying header on a tiny file fails at once. A gzip file
with trailing bytes is read on to its end (as much as such a file can hold,
kept nowhere), where gzip checks its CRC: a damaged stream is named as such.
"""

import gzip
import hashlib
import math
import os
import zlib

import numpy as np

from ..errors import IDXFormatError

# dtype code -> NumPy dtype of the payload as stored (big-endian).
DTYPES = {
    0x08: np.dtype("u1"),
    0x09: np.dtype("i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
MAX_NDIM = 32  # the most dimensions every supported NumPy version allows
CHUNK = 1 << 20  # bytes per read
MAX_RATIO = 1032  # deflate's largest expansion: no gzip file holds more than this many bytes per byte

# What the gzip module raises on a damaged or truncated stream.
_GZIP_ERRORS = (gzip.BadGzipFile, EOFError, zlib.error)


def _open(path):
    """Open `path` as a binary stream of its decompressed bytes."""
    with open(path, "rb") as f:
        starts_like_gzip = f.read(2) == b"\x1f\x8b"
    return gzip.open(path, "rb") if starts_like_gzip else open(path, "rb")


def gzipped_twice(path):
    """Whether the file, unpacked once (if it is gzip), is gzip again."""
    with _open(path) as f:
        return f.read(2) == b"\x1f\x8b"


def _read_up_to(f, n):
    """Read at most n bytes from stream f, in chunks; fewer if it ends first."""
    buf = bytearray()
    while len(buf) < n:
        chunk = f.read(min(CHUNK, n - len(buf)))
        if not chunk:
            break
        buf += chunk
    return buf


def _read_to_end(f, most):
    """Read stream f to its end, or `most` bytes at most, keeping nothing."""
    while most > 0 and (chunk := f.read(min(CHUNK, most))):
        most -= len(chunk)


def _fail(path, problem):
    raise IDXFormatError(f"{path}: {problem}")


def read_idx(path, *, return_md5=False):
    """Read an IDX file (raw or gzip) into a native-endian NumPy array.

    Returns an array of shape `dims` with the file's dtype (uint8, int8,
    int16, int32, float32 or float64). With return_md5=True returns
    (array, md5) where md5 is the hex MD5 of the decompressed file bytes,
    computed from the same single read.

    Raises IDXFormatError (a ValueError) naming the file and the problem for
    a wrong magic number, unknown dtype code, bad ndim, truncated header or
    payload, trailing bytes, or a corrupt gzip stream.
    """
    try:
        with _open(path) as f:
            header = _read_up_to(f, 4)
            if len(header) < 4:
                _fail(path, f"truncated header: expected 4 bytes, got {len(header)}")
            if header[:2] == b"\x1f\x8b":    # gzip inside the gzip stream
                _fail(path, "the file is gzipped twice: unpacked once, it is gzip again; "
                            "unpack it (gunzip) and keep the result")
            if header[:2] != b"\x00\x00":
                _fail(path, f"bad magic number: expected first two bytes 00 00 (IDX) or "
                            f"1f 8b (gzip), got {header[:2].hex(' ')} ({bytes(header)!r})")
            code, ndim = header[2], header[3]
            if code not in DTYPES:
                known = ", ".join(f"0x{c:02X}" for c in DTYPES)
                _fail(path, f"unknown dtype code 0x{code:02X}, expected one of {known}")
            if not 1 <= ndim <= MAX_NDIM:
                _fail(path, f"bad number of dimensions: expected 1..{MAX_NDIM}, got {ndim}")
            dim_bytes = _read_up_to(f, 4 * ndim)
            if len(dim_bytes) < 4 * ndim:
                _fail(path, f"truncated header: {ndim} dims need {4 * ndim} bytes, "
                            f"got {len(dim_bytes)}")
            dims = tuple(int(d) for d in np.frombuffer(dim_bytes, ">u4"))
            dtype = DTYPES[code]
            nbytes = math.prod(dims) * dtype.itemsize
            if nbytes > MAX_RATIO * os.path.getsize(path):   # cannot be in this file
                _fail(path, f"header says shape {dims} of {dtype.name}, i.e. {nbytes} payload "
                            f"bytes, more than a {os.path.getsize(path)}-byte file can hold")
            payload = _read_up_to(f, nbytes + 1)
            if len(payload) > nbytes:      # a damaged gzip stream may inflate to too much:
                _read_to_end(f, MAX_RATIO * os.path.getsize(path))   # gzip checks its CRC there
    except _GZIP_ERRORS as e:
        raise IDXFormatError(f"{path}: corrupt or truncated gzip stream ({e})") from e

    claim = f"header says shape {dims} of {dtype.name}, i.e. {nbytes} payload bytes"
    if len(payload) < nbytes:
        _fail(path, f"truncated: {claim}, but the file holds only {len(payload)}")
    if len(payload) > nbytes:
        _fail(path, f"trailing bytes: {claim}, but the file holds more")
    try:
        array = np.frombuffer(payload, dtype=dtype).reshape(dims)
    except ValueError as e:  # e.g. a zero dim next to dims too big for NumPy
        raise IDXFormatError(f"{path}: shape {dims} not representable ({e})") from e
    array = array.astype(dtype.newbyteorder("="), copy=False)
    if not return_md5:
        return array
    md5 = hashlib.md5(header + dim_bytes)
    md5.update(payload)
    return array, md5.hexdigest()


def md5_decompressed(path):
    """Hex MD5 of the file's decompressed bytes (raw files: of the bytes as
    stored), streamed in chunks. Raises IDXFormatError for a corrupt gzip."""
    md5 = hashlib.md5()
    try:
        with _open(path) as f:
            while chunk := f.read(CHUNK):
                md5.update(chunk)
    except _GZIP_ERRORS as e:
        raise IDXFormatError(f"{path}: corrupt or truncated gzip stream ({e})") from e
    return md5.hexdigest()
