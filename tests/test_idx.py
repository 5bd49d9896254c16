"""The strict IDX reader and writer: round trips, exact bytes, and every way a file can be bad."""

import gzip
import io
import tracemalloc
import zlib

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nnzero.datasets import read_idx, write_idx
from nnzero.errors import DataError, IDXFormatError

DTYPES = [np.uint8, np.int8, np.int16, np.int32, np.float32, np.float64]


class NonSeekable(io.RawIOBase):
    """A pipe-like stream: no seek, no tell, no fileno, short reads."""

    def __init__(self, data, chunk=7):
        self._data, self._pos, self._chunk = data, 0, chunk

    def readable(self):
        return True

    def readinto(self, b):
        n = min(len(b), self._chunk, len(self._data) - self._pos)
        b[:n] = self._data[self._pos:self._pos + n]
        self._pos += n
        return n


def idx_bytes(array, gz=False):
    buf = io.BytesIO()
    arr = np.asarray(array)
    code = {np.dtype(t): c for t, c in zip(DTYPES, (8, 9, 11, 12, 13, 14))}[arr.dtype]
    buf.write(bytes([0, 0, code, arr.ndim]) + np.asarray(arr.shape, ">u4").tobytes())
    buf.write(arr.astype(arr.dtype.newbyteorder(">")).tobytes())
    return gzip.compress(buf.getvalue(), mtime=0) if gz else buf.getvalue()


def sample(dtype, shape, seed=0):
    rng = np.random.default_rng(seed)
    info = np.iinfo(dtype) if np.dtype(dtype).kind in "iu" else None
    if info is not None:
        arr = rng.integers(info.min, info.max, size=shape, endpoint=True, dtype=dtype)
        arr.flat[:2] = [info.min, info.max]  # the extremes survive the trip
    else:
        arr = rng.standard_normal(shape).astype(dtype)
        arr.flat[:4] = [np.nan, np.inf, -np.inf, -0.0]
    return arr


# --- round trips and exact bytes -------------------------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(5,), (3, 4), (2, 3, 4), (1, 2, 1, 3)])
@pytest.mark.parametrize("suffix", ["", ".gz"])
def test_round_trip_every_dtype(tmp_path, dtype, shape, suffix):
    arr = sample(dtype, shape)
    path = tmp_path / f"a-idx{len(shape)}-ubyte{suffix}"
    write_idx(path, arr)
    back = read_idx(path)
    assert back.dtype == np.dtype(dtype) and back.dtype.isnative
    assert back.shape == shape
    assert back.tobytes() == arr.tobytes()  # bit-exact, NaN and -0.0 included
    assert back.flags.writeable
    assert list(tmp_path.iterdir()) == [path]  # no temp file left behind


def test_write_idx_exact_bytes(tmp_path):
    # magic 00 00 08 02 (uint8, rank 2), dims 2 and 3 as big-endian uint32, then row-major data.
    write_idx(tmp_path / "a", np.array([[1, 2, 3], [4, 5, 6]], np.uint8))
    assert (tmp_path / "a").read_bytes() == bytes.fromhex("0000 0802 00000002 00000003 010203040506")
    # int16 is stored big-endian: -2 is ff fe whatever the machine's byte order.
    write_idx(tmp_path / "b", np.array([1, -2], dtype="<i2"))
    assert (tmp_path / "b").read_bytes() == bytes.fromhex("0000 0b01 00000002 0001 fffe")
    write_idx(tmp_path / "c", np.array([1.5], dtype=">f8"))
    assert (tmp_path / "c").read_bytes() == bytes.fromhex("0000 0e01 00000001 3ff8000000000000")


def test_gzip_output_is_deterministic_and_standard(tmp_path):
    arr = sample(np.int32, (4, 5))
    write_idx(tmp_path / "a.gz", arr)
    write_idx(tmp_path / "b.gz", arr)
    assert (tmp_path / "a.gz").read_bytes() == (tmp_path / "b.gz").read_bytes()
    assert gzip.decompress((tmp_path / "a.gz").read_bytes()) == idx_bytes(arr)


@pytest.mark.parametrize("gz", [False, True])
def test_reads_file_objects_and_non_seekable_streams(tmp_path, gz):
    arr = sample(np.float32, (3, 2))
    data = idx_bytes(arr, gz)
    for source in (io.BytesIO(data), NonSeekable(data), io.BufferedReader(NonSeekable(data))):
        assert read_idx(source).tobytes() == arr.tobytes()
    (tmp_path / "f").write_bytes(data)
    with open(tmp_path / "f", "rb") as f:
        assert read_idx(f).tobytes() == arr.tobytes()
    assert read_idx(str(tmp_path / "f")).tobytes() == arr.tobytes()


def test_reads_multi_member_gzip():
    data = idx_bytes(sample(np.uint8, (10,)))
    two = gzip.compress(data[:7]) + gzip.compress(data[7:])
    assert read_idx(io.BytesIO(two)).tobytes() == data[8:]  # after the 8-byte header


@pytest.mark.parametrize("bad, match", [
    (np.zeros(3, np.int64), "int64"),
    (np.zeros(3, np.float16), "float16"),
    (np.array(5, np.uint8), "1 to 8 dimensions"),
    (np.zeros((1,) * 9, np.uint8), "1 to 8 dimensions"),
    (np.zeros((0, 3), np.uint8), "1 to 2\\*\\*32-1"),
    (np.array(["a"]), "dtype"),
])
def test_write_idx_refuses_what_idx_cannot_hold(tmp_path, bad, match):
    with pytest.raises(DataError, match=match):
        write_idx(tmp_path / "x.gz", bad)
    assert list(tmp_path.iterdir()) == []


# --- truncated, corrupted, oversized ---------------------------------------------------------

SMALL = sample(np.int16, (3, 4, 5))


@pytest.mark.parametrize("gz", [False, True])
def test_every_truncation_raises_typed_error(gz):
    data = idx_bytes(SMALL, gz)
    for n in range(len(data)):
        with pytest.raises(IDXFormatError):
            read_idx(io.BytesIO(data[:n]))
        with pytest.raises(IDXFormatError):
            read_idx(NonSeekable(data[:n]))


def test_truncation_message_names_file_and_sizes(tmp_path):
    path = tmp_path / "t10k-images-idx3-ubyte"
    path.write_bytes(idx_bytes(SMALL)[:-10])
    with pytest.raises(IDXFormatError, match=r"t10k-images-idx3-ubyte.*truncated.*120.*3×4×5 int16"):
        read_idx(path)


@pytest.mark.parametrize("gz", [False, True])
def test_extra_bytes_after_payload_rejected(gz):
    raw = idx_bytes(SMALL) + b"\0"
    data = gzip.compress(raw) if gz else raw
    for source in (io.BytesIO(data), NonSeekable(data)):
        with pytest.raises(IDXFormatError, match="(extra|too many|after)"):
            read_idx(source)


@pytest.mark.parametrize("header, match", [
    (b"\x01\x00\x08\x01\x00\x00\x00\x01", "two zero bytes"),
    (b"\x00\x01\x08\x01\x00\x00\x00\x01", "two zero bytes"),
    (b"PK\x03\x04\x00\x00\x00\x01", "two zero bytes"),
    (b"\x00\x00\x07\x01\x00\x00\x00\x01", "unknown IDX type code 0x07"),
    (b"\x00\x00\x0a\x01\x00\x00\x00\x01", "unknown IDX type code 0x0A"),
    (b"\x00\x00\x08\x00", "rank .* is 0"),
    (b"\x00\x00\x08\x09" + b"\x00\x00\x00\x01" * 9, "rank .* is 9"),
    (b"\x00\x00\x08\xff", "rank .* is 255"),
    (b"\x00\x00\x08\x02\x00\x00\x00\x03\x00\x00\x00\x00", "dimension 1 is 0"),
    (b"\x00\x00\x08\x03\x00\x00\x00\x03", "ends inside the 3 dimension sizes"),
    (b"\x00\x00", "ends inside the 4-byte magic"),
    (b"", "ends inside the 4-byte magic"),
])
@pytest.mark.parametrize("gz", [False, True])
def test_corrupted_headers(header, match, gz):
    data = gzip.compress(header + b"\x07") if gz else header + b"\x07"
    with pytest.raises(IDXFormatError, match=match):
        read_idx(io.BytesIO(data))


def test_corrupted_gzip_stream():
    data = bytearray(idx_bytes(sample(np.uint8, (200,)), gz=True))
    data[len(data) // 2] ^= 0xFF  # flips bits inside the deflate data or its CRC
    with pytest.raises(IDXFormatError, match="gzip"):
        read_idx(io.BytesIO(bytes(data)))
    with pytest.raises(IDXFormatError, match="gzip"):
        read_idx(io.BytesIO(idx_bytes(SMALL, gz=True) + b"garbage!"))
    with pytest.raises(IDXFormatError):
        read_idx(io.BytesIO(b"\x1f\x8b" + bytes(30)))


def peak_bytes(fn):
    """Peak Python+NumPy allocation while running fn (NumPy reports its buffers to tracemalloc)."""
    tracemalloc.start()
    try:
        fn()
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return peak


HUGE = b"\x00\x00\x0e\x02" + (10**6).to_bytes(4, "big") * 2  # 10**12 float64 = 8 TB


@pytest.mark.parametrize("wrap", [
    lambda d: io.BytesIO(d), lambda d: NonSeekable(d),
    lambda d: io.BytesIO(gzip.compress(d)), lambda d: NonSeekable(gzip.compress(d)),
], ids=["raw", "raw-stream", "gz", "gz-stream"])
def test_header_declaring_10_to_12_elements_refused_before_allocation(wrap):
    def run():
        with pytest.raises(IDXFormatError, match="limit"):
            read_idx(wrap(HUGE + bytes(64)))
    assert peak_bytes(run) < 2**20


@pytest.mark.parametrize("seekable", [True, False])
def test_plausible_looking_lie_costs_no_memory(seekable):
    # 1.5 GB declared (under the hard limit) in a ~100-byte gzip file.
    lie = gzip.compress(b"\x00\x00\x08\x01" + (1_500_000_000).to_bytes(4, "big") + bytes(100))
    def run():
        with pytest.raises(IDXFormatError, match="(gzip file can hold|truncated)"):
            read_idx(io.BytesIO(lie) if seekable else NonSeekable(lie, chunk=4096))
    assert peak_bytes(run) < 16 * 2**20


def test_gzip_bomb_is_not_decompressed_past_the_promise():
    # A valid 16-byte IDX followed by 64 MB of zeros: the reader must stop after one extra byte.
    comp = zlib.compressobj(9, zlib.DEFLATED, 31)
    parts = [comp.compress(idx_bytes(np.arange(16, dtype=np.uint8)))]
    zeros = bytes(2**20)
    parts += [comp.compress(zeros) for _ in range(64)] + [comp.flush()]
    bomb = b"".join(parts)
    def run():
        with pytest.raises(IDXFormatError, match="after"):
            read_idx(io.BytesIO(bomb))
    assert peak_bytes(run) < 2 * 2**20 + len(bomb)


def test_missing_file_and_text_stream_are_data_errors(tmp_path):
    with pytest.raises(DataError, match="no-such-file"):
        read_idx(tmp_path / "no-such-file")
    with pytest.raises(DataError, match="binary"):
        read_idx(io.StringIO("\0\0\x08\x01"))


# --- property-based: random bytes give an array or the typed error, nothing else -------------

FAST = settings(max_examples=150, deadline=2000)


def check_only_typed_error(data):
    for source in (io.BytesIO(data), NonSeekable(data)):
        try:
            arr = read_idx(source)
        except IDXFormatError:
            continue
        assert isinstance(arr, np.ndarray) and arr.size >= 1


@FAST
@given(st.binary(max_size=200))
def test_random_bytes(data):
    check_only_typed_error(data)


idx_like = st.builds(
    lambda code, rank, dims, body: bytes([0, 0, code, rank]) + b"".join(
        d.to_bytes(4, "big") for d in dims) + body,
    st.sampled_from([0x08, 0x09, 0x0B, 0x0C, 0x0D, 0x0E, 0x00, 0xFF]),
    st.integers(0, 10),
    st.lists(st.one_of(st.integers(0, 6), st.integers(0, 2**32 - 1)), max_size=10),
    st.binary(max_size=100),
)


@FAST
@given(idx_like, st.booleans())
def test_random_idx_like_headers(data, gz):
    check_only_typed_error(gzip.compress(data) if gz else data)


@FAST
@given(st.binary(min_size=1, max_size=120), st.integers(0, 200), st.integers(0, 255))
def test_random_damage_to_a_valid_gzip_file(data, pos, value):
    blob = bytearray(idx_bytes(SMALL, gz=True))
    blob[pos % len(blob)] = value
    check_only_typed_error(bytes(blob[: len(blob) - len(data) % 5]) + data[:1])
