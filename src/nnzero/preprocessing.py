"""Input preprocessing, stored by name in model files so prediction repeats it exactly.

    {"kind": "scale", "factor": 1/255}    x ← x · factor            (pixels 0..255 → [0, 1])
    {"kind": "binarize", "threshold": 0}  x ← 1 if x > threshold else 0   (the seed script)
    {"kind": "standardize", "mean": [μ_1..μ_d], "std": [σ_1..σ_d]}
                                          x_j ← (x_j − μ_j) / σ_j   (μ, σ of the training rows)
    {"kind": "none"}                      x unchanged

:func:`choose` picks a default from the data: pixel-like rows (integers in 0..255, 784 of
them) are scaled by 1/255; any other table is standardised, so features of very different
ranges (0..16, centimetres, dollars) all start near mean 0 and standard deviation 1.
"""

import numpy as np

from .errors import ConfigError, DataError

SCALE_255 = {"kind": "scale", "factor": 1 / 255}
BINARIZE = {"kind": "binarize", "threshold": 0.0}
NONE = {"kind": "none"}
KINDS = ("scale", "binarize", "standardize", "none")
PIXELS = 784          # 28 × 28: MNIST and its relatives


def _finite_number(v):
    return not isinstance(v, bool) and isinstance(v, (int, float)) and bool(np.isfinite(v))


def check(spec):
    """Validate a preprocessing spec (from a model file, say) and return it."""
    if not isinstance(spec, dict) or spec.get("kind") not in KINDS:
        raise ConfigError(f"unknown preprocessing {spec!r:.80}; expected kind {', '.join(map(repr, KINDS))}")
    if spec["kind"] == "standardize":
        mean, std = spec.get("mean"), spec.get("std")
        if not (isinstance(mean, list) and isinstance(std, list) and mean and len(mean) == len(std)
                and all(map(_finite_number, mean)) and all(_finite_number(s) and s > 0 for s in std)):
            raise ConfigError("preprocessing standardize needs lists 'mean' and 'std' of equal length, "
                              "finite numbers, std > 0")
        return spec
    for key in {"scale": ("factor",), "binarize": ("threshold",), "none": ()}[spec["kind"]]:
        v = spec.get(key)
        if not _finite_number(v):
            raise ConfigError(f"preprocessing {spec['kind']} needs a finite number {key!r}, got {v!r}")
    return spec


def standardize(X):
    """The standardize spec fitted to training rows X (n, d): μ_j and σ_j of each column, in
    float64; a constant column gets σ = 1 (it becomes 0, not NaN)."""
    X = np.asarray(X, dtype=np.float64)
    return standardize_spec(X.mean(axis=0), X.std(axis=0))


def standardize_spec(mean, std):
    """The standardize spec for column means and standard deviations (float64 arrays)."""
    std = np.array(std, dtype=np.float64)
    std[~(std > 1e-12 * np.maximum(1.0, np.abs(mean)))] = 1.0
    return {"kind": "standardize", "mean": np.asarray(mean, np.float64).tolist(), "std": std.tolist()}


def is_pixels(X):
    """True for MNIST-like rows: 784 columns of integers in 0..255."""
    X = np.asarray(X)
    if X.ndim != 2 or X.shape[1] != PIXELS or X.size == 0:
        return False
    if X.dtype.kind not in "uif" or X.min() < 0 or X.max() > 255:
        return False
    return X.dtype.kind != "f" or bool((X == np.round(X)).all())


def choose(X, pixel_spec=SCALE_255):
    """The default preprocessing for training rows X and the reason, in words:
    ``pixel_spec`` (a recipe's) for pixel-like data, else :func:`standardize` fitted to X."""
    if is_pixels(X):
        return pixel_spec, "784 integer columns in 0..255 (pixels)"
    return standardize(X), choice_reason(X.shape[1], float(np.min(X)), float(np.max(X)))


def choice_reason(n_columns, lo, hi):
    return f"{n_columns} columns of values in [{lo:.4g}, {hi:.4g}], not 784 pixels of 0..255"


def apply(X, spec, dtype=np.float32):
    """X (n, d) of any numeric dtype → preprocessed (n, d) array of ``dtype``."""
    spec = check(spec)
    X = np.asarray(X)
    if spec["kind"] == "binarize":
        return (X > spec["threshold"]).astype(dtype)
    out = X.astype(dtype)  # a new array: the caller's data is never modified
    if spec["kind"] == "scale":
        out *= out.dtype.type(spec["factor"])
    elif spec["kind"] == "standardize":
        if out.ndim != 2 or out.shape[1] != len(spec["mean"]):
            raise DataError(f"standardize was fitted to {len(spec['mean'])} features, the data have "
                            f"shape {out.shape}")
        out -= np.asarray(spec["mean"], dtype=out.dtype)
        out /= np.asarray(spec["std"], dtype=out.dtype)
    return out
