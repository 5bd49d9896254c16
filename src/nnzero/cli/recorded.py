"""The settings a checkpoint records, checked by type and range before a resumed run uses them.

A checkpoint is a file, and a file can be edited or crafted: ``training.lr = "abc"`` or a
400-digit momentum must be one clear error naming the file and the setting, found before any
data is read, not a traceback (or a TypeError an epoch later).
"""

import math

from .. import recipes
from ..errors import ModelFileError, NnzeroError, is_int
from ..layers import ACTIVATIONS
from ..optimizers import OPTIMIZERS

MAX_UNITS = 1 << 20          # a hidden layer wider than a million units is not a recorded run of ours


def _int(v, low, high=2**63 - 1):
    return is_int(v, low, high)


def _number(v, low, high, low_open=False, high_open=False):
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return False
    try:
        v = float(v)
    except OverflowError:
        return False
    return (math.isfinite(v) and (v > low if low_open else v >= low) and (v < high if high_open else v <= high))


def _optional(check):
    return lambda v: v is None or check(v)


CHECKS = {
    "hidden": ("a list of layer sizes 1..2**20", lambda v: isinstance(v, list) and len(v) <= 1000
               and all(_int(s, 1, MAX_UNITS) for s in v)),
    "activation": (f"one of {sorted(ACTIVATIONS)}", lambda v: isinstance(v, str) and v in ACTIVATIONS),
    "init": ("he, glorot or seed", lambda v: v in ("he", "glorot", "seed")),
    "dropout": ("a number in [0, 1)", lambda v: _number(v, 0, 1, high_open=True)),
    "optimizer": (f"one of {sorted(OPTIMIZERS)}", lambda v: isinstance(v, str) and v in OPTIMIZERS),
    "lr": ("a number > 0", lambda v: _number(v, 0, 1e30, low_open=True)),
    "momentum": ("a number in [0, 1)", lambda v: _number(v, 0, 1, high_open=True)),
    "weight_decay": ("a number ≥ 0", lambda v: _number(v, 0, 1e30)),
    "schedule": ("null or an object with a name", lambda v: v is None or (isinstance(v, dict) and isinstance(
        v.get("name"), str) and all(_number(x, -1e30, 1e30) for k, x in v.items() if k != "name"))),
    "epochs": ("an integer 1..10**9", lambda v: _int(v, 1, 10**9)),
    "batch_size": ("null or an integer ≥ 1", _optional(lambda v: _int(v, 1))),
    "validation_split": ("a number in [0, 1)", lambda v: _number(v, 0, 1, high_open=True)),
    "early_stopping": ("null or an integer ≥ 1", _optional(lambda v: _int(v, 1))),
    "dtype": ("float32 or float64", lambda v: v in ("float32", "float64")),
    "recipe": ("a recipe name", lambda v: isinstance(v, str) and len(v) < 100),
    "seed": ("an integer ≥ 0", lambda v: _int(v, 0)),
    "checkpoint_every": ("null or an integer ≥ 1", _optional(lambda v: _int(v, 1, 10**9))),
    "out": ("a file name", _optional(lambda v: isinstance(v, str) and 0 < len(v) < 4096 and "\0" not in v)),
    "checkpoint": ("a file name", _optional(lambda v: isinstance(v, str) and 0 < len(v) < 4096 and "\0" not in v)),
}


def _augment(v):
    from ..augment import Augment

    try:
        return v is None or Augment.from_config(v) is not None
    except (NnzeroError, TypeError, ValueError):
        return False


CHECKS["augment"] = ("null or augmentation settings (nnzero.Augment's)", _augment)
SOURCE_CHECKS = {
    "kind": ("file or dataset", lambda v: v in ("file", "dataset")),
    "test_split": ("null or a number in [0, 1)", _optional(lambda v: _number(v, 0, 1, high_open=True))),
    **{k: ("null or a path", _optional(lambda v: isinstance(v, str) and 0 < len(v) < 4096 and "\0" not in v))
       for k in ("name", "path", "data_dir", "test_data", "labels", "test_labels")},
}


def check_settings(settings, path):
    """Each recorded training setting that a resumed run uses has the right type and range, and
    the optimizer they describe can be built; else ModelFileError naming the setting."""
    _check(settings, CHECKS, path, "training setting")
    try:
        recipes.build_optimizer(settings)
    except (NnzeroError, TypeError, ValueError, OverflowError) as exc:
        raise ModelFileError(f"{path}: the recorded optimizer settings are invalid: {exc}") from None
    return settings


def check_source(recorded, path):
    """The recorded data source (dataset metadata) of a checkpoint, checked the same way."""
    _check(recorded, SOURCE_CHECKS, path, "dataset field")
    return recorded


def _check(values, checks, path, what):
    for key, (expected, ok) in checks.items():
        if key in values and not ok(values[key]):
            shown = repr(values[key])
            shown = shown if len(shown) <= 60 else shown[:57] + "..."
            raise ModelFileError(f"{path}: recorded {what} {key!r} must be {expected}, got {shown}")
