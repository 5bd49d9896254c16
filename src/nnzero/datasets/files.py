"""User data files for the CLI's ``--data``: ``.csv``, ``.npz``, ``.npy``; and the dataset checksum.

NumPy files are read with ``allow_pickle=False`` and validated before anything is allocated:
every array's header (dtype, shape) is checked against the bytes the file really holds, so a
header claiming a terabyte is refused instead of allocated.
"""

from __future__ import annotations

import hashlib
import os
import struct
import tokenize
import zipfile
import zlib
from pathlib import Path

import numpy as np

from .. import budget
from ..errors import DataError
from ..rows import chunk_rows, find_mmap, release_pages
from ..safety import check_input
from .csvfile import load_csv

X_KEYS = ("X", "x", "X_train", "x_train", "data", "images", "inputs", "features")
Y_KEYS = ("y", "Y", "y_train", "labels", "targets", "target")
# What NumPy's and zipfile's parsers raise on a malformed file (found by fuzzing: a header with
# a NUL byte ends in tokenize.TokenError, corrupt DEFLATE data in zlib.error).
_BAD_FILE = (ValueError, EOFError, SyntaxError, tokenize.TokenError, zlib.error, zipfile.BadZipFile,
             RecursionError, struct.error, NotImplementedError)
_NUMERIC_KINDS = "biuf"  # bool, signed, unsigned, float
_MAX_DEFLATE_RATIO = 1032  # DEFLATE cannot expand more than ~1032:1


def _read_npy_header(fp, where: str, kinds=_NUMERIC_KINDS):
    """Read a .npy magic + header from ``fp`` → (shape, dtype, number of payload bytes)."""
    try:
        version = np.lib.format.read_magic(fp)
        if version == (1, 0):
            shape, _, dtype = np.lib.format.read_array_header_1_0(fp)
        elif version == (2, 0):
            shape, _, dtype = np.lib.format.read_array_header_2_0(fp)
        else:
            raise DataError(f"{where}: unsupported .npy format version {version}")
    except DataError:
        raise
    except (*_BAD_FILE, OSError) as e:
        raise DataError(f"{where}: not a valid .npy array ({e})") from e
    if dtype.hasobject or dtype.kind not in kinds or dtype.fields is not None:
        raise DataError(f"{where}: holds {dtype} data; expected a numeric array (bool, int, "
                        f"float). Object arrays would need pickle, which nnzero never loads")
    count = 1
    for d in shape:
        count *= d
    return shape, dtype, count * dtype.itemsize


def _check_array(arr: np.ndarray, where: str, role: str) -> np.ndarray:
    """Common checks: non-empty, finite; X becomes 2-D (n, features), y stays 1-D."""
    if arr.size == 0 or arr.ndim == 0:
        raise DataError(f"{where}: {role} is empty or a scalar (shape {arr.shape})")
    # A memory map is checked for finite values later, in chunks, by the model (nnzero.rows).
    if arr.dtype.kind == "f" and not isinstance(arr, np.memmap) and not np.isfinite(arr).all():
        bad = np.argwhere(~np.isfinite(arr))[0]
        raise DataError(f"{where}: {role} has a non-finite value ({arr[tuple(bad)]}) at index "
                        f"{tuple(int(i) for i in bad)}")
    if role == "y":
        if arr.ndim == 2 and arr.shape[1] == 1:
            arr = arr[:, 0]
        if arr.ndim != 1:
            raise DataError(f"{where}: y must be 1-D (n_samples,), got shape {arr.shape}")
        return arr
    if arr.ndim == 1:
        raise DataError(f"{where}: X must be 2-D (n_samples, n_features), got shape "
                        f"{arr.shape}; reshape it to ({arr.shape[0]}, 1) if it is one feature")
    return arr.reshape(arr.shape[0], -1)  # images (n, 28, 28) → (n, 784)


def load_npy(path, role="X", mmap=False) -> np.ndarray:
    """Load one numeric array from a ``.npy`` file → X (n, features), or with ``role="y"``
    labels (n,) (numbers or unicode class names); never unpickles. ``mmap``: open it as a
    read-only ``np.memmap`` (nothing read yet) for data bigger than memory."""
    path = Path(path)
    where = str(path)
    try:
        with open(path, "rb") as f:
            shape, dtype, nbytes = _read_npy_header(f, where, _NUMERIC_KINDS + ("U" if role == "y" else ""))
            have = os.fstat(f.fileno()).st_size - f.tell()
            if have != nbytes:
                raise DataError(f"{where}: header declares {dtype} {shape} = {nbytes} bytes but "
                                f"the file holds {have}; it is truncated or corrupted")
            budget.check(nbytes, f"{where}: the array {dtype} {shape}")
            f.seek(0)
            arr = np.load(path if mmap else f, allow_pickle=False, mmap_mode="r" if mmap else None)
    except DataError:
        raise
    except OSError as e:
        raise DataError(f"{where}: cannot open: {e.strerror or e}") from e
    except _BAD_FILE as e:
        raise DataError(f"{where}: not a valid .npy file ({e})") from e
    return _check_array(arr, where, role)


def _zip_member_ok(zf: zipfile.ZipFile, name: str, where: str) -> int:
    """Check a .npz member's header and sizes before numpy allocates its array → its bytes.
    The zip directory's size comes first: not a byte is decompressed for a member over budget."""
    info = zf.getinfo(name)
    if info.flag_bits & 0x1:                  # zipfile would raise RuntimeError asking for a password
        raise DataError(f"{where}: member {name!r} is encrypted; np.savez writes plain members")
    budget.check(info.file_size, f"{where}: member {name!r} (decompressed size from the zip directory)")
    if info.compress_type == zipfile.ZIP_STORED:
        plausible = info.compress_size
    elif info.compress_type == zipfile.ZIP_DEFLATED:
        plausible = info.compress_size * _MAX_DEFLATE_RATIO + 1024
    else:
        raise DataError(f"{where}: member {name!r} uses zip compression method "
                        f"{info.compress_type}; expected stored or deflated (np.savez)")
    if info.file_size > plausible:
        raise DataError(f"{where}: member {name!r} claims {info.file_size} bytes, more than its "
                        f"{info.compress_size} compressed bytes can hold; the file is corrupted")
    with zf.open(info) as m:
        shape, dtype, nbytes = _read_npy_header(m, f"{where}[{name}]")
        header_len = m.tell()
    if header_len + nbytes != info.file_size:
        raise DataError(f"{where}: member {name!r} declares {dtype} {shape} = {nbytes} bytes but "
                        f"holds {info.file_size - header_len}; the file is truncated or corrupted")
    return nbytes


def load_npz(path):
    """Load ``(X, y or None)`` from a ``.npz`` archive, with ``allow_pickle=False``.

    X is the first of the keys X, x, X_train, x_train, data, images, inputs, features (or the only
    array), y the first of y, Y, y_train, labels, targets, target; other arrays are ignored (so a
    Keras-style ``x_train/y_train/x_test/y_test`` file gives its training split). X comes back as
    (n, features): images (n, 28, 28) are flattened. y keeps its stored dtype.
    """
    path = Path(path)
    where = str(path)
    try:
        with open(path, "rb") as f:
            head = f.read(4)
        # np.load decides by the first bytes: a file that starts as an .npy but carries a zip
        # directory at its end opens as a zip here yet loads as a bare array there.
        if head != b"PK\x03\x04":
            raise DataError(f"{where}: not a valid .npz file (it does not start as a zip archive)")
        with zipfile.ZipFile(path) as zf:
            names = {n[:-4]: n for n in zf.namelist() if n.endswith(".npy")}
            x_key = next((k for k in X_KEYS if k in names), None)
            if x_key is None and len(names) == 1:
                x_key = next(iter(names))
            if x_key is None:
                raise DataError(f"{where}: no array named {'/'.join(X_KEYS[:4])} (found "
                                f"{', '.join(sorted(names)) or 'no arrays'})")
            y_key = next((k for k in Y_KEYS if k in names), None)
            keys = [k for k in (x_key, y_key) if k is not None]
            total = sum(_zip_member_ok(zf, names[k], where) for k in keys)
            budget.check(total, f"{where}: its arrays {' and '.join(keys)} together")
        with np.load(path, allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in keys}
    except DataError:
        raise
    except OSError as e:
        raise DataError(f"{where}: cannot open: {e.strerror or e}") from e
    except (*_BAD_FILE, KeyError) as e:
        raise DataError(f"{where}: not a valid .npz file ({e})") from e
    X = _check_array(arrays[x_key], where, "X")
    if y_key is None:
        return X, None
    y = _check_array(arrays[y_key], where, "y")
    if len(y) != len(X):
        raise DataError(f"{where}: {len(y)} labels ({y_key}) for {len(X)} samples ({x_key})")
    return X, y


def load_file(path, labels=None, mmap=False, **kwargs):
    """Load ``(X, y or None)`` from a data file, by extension: .csv, .npz, or .npy (X only).

    ``labels``: a separate ``.npy`` file of labels (n,) for an X file without them
    (``X.npy`` + ``y.npy``). ``mmap``: an .npy X comes back as a read-only memory map (see
    :mod:`nnzero.rows`). Keyword arguments go to :func:`load_csv` (label_column=, ...).
    """
    if labels is not None:
        X, y = load_file(path, mmap=mmap, **kwargs)
        if y is not None:
            raise DataError(f"{path}: already holds labels; give a separate labels file only "
                            f"for data without them")
        y = load_labels(labels)
        if len(y) != len(X):
            raise DataError(f"{labels}: {len(y)} labels for the {len(X)} rows of {path}")
        return X, y
    path = Path(path)
    suffix = path.suffix.lower()
    check_input(path)        # before opening: a FIFO would block, a directory is not data
    if suffix == ".csv":
        return load_csv(path, **kwargs)
    if kwargs:
        raise DataError(f"{path}: options {', '.join(kwargs)} only apply to .csv files")
    if suffix == ".npz":
        return load_npz(path)
    if suffix == ".npy":
        return load_npy(path, mmap=mmap), None
    raise DataError(f"{path}: unsupported data file type {suffix or '(no extension)'!r}; "
                    f"expected .csv, .npz or .npy (for IDX files use --data-dir)")


def load_labels(path) -> np.ndarray:
    """Labels (n,) from a ``.npy`` file: integers, or unicode class names."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    if path.suffix.lower() != ".npy":
        raise DataError(f"{path}: a labels file must be .npy (one label per row), got "
                        f"{path.suffix or 'no extension'!r}")
    return load_npy(path, role="y")


def dataset_checksum(X, y=None) -> str:
    """SHA-256 hex of the data: each array's dtype, shape and little-endian bytes, X then y.

    The same values give the same checksum on any machine; it goes in the model file's metadata
    so a model can be traced to the exact data it saw.
    """
    h = hashlib.sha256(b"nnzero-dataset-v1;")
    for role, arr in (("X", X), ("y", y)):
        if arr is None:
            h.update(f"{role}:none;".encode())
            continue
        arr = np.asarray(arr)
        if arr.dtype.hasobject:
            raise DataError(f"dataset_checksum: {role} has dtype object; expected numbers")
        arr = arr.astype(arr.dtype.newbyteorder("<"), copy=False)  # no copy on x86/ARM
        h.update(f"{role}:{arr.dtype.str}:{arr.shape};".encode())
        # In ~16 MB pieces (same digest), releasing a memory map's pages as it goes.
        step = chunk_rows(arr[:1].nbytes) if arr.ndim else 1
        for start in range(0, max(1, len(arr)) if arr.ndim else 1, step):
            piece = arr[start:start + step] if arr.ndim else arr
            h.update(memoryview(np.ascontiguousarray(piece)).cast("B"))
            if isinstance(arr, np.memmap):
                release_pages(find_mmap(arr))
    return h.hexdigest()
