"""MNIST (bundled) and its drop-in relatives Fashion-MNIST and Kuzushiji-MNIST (downloaded).

All three share one layout: four IDX files, 28×28 uint8 images and uint8 labels 0–9. MNIST ships
inside the package, so it loads with no network; the others are downloaded once into
:func:`~nnzero.datasets.cache_dir` from their official mirrors, each file's MD5 pinned (the sums
the dataset authors publish). Every load re-checks the checksums of the bundled or cached files.
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np

from ..errors import ConfigError, DataError, DownloadError
from .download import DEFAULT_TIMEOUT, cache_dir, download, file_digest
from .idx import _guarded, _read_idx_stream, read_idx, read_idx_header

#: role -> canonical file name, the same for the three datasets.
IDX_FILES = {
    "train_images": "train-images-idx3-ubyte.gz",
    "train_labels": "train-labels-idx1-ubyte.gz",
    "test_images": "t10k-images-idx3-ubyte.gz",
    "test_labels": "t10k-labels-idx1-ubyte.gz",
}


@dataclass(frozen=True)
class DatasetSpec:
    """What we know about one MNIST-like dataset: its files, their MD5s, where to get them."""

    name: str
    title: str
    md5: dict  # file name -> pinned md5 of the .gz file
    classes: tuple
    mirrors: tuple = ()  # base URLs, tried in order; file URL = base + file name
    bundled: bool = False
    homepage: str = ""
    license: str = ""
    citation: str = ""
    image_shape: tuple = (28, 28)
    files: dict = None  # role -> file name; filled in from IDX_FILES

    def __post_init__(self):
        if self.files is None:
            object.__setattr__(self, "files", dict(IDX_FILES))


DATASETS = {
    "mnist": DatasetSpec(
        name="mnist",
        title="MNIST",
        md5={
            "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
            "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
            "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
            "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
        },
        classes=tuple(str(d) for d in range(10)),
        bundled=True,
        homepage="http://yann.lecun.com/exdb/mnist/",
        license="CC BY-SA 3.0",
        citation="Yann LeCun, Corinna Cortes and Christopher J.C. Burges, The MNIST database "
                 "of handwritten digits",
    ),
    "fashion-mnist": DatasetSpec(
        name="fashion-mnist",
        title="Fashion-MNIST",
        md5={
            "train-images-idx3-ubyte.gz": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
            "train-labels-idx1-ubyte.gz": "25c81989df183df01b3e8a0aad5dffbe",
            "t10k-images-idx3-ubyte.gz": "bef4ecab320f06d8554ea6380940ec79",
            "t10k-labels-idx1-ubyte.gz": "bb300cfdad3c16e7a12a480ee83cd310",
        },
        classes=("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
                 "Sneaker", "Bag", "Ankle boot"),
        mirrors=(
            # Zalando Research's S3 bucket (its website endpoint is http-only; this is the
            # https REST endpoint of the same bucket), then the files in the GitHub repository.
            "https://fashion-mnist.s3.eu-central-1.amazonaws.com/",
            "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
        ),
        homepage="https://github.com/zalandoresearch/fashion-mnist",
        license="MIT",
        citation="Han Xiao, Kashif Rasul and Roland Vollgraf, Fashion-MNIST: a Novel Image "
                 "Dataset for Benchmarking Machine Learning Algorithms, arXiv:1708.07747",
    ),
    "kmnist": DatasetSpec(
        name="kmnist",
        title="Kuzushiji-MNIST",
        md5={
            "train-images-idx3-ubyte.gz": "bdb82020997e1d708af4cf47b453dcf7",
            "train-labels-idx1-ubyte.gz": "e144d726b3acfaa3e44228e80efcd344",
            "t10k-images-idx3-ubyte.gz": "5c965bf0a639b31b8f53240b1b52f4d7",
            "t10k-labels-idx1-ubyte.gz": "7320c461ea6c1c855c0b718fb2a4b134",
        },
        # Romanised names of the ten hiragana: お き す つ な は ま や れ を.
        classes=("o", "ki", "su", "tsu", "na", "ha", "ma", "ya", "re", "wo"),
        mirrors=("https://codh.rois.ac.jp/kmnist/dataset/kmnist/",),
        homepage="https://github.com/rois-codh/kmnist",
        license="CC BY-SA 4.0",
        citation="Tarin Clanuwat et al., Deep Learning for Classical Japanese Literature, "
                 "arXiv:1812.01718 (KMNIST, after ROIS-DS CODH's Kuzushiji dataset)",
    ),
}
_ALIASES = {"fashion": "fashion-mnist", "fmnist": "fashion-mnist", "fashionmnist": "fashion-mnist",
            "kuzushiji-mnist": "kmnist"}


def get_spec(name: str) -> DatasetSpec:
    """The DatasetSpec for ``name`` (case-insensitive; '_' and '-' are the same)."""
    key = str(name).strip().lower().replace("_", "-")
    key = _ALIASES.get(key, key)
    if key not in DATASETS:
        raise ConfigError(f"unknown dataset {name!r}; expected one of {', '.join(DATASETS)}")
    return DATASETS[key]


def _bundled_folder():
    return resources.files("nnzero.datasets") / "data" / "mnist"


def _mirrors(spec: DatasetSpec, mirror: str | None) -> tuple:
    """The base URLs to try. An explicit ``mirror`` (or ``$NNZERO_MIRROR``) replaces the official
    ones and holds one sub-folder per dataset: ``<mirror>/<dataset name>/<file>``."""
    base = mirror or os.environ.get("NNZERO_MIRROR")
    if base:
        return (base.rstrip("/") + "/" + spec.name + "/",)
    return spec.mirrors


def _check_md5(data: bytes, expected: str, where: str, fix: str) -> None:
    actual = file_digest(data, "md5")
    if actual != expected:
        raise DataError(f"{where}: checksum mismatch: expected md5 {expected}, got {actual}; {fix}")


def _read_bundled(spec: DatasetSpec) -> dict:
    """role -> bytes of the package's own copy, each checked against its pinned MD5."""
    folder = _bundled_folder()
    out = {}
    for role, fname in spec.files.items():
        where = f"{folder}/{fname}"
        try:
            data = (folder / fname).read_bytes()
        except OSError as e:
            raise DataError(f"{where}: the bundled {spec.title} file is missing ({e}); "
                            f"reinstall nnzero") from e
        _check_md5(data, spec.md5[fname], where, "the installed copy is corrupted; reinstall "
                   "nnzero")
        out[role] = (data, where)
    return out


def _read_file(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as e:
        raise DataError(f"{path}: cannot read: {e.strerror or e}") from e


def _offline_help(headline: str, spec: DatasetSpec, folder: Path, missing, tried) -> str:
    """The error text when files are missing: what was tried, and which files to put where."""
    lines = [headline]
    if tried:
        lines.append("Tried:")
        lines += [f"  {url}: {reason}" for url, reason in tried]
    lines.append(f"To use {spec.title} offline, get these files from {spec.homepage} and put "
                 f"them in {folder}:")
    lines += [f"  {fname}  (md5 {spec.md5[fname]})" for fname in missing]
    lines.append("or pass data_dir= (CLI: --data-dir) naming a folder that holds the four "
                 "IDX files.")
    return "\n".join(lines)


def _read_cached(spec: DatasetSpec, download_ok: bool, mirror, timeout) -> dict:
    """role -> bytes from the cache, downloading the files that are missing or fail their MD5."""
    folder = cache_dir() / spec.name
    out, missing = {}, []
    for role, fname in spec.files.items():
        path = folder / fname
        data = _read_file(path) if path.is_file() else None
        if data is not None and file_digest(data, "md5") != spec.md5[fname]:
            if not download_ok:
                _check_md5(data, spec.md5[fname], str(path),
                           "delete it to download it again, or use data_dir=")
            data = None  # corrupted cache entry: fetch a good copy, replacing it atomically
        if data is None:
            missing.append(fname)
        out[role] = (data, str(path))
    if missing and not download_ok:
        raise DataError(_offline_help(f"{spec.title} is not in the cache and download=False.",
                                      spec, folder, missing, []))
    for i, fname in enumerate(missing):
        tried = []
        for base in _mirrors(spec, mirror):
            try:
                download(base + fname, folder / fname, md5=spec.md5[fname], timeout=timeout)
                break
            except DownloadError as e:
                # The message starts with the URL, which the list below shows anyway.
                tried.append((base + fname, str(e).split(": ", 1)[-1]))
        else:
            raise DownloadError(_offline_help(f"could not download {spec.title}.",
                                              spec, folder, missing[i:], tried))
    for role, fname in spec.files.items():
        if out[role][0] is None:
            path = folder / fname
            data = _read_file(path)
            _check_md5(data, spec.md5[fname], str(path), "the cache was modified while loading")
            out[role] = (data, str(path))
    return out


def _find_in_dir(folder: Path, fname: str) -> Path | None:
    """``train-images-idx3-ubyte.gz`` may also be unzipped, or spelt ``train-images.idx3-ubyte``."""
    stem = fname[:-3]
    dotted = stem.replace("-idx", ".idx")
    for candidate in (fname, stem, dotted + ".gz", dotted):
        if (folder / candidate).is_file():
            return folder / candidate
    return None


def _read_user_dir(spec: DatasetSpec, data_dir) -> dict:
    """role -> bytes from a user's folder (no checksums: any IDX files of the right shapes)."""
    folder = Path(data_dir).expanduser()
    if not folder.is_dir():
        raise DataError(f"data_dir {folder} is not a folder")
    out, missing = {}, []
    for role, fname in spec.files.items():
        path = _find_in_dir(folder, fname)
        if path is None:
            missing.append(f"{fname[:-3]}[.gz]")
            continue
        out[role] = (path, str(path))        # read later, header first (see _split)
    if missing:
        raise DataError(f"data_dir {folder} lacks {', '.join(missing)}; expected the four IDX "
                        f"files {', '.join(f[:-3] + '[.gz]' for f in spec.files.values())}")
    return out


def _split(spec: DatasetSpec, raw: dict, train: bool):
    """Parse and cross-check one split → X (n, 784) uint8, y (n,) uint8."""
    prefix = "train" if train else "test"
    (xb, xname), (yb, yname) = raw[prefix + "_images"], raw[prefix + "_labels"]
    labels = _read(yb, yname)
    # The images' header against the labels before their payload: a lying count costs nothing.
    declared = read_idx_header(xb if isinstance(xb, Path) else io.BytesIO(xb))
    if labels.ndim == 1 and declared[0] != len(labels):
        raise DataError(f"{yname}: {len(labels)} labels for the {declared[0]} images {xname} declares")
    images = _read(xb, xname)
    if images.dtype != np.uint8 or images.ndim != 3 or images.shape[1:] != spec.image_shape:
        raise DataError(f"{xname}: expected uint8 images of shape (n, "
                        f"{', '.join(map(str, spec.image_shape))}), got {images.dtype} "
                        f"{images.shape}")
    if labels.dtype != np.uint8 or labels.ndim != 1:
        raise DataError(f"{yname}: expected uint8 labels of shape (n,), got {labels.dtype} "
                        f"{labels.shape}")
    if len(labels) != len(images):
        raise DataError(f"{yname}: {len(labels)} labels for the {len(images)} images in {xname}")
    top = int(labels.max())
    if top >= len(spec.classes):
        raise DataError(f"{yname}: label {top} out of range; {spec.title} has classes "
                        f"0..{len(spec.classes) - 1}")
    return images.reshape(len(images), -1), labels


def _read(source, name):
    """An IDX array from bytes (checksummed copies) or a path (a user's folder, streamed)."""
    if isinstance(source, Path):
        return read_idx(source)
    return _guarded(_read_idx_stream, io.BytesIO(source), name)


def _normalized(X: np.ndarray) -> np.ndarray:
    # One pass, exact division: 0 → 0.0, 255 → 1.0, no float64 temporary.
    return np.divide(X, np.float32(255), dtype=np.float32)


def load_dataset(name, normalize=False, data_dir=None, download=True, *, mirror=None,
                 timeout=DEFAULT_TIMEOUT):
    """Load an MNIST-like dataset → ``(X_train, y_train), (X_test, y_test)``.

    ``name``: one of :data:`DATASETS` ("mnist", "fashion-mnist", "kmnist").
    X is (n, 784) uint8, or float32 in [0, 1] with ``normalize=True``; y is (n,) uint8.
    MNIST comes from the package; the others from the cache, downloaded if missing (unless
    ``download=False``) from the official mirrors, or from ``mirror`` / ``$NNZERO_MIRROR``
    (a base URL holding ``<dataset name>/<file>``). ``data_dir`` reads the four IDX files
    (gzip or not) from your own folder instead, without checksums.
    """
    spec = get_spec(name)
    if data_dir is not None:
        raw = _read_user_dir(spec, data_dir)
    elif spec.bundled:
        raw = _read_bundled(spec)
    else:
        raw = _read_cached(spec, download, mirror, timeout)
    (X_train, y_train), (X_test, y_test) = _split(spec, raw, True), _split(spec, raw, False)
    if X_train.shape[1] != X_test.shape[1]:
        raise DataError(f"{raw['test_images'][1]}: test images have {X_test.shape[1]} pixels, "
                        f"training images {X_train.shape[1]}")
    if normalize:
        X_train, X_test = _normalized(X_train), _normalized(X_test)
    return (X_train, y_train), (X_test, y_test)


def load_mnist(normalize=False, data_dir=None):
    """The bundled MNIST digits → ``(X_train, y_train), (X_test, y_test)``, no network needed.

    X_train (60000, 784), X_test (10000, 784): uint8 0–255, or float32 in [0, 1] with
    ``normalize=True``; y (n,) uint8 digits 0–9. The files' MD5s are checked on every load.
    ``data_dir`` reads your own copy of the four IDX files instead.
    """
    return load_dataset("mnist", normalize=normalize, data_dir=data_dir)


def load_fashion_mnist(normalize=False, data_dir=None, download=True, **kwargs):
    """Zalando's Fashion-MNIST (10 clothing classes), same shapes as :func:`load_mnist`.

    Downloaded once (~30 MB) into ``cache_dir()/fashion-mnist``; see :func:`load_dataset`.
    """
    return load_dataset("fashion-mnist", normalize, data_dir, download, **kwargs)


def load_kmnist(normalize=False, data_dir=None, download=True, **kwargs):
    """Kuzushiji-MNIST (10 classes of cursive hiragana), same shapes as :func:`load_mnist`.

    Downloaded once (~20 MB) into ``cache_dir()/kmnist``; see :func:`load_dataset`.
    """
    return load_dataset("kmnist", normalize, data_dir, download, **kwargs)
