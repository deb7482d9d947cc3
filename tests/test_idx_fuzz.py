"""Fuzzing read_idx: whatever the bytes, it returns an array or raises
IDXFormatError, quickly and without large allocations."""

import gzip
import tracemalloc

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from minidl.data import read_idx
from minidl.errors import IDXFormatError

FUZZ = settings(max_examples=200, deadline=None)     # a busy 2-core machine: no time limit
QUICK = settings(FUZZ, max_examples=100)

VALID = (bytes([0, 0, 0x0B, 2]) + np.array([3, 5], ">u4").tobytes()
         + np.arange(15, dtype=">i2").tobytes())  # a (3, 5) int16 file


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """One folder for the module (hypothesis reruns a test many times)."""
    return tmp_path_factory.mktemp("fuzz")


def read(folder, data, gz, name="f"):
    """Write data (gzip-compressed if gz) and read_idx it; None if rejected."""
    path = folder / (name + ".gz" if gz else name)
    path.write_bytes(gzip.compress(data, compresslevel=1) if gz else data)
    try:
        return read_idx(path)
    except IDXFormatError:
        return None


@FUZZ
@given(data=st.binary(max_size=300), compress=st.booleans(), gz_name=st.booleans())
def test_random_bytes(folder, data, compress, gz_name):
    path = folder / ("junk.gz" if gz_name else "junk")
    path.write_bytes(gzip.compress(data, compresslevel=1) if compress else data)
    try:
        read_idx(path)
    except IDXFormatError:
        pass


@FUZZ
@given(cut=st.integers(0, len(VALID) - 1), gz=st.booleans())
def test_truncated_valid_file(folder, cut, gz):
    assert read(folder, VALID[:cut], gz) is None


@FUZZ
@given(cut=st.integers(0, len(gzip.compress(VALID)) - 1))
def test_truncated_gzip_stream(folder, cut):
    path = folder / "cut.gz"
    path.write_bytes(gzip.compress(VALID)[:cut])
    with pytest.raises(IDXFormatError):
        read_idx(path)


@QUICK
@given(extra=st.binary(min_size=1, max_size=50), gz=st.booleans())
def test_trailing_bytes(folder, extra, gz):
    assert read(folder, VALID + extra, gz) is None


@FUZZ
@given(magic=st.binary(min_size=2, max_size=2), code=st.integers(0, 255),
       ndim=st.integers(0, 255),
       dims=st.lists(st.integers(0, 2**31 - 1) | st.integers(0, 6), max_size=40),
       payload=st.binary(max_size=200), gz=st.booleans())
def test_altered_header(folder, magic, code, ndim, dims, payload, gz):
    data = magic + bytes([code, ndim]) + np.array(dims, ">u4").tobytes() + payload
    array = read(folder, data, gz)
    if array is not None:  # accepted: then it really is a consistent file
        assert magic == b"\0\0" and array.ndim == ndim and array.dtype.isnative
        if ndim <= len(dims):
            assert array.shape == tuple(dims[:ndim])


@pytest.mark.parametrize("gz", [False, True])
def test_huge_claim_does_not_allocate(folder, gz):
    # float64 of shape (2^31-1,)*3: ~8e28 bytes claimed, a few bytes present.
    data = bytes([0, 0, 0x0E, 3]) + np.full(3, 2**31 - 1, ">u4").tobytes() + bytes(64)
    path = folder / ("huge.gz" if gz else "huge")
    path.write_bytes(gzip.compress(data) if gz else data)
    tracemalloc.start()
    with pytest.raises(IDXFormatError, match="file can hold"):
        read_idx(path)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 5_000_000


@QUICK
@given(pos=st.integers(0, 11), value=st.integers(0, 255), gz=st.booleans())
def test_one_header_byte_changed(folder, pos, value, gz):
    data = bytearray(VALID)
    data[pos] = value
    array = read(folder, bytes(data), gz)
    if array is not None:
        assert bytes(data) == VALID or array.size * array.itemsize == 30
