"""Strict reader and writer for IDX, the container format of MNIST and its relatives.

An IDX file is a header followed by a dense array, big-endian::

    magic   0x00 0x00 <type code> <rank>          4 bytes
    dims    rank × uint32, big-endian               4·rank bytes
    payload prod(dims) × itemsize bytes, row-major  nothing after it

The reader trusts nothing in a file: it checks the magic, the type code, the rank and every
dimension, refuses absurd sizes before it allocates anything, reads at most one byte more than the
header promises (so a gzip bomb cannot fill memory), and demands the payload be exactly as long as
promised. Every problem is an :class:`~nnzero.errors.IDXFormatError` naming the file.
"""

from __future__ import annotations

import gzip
import io
import os
import stat
import zlib
from pathlib import Path

import numpy as np

from .. import budget
from ..errors import DataError, IDXFormatError
from .._atomic import atomic_write
from ..safety import check_input

# IDX type code -> big-endian dtype, as in LeCun's description of the format.
IDX_DTYPES = {
    0x08: np.dtype("u1"),
    0x09: np.dtype("i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_TYPE_CODES = {dt.newbyteorder("="): code for code, dt in IDX_DTYPES.items()}

MAX_RANK = 8
# Refuse payloads above 2 GiB: far beyond any IDX dataset, and small enough that a lying header
# cannot make us ask the OS for terabytes.
MAX_PAYLOAD_BYTES = 2**31
# DEFLATE cannot expand data by more than about 1032:1, so a gzip file of n bytes cannot hold more
# than ~1032·n bytes; a header promising more is lying and is refused before any allocation.
_MAX_GZIP_RATIO = 1032
_GZIP_MAGIC = b"\x1f\x8b"
_CHUNK = 1 << 23  # 8 MiB: large enough to keep decompression in C, small enough to bound waste


class _Prefixed(io.RawIOBase):
    """A raw stream that first replays ``prefix`` then continues with ``stream``.

    Lets us sniff the gzip magic from a non-seekable file object and still read the whole stream.
    """

    def __init__(self, prefix: bytes, stream):
        self._prefix = prefix
        self._stream = stream

    def readable(self):
        return True

    def readinto(self, b):
        if self._prefix:
            n = min(len(b), len(self._prefix))
            b[:n] = self._prefix[:n]
            self._prefix = self._prefix[n:]
            return n
        data = self._stream.read(len(b))
        b[: len(data)] = data
        return len(data)


def _stream_size(f) -> int | None:
    """Bytes left in ``f`` from its position, for regular files and BytesIO; else None.

    Other "seekable" objects (a GzipFile, say) would have to decompress everything to answer.
    """
    try:
        if isinstance(f, io.BytesIO):
            return f.getbuffer().nbytes - f.tell()
        st = os.fstat(f.fileno())
        if stat.S_ISREG(st.st_mode):
            return st.st_size - f.tell()
    except (OSError, AttributeError, ValueError, io.UnsupportedOperation):
        pass
    return None


def _read_exact(stream, n: int, name: str, what: str) -> bytes:
    """Read exactly ``n`` bytes of the header or raise a truncation error."""
    data = stream.read(n)
    if len(data) != n:
        raise IDXFormatError(f"{name}: truncated IDX file: it ends inside the {what} "
                             f"(expected {n} bytes, got {len(data)})")
    return data


def _describe(dims, dtype) -> str:
    return "×".join(str(d) for d in dims) + f" {dtype.newbyteorder('=').name}"


def _parse_header(stream, name: str):
    """Read and validate the magic and dims → (big-endian dtype, dims tuple, header length)."""
    magic = _read_exact(stream, 4, name, "4-byte magic number")
    if magic[0] != 0 or magic[1] != 0:
        raise IDXFormatError(f"{name}: not an IDX file: the magic number must start with two zero "
                             f"bytes, got {magic.hex(' ')}")
    code, rank = magic[2], magic[3]
    if code not in IDX_DTYPES:
        known = ", ".join(f"0x{c:02X} {dt.newbyteorder('=').name}" for c, dt in IDX_DTYPES.items())
        raise IDXFormatError(f"{name}: unknown IDX type code 0x{code:02X}; expected one of {known}")
    if not 1 <= rank <= MAX_RANK:
        raise IDXFormatError(f"{name}: IDX rank (number of dimensions) is {rank}; "
                             f"expected 1 to {MAX_RANK}")
    raw_dims = _read_exact(stream, 4 * rank, name, f"{rank} dimension sizes")
    dims = tuple(int(d) for d in np.frombuffer(raw_dims, dtype=">u4"))
    for axis, d in enumerate(dims):
        if d == 0:
            raise IDXFormatError(f"{name}: dimension {axis} is 0; empty IDX arrays are not "
                                 f"supported (dims {dims})")
    return IDX_DTYPES[code], dims, 4 + 4 * rank


def _read_payload(stream, nbytes: int, name: str, prealloc: bool, dims, dtype) -> bytearray:
    """Read exactly ``nbytes`` (never more than ``nbytes + 1``) from ``stream``.

    With ``prealloc`` the buffer is allocated up front (the caller has checked the bytes are in
    the file); otherwise it grows with the data actually present.
    """
    if prealloc:
        buf = bytearray(nbytes)
        view = memoryview(buf)
        got = 0
        while got < nbytes:
            n = stream.readinto(view[got:got + _CHUNK])
            if not n:
                break
            got += n
        view.release()
    else:
        buf = bytearray()
        while len(buf) < nbytes:
            chunk = stream.read(min(_CHUNK, nbytes - len(buf)))
            if not chunk:
                break
            buf += chunk
        got = len(buf)
    if got < nbytes:
        raise IDXFormatError(f"{name}: truncated IDX file: the header promises {nbytes} payload "
                             f"bytes ({_describe(dims, dtype)}) but only {got} follow")
    if stream.read(1):
        raise IDXFormatError(f"{name}: IDX file has data after the {nbytes} payload bytes the "
                             f"header promises ({_describe(dims, dtype)})")
    return buf


def _to_array(buf: bytearray, dtype, dims) -> np.ndarray:
    """Big-endian bytes → native-endian, writable array, swapping in place (no extra copy)."""
    arr = np.frombuffer(buf, dtype=dtype)
    if not dtype.isnative:
        arr.byteswap(inplace=True)
        arr = arr.view(dtype.newbyteorder("="))
    return arr.reshape(dims)


def _read_idx_stream(f, name: str) -> np.ndarray:
    """Core reader over an open binary stream positioned at the start of the (maybe gzip) data."""
    size = _stream_size(f)
    head = f.read(2)
    if not isinstance(head, bytes):
        raise DataError(f"{name}: expected a binary file object (open it with 'rb')")
    is_gzip = head == _GZIP_MAGIC
    if size is None:
        f = io.BufferedReader(_Prefixed(head, f))  # replay the sniffed bytes
    else:
        f.seek(-len(head), io.SEEK_CUR)
    stream = gzip.GzipFile(fileobj=f, mode="rb") if is_gzip else f
    dtype, dims, header_len = _parse_header(stream, name)
    count = 1
    for d in dims:
        count *= d  # Python int: no overflow, whatever the header claims
    nbytes = count * dtype.itemsize
    if nbytes > MAX_PAYLOAD_BYTES:
        raise IDXFormatError(f"{name}: IDX header declares {_describe(dims, dtype)} = {nbytes} "
                             f"bytes, over the {MAX_PAYLOAD_BYTES}-byte limit; refusing to read it")
    budget.check(nbytes, f"{name}: the IDX array {_describe(dims, dtype)}")
    if size is not None and not is_gzip and size != header_len + nbytes:
        # Uncompressed with a known size: check the payload length before reading anything.
        have = size - header_len
        problem = "is truncated" if have < nbytes else f"has {have - nbytes} bytes too many"
        raise IDXFormatError(f"{name}: IDX file {problem}: the header promises {nbytes} payload "
                             f"bytes ({_describe(dims, dtype)}) but the file holds {have}")
    if size is not None and is_gzip and nbytes > _MAX_GZIP_RATIO * size + 1024:
        raise IDXFormatError(f"{name}: IDX header declares {_describe(dims, dtype)} = {nbytes} "
                             f"bytes, more than a {size}-byte gzip file can hold; the header "
                             f"is corrupted")
    # Preallocate only when the exact size check above proved the bytes are there; gzip data
    # grows with what really decompresses, so a lying header costs nothing.
    buf = _read_payload(stream, nbytes, name, size is not None and not is_gzip, dims, dtype)
    return _to_array(buf, dtype, dims)


def read_idx_header(path_or_fileobj) -> tuple:
    """The dimensions an IDX file declares (gzip or not), reading only its header: to cross-check
    files (e.g. images against labels) before any payload is read."""
    def header(f, name):
        head = f.read(2)
        f.seek(-len(head), io.SEEK_CUR)
        stream = gzip.GzipFile(fileobj=f, mode="rb") if head == _GZIP_MAGIC else f
        return _parse_header(stream, name)[1]

    if hasattr(path_or_fileobj, "read"):
        return _guarded(header, path_or_fileobj, str(getattr(path_or_fileobj, "name", "<IDX stream>")))
    check_input(path_or_fileobj)
    with open(path_or_fileobj, "rb") as f:
        return _guarded(header, f, str(path_or_fileobj))


def read_idx(path_or_fileobj) -> np.ndarray:
    """Read an IDX array from a path or a binary file object; gzip is detected by its magic bytes.

    Returns a fresh, writable, native-endian array of the stored dtype and shape, e.g. MNIST's
    ``train-images-idx3-ubyte.gz`` → uint8 (60000, 28, 28). Raises IDXFormatError (a ValueError)
    naming the file and the problem for anything that is not a well-formed IDX file; a missing
    file is a DataError.
    """
    if hasattr(path_or_fileobj, "read"):
        name = str(getattr(path_or_fileobj, "name", "<IDX stream>"))
        return _guarded(_read_idx_stream, path_or_fileobj, name)
    path = Path(path_or_fileobj)
    check_input(path)        # before opening: a FIFO would block, a device never ends
    try:
        f = open(path, "rb")
    except OSError as e:
        raise DataError(f"{path}: cannot open IDX file: {e.strerror or e}") from e
    with f:
        return _guarded(_read_idx_stream, f, str(path))


def _guarded(fn, f, name):
    """Turn the decompressor's and the OS's exceptions into IDXFormatError naming the file."""
    try:
        return fn(f, name)
    except IDXFormatError:
        raise
    except (gzip.BadGzipFile, EOFError, zlib.error) as e:
        raise IDXFormatError(f"{name}: corrupted gzip data in IDX file: {e}") from e
    except OSError as e:
        raise IDXFormatError(f"{name}: cannot read IDX file: {e}") from e


def write_idx(path, array) -> None:
    """Write ``array`` as an IDX file at ``path`` (gzip-compressed if the name ends in ``.gz``).

    Supported dtypes: uint8, int8, int16, int32, float32, float64 (any byte order); 1 to 8
    dimensions, each 1 to 2**32-1. The file is written atomically (temp file, fsync, rename).
    """
    arr = np.asarray(array)
    native = arr.dtype.newbyteorder("=") if arr.dtype.byteorder in "<>" else arr.dtype
    if native not in _TYPE_CODES:
        kinds = ", ".join(dt.newbyteorder("=").name for dt in IDX_DTYPES.values())
        raise DataError(f"{path}: IDX cannot store dtype {arr.dtype}; expected one of {kinds}")
    if not 1 <= arr.ndim <= MAX_RANK:
        raise DataError(f"{path}: IDX stores 1 to {MAX_RANK} dimensions, got an array of shape "
                        f"{arr.shape}")
    if any(not 1 <= d < 2**32 for d in arr.shape):
        raise DataError(f"{path}: every IDX dimension must be 1 to 2**32-1, got shape {arr.shape}")
    code = _TYPE_CODES[native]
    header = bytes([0, 0, code, arr.ndim]) + np.asarray(arr.shape, dtype=">u4").tobytes()
    payload = np.ascontiguousarray(arr, dtype=IDX_DTYPES[code])
    path = Path(path)
    with atomic_write(path) as f:
        if path.name.endswith(".gz"):
            # mtime=0 and no file name inside: the same array always gives the same bytes.
            with gzip.GzipFile(filename="", fileobj=f, mode="wb", compresslevel=6, mtime=0) as g:
                g.write(header)
                g.write(memoryview(payload).cast("B"))
        else:
            f.write(header)
            f.write(memoryview(payload).cast("B"))


__all__ = ["read_idx", "read_idx_header", "write_idx", "IDX_DTYPES", "MAX_PAYLOAD_BYTES"]
