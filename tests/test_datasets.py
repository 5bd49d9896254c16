"""Bundled MNIST, the dataset registry, user folders (data_dir=) and the cache folder."""

import dataclasses
import re
import sys

import numpy as np
import pytest

from nnzero import datasets
from nnzero.datasets import DATASETS, load_dataset, load_mnist, write_idx
from nnzero.errors import ConfigError, DataError, IDXFormatError


@pytest.fixture(scope="module")
def mnist():
    return load_mnist()


def test_bundled_mnist_shapes_and_dtypes(mnist):
    (X, y), (Xt, yt) = mnist
    assert X.shape == (60000, 784) and X.dtype == np.uint8
    assert Xt.shape == (10000, 784) and Xt.dtype == np.uint8
    assert y.shape == (60000,) and yt.shape == (10000,) and y.dtype == yt.dtype == np.uint8
    assert X.min() == 0 and X.max() == 255


def test_bundled_mnist_known_content(mnist):
    (X, y), (Xt, yt) = mnist
    # The first labels and the class counts published for MNIST.
    assert y[:10].tolist() == [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]
    assert yt[:10].tolist() == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]
    assert np.bincount(y).tolist() == [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
    assert np.bincount(yt).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    # The mean and std everyone normalises MNIST with (torchvision's 0.1307, 0.3081).
    assert abs(X.mean() / 255 - 0.1307) < 5e-5 and abs(X.std() / 255 - 0.3081) < 5e-5


@pytest.mark.slow
def test_normalize_gives_float32_in_unit_interval(mnist):
    (X, _), (Xt, _) = mnist
    (Xn, y), (Xtn, _) = load_mnist(normalize=True)
    assert Xn.dtype == Xtn.dtype == np.float32 and Xn.shape == X.shape
    assert Xn.min() == 0.0 and Xn.max() == 1.0
    np.testing.assert_array_equal(Xn, X.astype(np.float32) / np.float32(255))
    np.testing.assert_array_equal(Xtn, Xt.astype(np.float32) / np.float32(255))


def test_each_call_returns_fresh_writable_arrays():
    (X1, y1), _ = load_mnist()
    X1[0, :] = 7
    y1[:] = 0
    (X2, y2), _ = load_mnist()
    assert X2[0, 0] == 0 and y2[0] == 5
    assert X2.flags.writeable and y2.flags.writeable


def test_bundled_checksums_are_checked(monkeypatch):
    spec = DATASETS["mnist"]
    md5 = dict(spec.md5, **{"t10k-labels-idx1-ubyte.gz": "0" * 32})
    monkeypatch.setitem(DATASETS, "mnist", dataclasses.replace(spec, md5=md5))
    with pytest.raises(DataError, match=r"t10k-labels-idx1-ubyte\.gz.*checksum mismatch.*reinstall"):
        load_mnist()


def test_bundled_md5s_match_the_shipped_md5sums_file():
    folder = datasets.mnist._bundled_folder()
    listed = dict(line.split()[::-1] for line in (folder / "MD5SUMS").read_text().splitlines())
    assert listed == DATASETS["mnist"].md5


def test_registry():
    assert set(DATASETS) == {"mnist", "fashion-mnist", "kmnist"}
    for name, spec in DATASETS.items():
        assert spec.name == name and len(spec.classes) == 10
        assert set(spec.md5) == set(spec.files.values())
        assert all(re.fullmatch("[0-9a-f]{32}", m) for m in spec.md5.values())
        assert spec.bundled or (spec.mirrors and all(m.startswith("https://") for m in spec.mirrors))
    assert DATASETS["fashion-mnist"].classes[9] == "Ankle boot"


def test_dataset_names_are_forgiving_but_unknown_names_fail():
    assert datasets.get_spec("Fashion_MNIST") is DATASETS["fashion-mnist"]
    assert datasets.get_spec("KMNIST") is DATASETS["kmnist"]
    with pytest.raises(ConfigError, match="unknown dataset 'cifar10'.*mnist, fashion-mnist, kmnist"):
        load_dataset("cifar10")


# --- data_dir: the user's own IDX files -----------------------------------------------------

def make_set(folder, n_train=6, n_test=4, names=None, seed=0):
    """Write a tiny MNIST-layout dataset; returns the arrays written."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    names = names or list(datasets.mnist.IDX_FILES.values())
    arrays = [rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
              rng.integers(0, 10, n_train, dtype=np.uint8),
              rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
              rng.integers(0, 10, n_test, dtype=np.uint8)]
    for name, arr in zip(names, arrays):
        write_idx(folder / name, arr)
    return arrays


@pytest.mark.parametrize("names", [
    None,
    ["train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte",
     "t10k-labels-idx1-ubyte"],
    ["train-images.idx3-ubyte", "train-labels.idx1-ubyte.gz", "t10k-images.idx3-ubyte",
     "t10k-labels-idx1-ubyte"],
])
def test_data_dir_reads_user_files_gz_or_not(tmp_path, names):
    xs, ys, xt, yt = make_set(tmp_path, names=names)
    (X, y), (Xt2, yt2) = load_mnist(data_dir=tmp_path)
    np.testing.assert_array_equal(X, xs.reshape(6, 784))
    np.testing.assert_array_equal(y, ys)
    np.testing.assert_array_equal(Xt2, xt.reshape(4, 784))
    np.testing.assert_array_equal(yt2, yt)
    (Xn, _), _ = load_dataset("fashion-mnist", normalize=True, data_dir=tmp_path, download=False)
    assert Xn.dtype == np.float32 and Xn.max() <= 1.0


def overwrite(folder, name, arr):
    for p in folder.glob(name.split("-idx")[0] + "*"):
        p.unlink()
    write_idx(folder / name, arr)


@pytest.mark.parametrize("name, arr, match", [
    ("train-labels-idx1-ubyte.gz", np.zeros(5, np.uint8), r"train-labels.*5 labels for the 6 images"),
    ("t10k-labels-idx1-ubyte.gz", np.array([0, 1, 10, 2], np.uint8), r"t10k-labels.*label 10 out of range"),
    ("train-images-idx3-ubyte.gz", np.zeros((6, 28, 28), np.int16), r"train-images.*uint8 images.*int16"),
    ("train-images-idx3-ubyte.gz", np.zeros((6, 20, 20), np.uint8), r"train-images.*\(6, 20, 20\)"),
    ("train-images-idx3-ubyte.gz", np.zeros((6, 784), np.uint8), r"train-images.*\(6, 784\)"),
    ("t10k-labels-idx1-ubyte.gz", np.zeros((4, 1), np.uint8), r"t10k-labels.*\(n,\)"),
])
def test_data_dir_inconsistent_files(tmp_path, name, arr, match):
    make_set(tmp_path)
    overwrite(tmp_path, name, arr)
    with pytest.raises(DataError, match=match):
        load_mnist(data_dir=tmp_path)


def test_data_dir_missing_or_corrupt_files(tmp_path):
    with pytest.raises(DataError, match="not a folder"):
        load_mnist(data_dir=tmp_path / "nope")
    make_set(tmp_path)
    (tmp_path / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(DataError, match=r"lacks t10k-labels-idx1-ubyte\[\.gz\]"):
        load_mnist(data_dir=tmp_path)
    (tmp_path / "t10k-labels-idx1-ubyte.gz").write_bytes(b"\x1f\x8b\x08\x00garbage")
    with pytest.raises(IDXFormatError, match="t10k-labels-idx1-ubyte.gz"):
        load_mnist(data_dir=tmp_path)


# --- cache folder ----------------------------------------------------------------------------

def test_cache_dir_from_env(monkeypatch, tmp_path):
    monkeypatch.setenv("NNZERO_DATA", str(tmp_path / "d"))
    assert datasets.cache_dir() == tmp_path / "d"


@pytest.mark.skipif(sys.platform in ("win32", "darwin"), reason="XDG layout")
def test_cache_dir_follows_xdg(monkeypatch, tmp_path):
    monkeypatch.delenv("NNZERO_DATA", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert datasets.cache_dir() == tmp_path / "xdg" / "nnzero"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert datasets.cache_dir() == tmp_path / "home" / ".cache" / "nnzero"
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/path")  # the XDG spec says: ignore it
    assert datasets.cache_dir() == tmp_path / "home" / ".cache" / "nnzero"
    assert not (tmp_path / "home").exists()  # asking does not create anything
