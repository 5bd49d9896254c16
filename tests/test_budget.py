"""Readers check declared sizes against the byte budget (NNZERO_MAX_BYTES, default 4 GB) before
they allocate: small hostile files are one clear error, and the memory it takes is measured in a
fresh subprocess (peak resident set from ``resource.getrusage``)."""

import gzip
import json
import os
import struct
import subprocess
import sys
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pytest

import nnzero as nz
from nnzero import budget
from nnzero.errors import ConfigError, DataError

SRC = str(Path(nz.__file__).resolve().parents[1])
MB = 10**6

PROBE = r"""
import json, resource, sys
import nnzero
from nnzero import datasets, images, serialization
kind, path = sys.argv[1], sys.argv[2]
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
try:
    if kind == "file":
        datasets.load_file(path)
    elif kind == "idx":
        datasets.read_idx(path)
    elif kind == "dir":
        datasets.load_dataset("mnist", data_dir=path)
    elif kind == "image":
        images.load_digit(path)
    elif kind == "model":
        serialization.load(path)
    error = None
except nnzero.NnzeroError as exc:
    error = f"{type(exc).__name__}: {exc}"
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"error": error, "extra_mb": (after - before) / 1024}))
"""


def probe(kind, path, max_bytes=None):
    """Run one reader in a fresh interpreter → (error text or None, extra peak memory in MB)."""
    env = {**os.environ, "PYTHONPATH": SRC}
    env.pop("NNZERO_MAX_BYTES", None)
    if max_bytes is not None:
        env["NNZERO_MAX_BYTES"] = str(max_bytes)
    r = subprocess.run([sys.executable, "-c", PROBE, kind, str(path)], capture_output=True, text=True,
                       env=env, timeout=300)
    assert r.returncode == 0, r.stderr
    result = json.loads(r.stdout.splitlines()[-1])
    return result["error"], result["extra_mb"]


def npy_header(dtype, shape):
    header = repr({"descr": np.dtype(dtype).str, "fortran_order": False, "shape": shape}).encode()
    header += b" " * (63 - (10 + len(header)) % 64) + b"\n"
    return b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header


def test_budget_from_the_environment(monkeypatch):
    monkeypatch.delenv("NNZERO_MAX_BYTES", raising=False)
    assert budget.max_bytes() == 4 * 10**9
    for text, value in (("123", 123), ("8G", 8 * 10**9), ("512MiB", 512 * 2**20), ("1.5gb", 1_500_000_000)):
        monkeypatch.setenv("NNZERO_MAX_BYTES", text)
        assert budget.max_bytes() == value
    monkeypatch.setenv("NNZERO_MAX_BYTES", "lots")
    with pytest.raises(ConfigError, match="NNZERO_MAX_BYTES='lots' is not a size"):
        budget.max_bytes()
    monkeypatch.setenv("NNZERO_MAX_BYTES", "1000")
    with pytest.raises(DataError, match=r"x would need 6.8 GB of memory, over the 1 kB budget .* NNZERO_MAX_BYTES=7G"):
        budget.check(6_800_000_000, "x")


def test_a_deflated_npz_bomb_is_refused_from_its_zip_directory(tmp_path):
    """200 MB of zeros in a ~200 kB file: refused before a byte is decompressed."""
    path = tmp_path / "bomb.npz"
    n = 200 * MB // 784
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        with zf.open("X.npy", "w", force_zip64=True) as m:
            m.write(npy_header("u1", (n, 784)))
            zeros = bytes(784 * 1000)
            for _ in range(n // 1000):
                m.write(zeros)
            m.write(bytes(784 * (n % 1000)))
        zf.writestr("y.npy", npy_header("u1", (n,)) + bytes(n))
    assert path.stat().st_size < 2 * MB
    error, extra = probe("file", path, max_bytes=50 * MB)
    assert error.startswith(f"DataError: {path}: member 'X.npy' (decompressed size from the zip directory) "
                            "would need 200 MB of memory, over the 50 MB budget"), error
    assert "NNZERO_MAX_BYTES=" in error and extra < 20, extra
    error, _ = probe("file", path)                         # the default budget allows it
    assert error is None


def test_a_large_npy_is_refused_from_its_header(tmp_path):
    path = tmp_path / "big.npy"
    with open(path, "wb") as f:
        f.write(npy_header("<f4", (100_000, 1000)))
        f.truncate(f.tell() + 400 * MB)                    # a sparse file: no disk used
    error, extra = probe("file", path, max_bytes=100 * MB)
    assert "the array float32 (100000, 1000) would need 400 MB of memory, over the 100 MB budget" in error
    assert extra < 20


def test_idx_headers_are_checked_against_the_budget_and_the_labels_first(tmp_path):
    raw = tmp_path / "big.idx"
    with open(raw, "wb") as f:
        f.write(b"\x00\x00\x08\x03" + struct.pack(">III", 500_000, 28, 28))
        f.truncate(16 + 500_000 * 784)
    error, extra = probe("idx", raw, max_bytes=100 * MB)
    assert "IDX array 500000×28×28 uint8 would need 392 MB of memory, over the 100 MB budget" in error
    assert extra < 20
    # A folder whose image file claims 100000 images (78 MB of real, compressible zeros) for
    # 10 labels: the label count is compared with the images' header before their payload.
    folder = tmp_path / "dir"
    folder.mkdir()
    comp = zlib.compressobj(1, zlib.DEFLATED, 31)
    parts = [comp.compress(b"\x00\x00\x08\x03" + struct.pack(">III", 100_000, 28, 28))]
    parts += [comp.compress(bytes(784 * 1000)) for _ in range(100)] + [comp.flush()]
    for split in ("train", "t10k"):
        (folder / f"{split}-images-idx3-ubyte.gz").write_bytes(b"".join(parts))
        (folder / f"{split}-labels-idx1-ubyte.gz").write_bytes(
            gzip.compress(b"\x00\x00\x08\x01" + struct.pack(">I", 10) + bytes(10)))
    error, extra = probe("dir", folder)
    assert "10 labels for the 100000 images" in error and extra < 20, (error, extra)


def _png(width, height):
    """A valid PNG header (IHDR, one IDAT, IEND) declaring width × height grey pixels."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")


def test_image_pixel_counts_are_checked_before_decoding(tmp_path):
    pytest.importorskip("PIL")
    huge = tmp_path / "huge.png"
    huge.write_bytes(_png(20000, 10000))
    error, extra = probe("image", huge)
    assert error == (f"DataError: {huge}: the image is 20000×10000 = 200 million pixels, more than the 89 "
                     "million a digit image may have; scale it down first"), error
    assert extra < 20
    mid = tmp_path / "mid.png"
    mid.write_bytes(_png(5000, 5000))
    error, extra = probe("image", mid, max_bytes=10 * MB)
    assert "decoding the 5000×5000 image would need 100 MB of memory, over the 10 MB budget" in error
    assert extra < 20


def test_a_large_photo_is_reduced_before_the_float_work(tmp_path):
    Image = pytest.importorskip("PIL.Image")
    a = np.zeros((6000, 4000), np.uint8)
    a[1500:4500, 1800:2200] = 255                           # a thick "1"
    path = tmp_path / "one.png"
    Image.fromarray(a).save(path)
    error, extra = probe("image", path)
    assert error is None and extra < 150, extra                  # 24 MB decoded; float work on ≤ 2048²
    from nnzero import images

    x = images.load_digit(path)
    small = images.preprocess_digit(a[::10, ::10])
    assert np.abs(x - small).max() < 0.25 and x.reshape(28, 28)[14, 14] > 0.9


def test_a_model_file_over_budget_is_refused_before_reading(tmp_path):
    model = nz.Sequential([nz.Dense(300, 300), nz.Softmax()]).build(seed=0)
    path = tmp_path / "m.safetensors"
    model.save(path)
    error, _ = probe("model", path, max_bytes=100_000)
    assert error.startswith(f"ModelFileError: {path}: the model file would need 362 kB of memory, over the "
                            "100 kB budget"), error
