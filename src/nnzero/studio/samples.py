"""What the network trains on: a grid of augmented training samples for the Train view's settings.

The settings go through ``nnzero train``'s own parser and recipe logic (the augmentation a run
would use, the data it would read), then :class:`~nnzero.Augment` warps the first training rows,
drawn from a generator seeded with the run's seed: examples of the training distribution, not the
run's own draws (those change every batch).
"""

from pathlib import Path

import numpy as np

from .. import datasets
from ..augment import Augment
from ..cli import common
from ..cli import train as cli_train
from ..errors import ConfigError
from .jobs import form_to_argv, train_parser
from .resumable import describe
from .views import u8

MAX_SAMPLES, MAX_COPIES = 32, 8
_rows = {}        # the data source -> its first MAX_SAMPLES training rows (float32)


def _first_rows(source):
    """The first training rows of the run's data (``nnzero train``'s source dict), raw pixels."""
    if source["kind"] == "dataset":
        key = ("dataset", source["name"], source.get("data_dir"))
    else:
        path = Path(source["path"])
        key = ("file", str(path.resolve()), path.stat().st_mtime_ns if path.exists() else None,
               source.get("label_column"), source.get("labels"))
    if key not in _rows:
        if source["kind"] == "dataset":
            (X, _), _ = datasets.load_dataset(source["name"], data_dir=source.get("data_dir"))
        else:
            X, _ = common.load_labelled(source["path"], "--data", source.get("label_column"),
                                        source.get("labels"), mmap=True)
        _rows[key] = np.asarray(X[:MAX_SAMPLES], dtype=np.float32).copy()
    return _rows[key]


def _count(name, value, default, hi):
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= hi:
        raise ConfigError(f"{name} must be an integer in 1..{hi}, got {value!r}")
    return value


def augmented_grid(form, samples=8, copies=2):
    """The Train form's settings → ``{"augment": config or None, "description", "shape": [H, W],
    "samples", "copies", "pixels": u8}``. ``pixels`` holds (1 + copies) × samples images of H·W
    bytes, row by row: the originals, then ``copies`` rows of warps of them; 0..255 spans the
    originals' range (the warps are clipped to it). ``augment`` None: the run has no augmentation
    (nothing else is returned then)."""
    samples = _count("samples", samples, 8, MAX_SAMPLES)
    copies = _count("copies", copies, 2, MAX_COPIES)
    args = train_parser().parse_args(form_to_argv(form) + ["--quiet"])   # the CLI's messages
    settings = cli_train._settings(args)
    config = settings["augment"]
    if not config:
        return {"augment": None, "description": "no augmentation: the network sees the training images as they are"}
    augment = Augment.from_config(config)
    X = _first_rows(cli_train._source(args))[:samples]
    h, w = augment.shape_for(X.shape[1])           # not images: a clear error
    rng = np.random.default_rng(settings["seed"])
    rows = [X] + [augment(X, rng) for _ in range(copies)]
    lo, hi = float(X.min()), float(X.max())
    q = np.round(255 * (np.clip(np.concatenate(rows), lo, hi) - lo) / max(hi - lo, 1e-12))
    return {"augment": config, "description": describe(config), "shape": [h, w], "samples": len(X),
            "copies": copies, "pixels": u8(q)}
