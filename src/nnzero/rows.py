"""Rows that stay on disk: train, evaluate and predict on a NumPy memory map bigger than RAM.

    X = np.load("X.npy", mmap_mode="r")          # a np.memmap: nothing read yet
    model.fit(X, y, epochs=5, batch_size=256)     # each batch gathered from the file

``Sequential.check_X`` wraps a ``np.memmap`` in :class:`LazyRows` instead of converting it: the
finite-value check streams over the rows in chunks of ~16 MB, and the training loop's
``np.take(X, idx, out=buffer)`` gathers only the batch's rows, converted to the model's dtype
(and preprocessed, e.g. pixels x/255) on the way. Values are exactly those of the in-memory
path: the conversion is elementwise, so converting a batch equals converting the whole array.

Memory: a memory map's pages count in the process's resident set (RSS) once touched, and on
recent Linux kernels one touched row maps its whole cached folio (up to 2 MB) at once. So when X
is a memmap over a file (``np.load(..., mmap_mode="r")``), rows are read with ``os.preadv``
from the file instead: one system call per run of consecutive rows, straight into an array. The
page cache still holds the file (shared, reclaimable), but this process's RSS holds one batch.
Other memmaps are indexed directly, and their pages released (``madvise(MADV_DONTNEED)``) after
every read. Pickling LazyRows sends the file's path, not its rows.

Indexing: ``rows[i:j]`` reads rows i..j−1 into a new array; ``rows[index_array]`` is another
LazyRows over those rows (nothing read), which is how a validation split stays on disk.
"""

import mmap
import os

import numpy as np

from . import preprocessing
from .errors import DataError, ShapeError

CHUNK_BYTES = 16 << 20     # stream over the rows in pieces of about this size


def find_mmap(array):
    """The ``mmap.mmap`` an array's memory comes from (following ``.base``), or None."""
    while array is not None:
        if isinstance(array, mmap.mmap):
            return array
        array = getattr(array, "base", None)
    return None


def release_pages(mapping):
    """Drop ``mapping``'s pages from this process's RSS (they stay in the page cache)."""
    if mapping is not None and not mapping.closed and hasattr(mapping, "madvise"):
        mapping.madvise(mmap.MADV_DONTNEED)


class _RowFile:
    """Rows of a C-ordered array stored in a file from byte ``offset``: read with ``os.preadv``.
    Pickles as its path and layout; the file is (re)opened on first use."""

    def __init__(self, path, offset, shape, dtype):
        self.path, self.offset, self.shape, self.dtype = str(path), int(offset), tuple(shape), np.dtype(dtype)
        self.row_bytes = self.shape[1] * self.dtype.itemsize
        self._fd = None

    def __getstate__(self):
        return {**self.__dict__, "_fd": None}

    def __del__(self):
        if getattr(self, "_fd", None) is not None:
            os.close(self._fd)

    def read(self, rows):
        """Rows ``rows`` (int array) → (len(rows), d) array: one preadv per run of consecutive rows."""
        if self._fd is None:
            self._fd = os.open(self.path, os.O_RDONLY)
        order = np.argsort(rows, kind="stable")
        ordered = rows[order]
        buf = np.empty((len(rows), self.shape[1]), self.dtype)
        flat = memoryview(buf).cast("B")
        breaks = np.flatnonzero(np.diff(ordered) != 1) + 1
        for a, b in zip(np.concatenate(([0], breaks)), np.concatenate((breaks, [len(rows)]))):
            want = (b - a) * self.row_bytes
            got = os.preadv(self._fd, [flat[a * self.row_bytes:b * self.row_bytes]],
                            self.offset + int(ordered[a]) * self.row_bytes)
            if got != want:
                raise DataError(f"{self.path}: read {got} of {want} bytes at row {ordered[a]}; "
                                "the file was truncated while in use")
        if np.array_equal(ordered, rows):
            return buf                                  # read in order already (slices, chunks)
        out = np.empty_like(buf)
        out[order] = buf
        return out


def _row_file(data):
    """A _RowFile for a C-contiguous np.memmap over a file, or None (then the map is indexed)."""
    if not isinstance(data, np.memmap) or getattr(data, "filename", None) is None or not data.flags.c_contiguous:
        return None
    root = data
    while isinstance(root.base, np.memmap):
        root = root.base
    if not isinstance(root.base, mmap.mmap) or not os.path.isfile(root.filename):
        return None
    # np.memmap's own array starts at byte `offset` of the file; a view starts `delta` further.
    delta = data.ctypes.data - root.ctypes.data
    return _RowFile(root.filename, root.offset + delta, data.shape, data.dtype)


def chunk_rows(row_bytes):
    """How many rows of ``row_bytes`` bytes make one ~16 MB chunk (at least 1)."""
    return max(1, CHUNK_BYTES // max(1, row_bytes))


class LazyRows:
    """Rows of a 2-D array-like (a ``np.memmap``) read on demand as ``dtype`` (n, d) arrays.

    ``index``: the rows of ``data`` this view covers (None: all, in order); ``spec``: the
    preprocessing applied to each read (see :mod:`nnzero.preprocessing`; None: only the dtype).
    """

    ndim = 2

    def __init__(self, data, index=None, spec=None, dtype=np.float32):
        if isinstance(data, LazyRows):
            raise TypeError("wrap the array, not another LazyRows (use .with_dtype / [index])")
        if data.ndim != 2:
            raise ShapeError(f"LazyRows needs 2-D data (n_samples, n_features), got shape {data.shape}")
        if data.dtype.kind not in "biuf":
            raise DataError(f"LazyRows needs numeric data, got dtype {data.dtype}")
        self.data, self.spec, self.dtype = data, spec, np.dtype(dtype)
        self.index = None if index is None else np.asarray(index, dtype=np.int64)
        self.finite_checked = False
        self._file = _row_file(data)
        self._mmap = None if self._file is not None else find_mmap(data)

    @property
    def shape(self):
        return (len(self), self.data.shape[1])

    @property
    def size(self):
        return self.shape[0] * self.shape[1]

    def __len__(self):
        return len(self.data) if self.index is None else len(self.index)

    def __repr__(self):
        return f"LazyRows(shape={self.shape}, dtype={self.dtype.name}, source={type(self.data).__name__})"

    def __getstate__(self):
        # With a file to read from, the memmap itself is not pickled (it would send every row).
        return {**self.__dict__, "data": None if self._file is not None else self.data,
                "_shape": self.data.shape, "_raw_dtype": self.data.dtype}

    def __setstate__(self, state):
        shape, raw_dtype = state.pop("_shape"), state.pop("_raw_dtype")
        self.__dict__.update(state)
        if self.data is None:
            self.data = np.memmap(self._file.path, raw_dtype, "r", self._file.offset, shape)

    def _derive(self, index=None, spec=None, dtype=None):
        new = LazyRows.__new__(LazyRows)
        new.__dict__.update(self.__dict__)
        new.index = self.index if index is None else np.asarray(index, dtype=np.int64)
        new.spec = self.spec if spec is None else spec
        new.dtype = self.dtype if dtype is None else np.dtype(dtype)
        new.finite_checked = self.finite_checked and spec is None and dtype in (None, self.dtype)
        return new

    def with_dtype(self, dtype):
        return self if np.dtype(dtype) == self.dtype else self._derive(dtype=dtype)

    def preprocessed(self, spec, dtype):
        """These rows with ``spec`` applied to every read (raw rows only: specs do not stack)."""
        if self.spec is not None:
            raise DataError("these rows are already preprocessed")
        return self._derive(spec=preprocessing.check(spec), dtype=dtype)

    # -- reading ----------------------------------------------------------------------------------
    def _convert(self, raw):
        if self.spec is not None:
            return preprocessing.apply(raw, self.spec, self.dtype)
        return raw.astype(self.dtype, copy=False)   # raw is a fresh array already

    def __getitem__(self, key):
        if isinstance(key, slice):
            start, stop, step = key.indices(len(self))
            if step != 1:
                raise DataError("LazyRows slices must be contiguous (step 1)")
            rows = np.arange(start, stop) if self.index is None else self.index[start:stop]
            return self._convert(self._gather(rows))
        key = np.asarray(key)
        if key.ndim != 1 or key.dtype.kind not in "iu":
            raise DataError(f"LazyRows takes a slice or a 1-D integer index array, got {key!r:.60}")
        return self._derive(index=key if self.index is None else self.index[key])

    def _gather(self, rows):
        if self._file is not None:
            return self._file.read(rows)
        raw = self.data[rows]                                   # fancy index: a copy of these rows
        release_pages(self._mmap)
        return raw

    def take(self, indices, axis=0, out=None, mode="raise"):
        """Rows ``indices`` as an array (into ``out`` if given): what ``np.take(rows, ...)`` calls."""
        if axis != 0:
            raise DataError("LazyRows.take gathers rows (axis=0) only")
        indices = np.asarray(indices)
        block = self._convert(self._gather(indices if self.index is None else self.index[indices]))
        if out is None:
            return block
        out[...] = block
        return out

    def chunks(self):
        """(start, rows) pieces of ~16 MB covering all rows in order."""
        step = chunk_rows(self.shape[1] * max(self.data.dtype.itemsize, self.dtype.itemsize))
        for start in range(0, len(self), step):
            yield start, self[start:start + step]

    def check_finite(self, name="X"):
        """Stream over the rows once; DataError at the first chunk with NaN/inf. Returns self."""
        if not self.finite_checked:
            for start, block in self.chunks():
                if not np.isfinite(block).all():
                    row = start + int(np.flatnonzero(~np.isfinite(block).all(axis=1))[0])
                    row = row if self.index is None else int(self.index[row])   # the file's row
                    raise DataError(f"{name} contains NaN or infinite values (first at row {row})")
            self.finite_checked = True
        return self


def is_lazy(X):
    """True for inputs that are read batch by batch instead of loaded: memmaps and LazyRows."""
    return isinstance(X, (np.memmap, LazyRows))


def as_lazy(X, dtype):
    """``X`` (a 2-D np.memmap or LazyRows) as LazyRows yielding ``dtype``."""
    return X.with_dtype(dtype) if isinstance(X, LazyRows) else LazyRows(X, dtype=dtype)



# -- preprocessing fitted by streaming (the CLI's default choice on a memory map) ----------------
def _stats(X):
    """Column min, max, mean, std (float64, two passes over the chunks) and whether every value
    is an integer, of raw rows X (LazyRows)."""
    X64 = X._derive(dtype=np.float64)
    n, d = X.shape
    lo, hi, total, integral = np.full(d, np.inf), np.full(d, -np.inf), np.zeros(d), True
    for _, block in X64.chunks():
        lo, hi = np.minimum(lo, block.min(axis=0)), np.maximum(hi, block.max(axis=0))
        total += block.sum(axis=0)
        integral = integral and bool((block == np.round(block)).all())
    mean = total / n
    sq = np.zeros(d)
    for _, block in X64.chunks():
        sq += ((block - mean) ** 2).sum(axis=0)
    return lo, hi, mean, np.sqrt(sq / n), integral


def standardize(X):
    """:func:`nnzero.preprocessing.standardize` of X, streamed in chunks for LazyRows (equal
    up to float64 rounding: sums of chunks instead of NumPy's pairwise sum)."""
    if not isinstance(X, LazyRows):
        return preprocessing.standardize(X)
    _, _, mean, std, _ = _stats(X)
    return preprocessing.standardize_spec(mean, std)


def choose(X, pixel_spec=preprocessing.SCALE_255):
    """:func:`nnzero.preprocessing.choose` of X, streamed in chunks for LazyRows."""
    if not isinstance(X, LazyRows):
        return preprocessing.choose(X, pixel_spec)
    lo, hi, mean, std, integral = _stats(X)
    raw_kind = X.data.dtype.kind
    if (X.shape[1] == preprocessing.PIXELS and raw_kind in "uif" and lo.min() >= 0 and hi.max() <= 255
            and (raw_kind != "f" or integral)):
        return pixel_spec, "784 integer columns in 0..255 (pixels)"
    return preprocessing.standardize_spec(mean, std), preprocessing.choice_reason(X.shape[1], lo.min(), hi.max())
