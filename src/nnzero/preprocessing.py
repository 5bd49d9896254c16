"""Input preprocessing, stored by name in model files so prediction repeats it exactly.

    {"kind": "scale", "factor": 1/255}    x ← x · factor            (pixels 0..255 → [0, 1])
    {"kind": "binarize", "threshold": 0}  x ← 1 if x > threshold else 0   (the seed script)
    {"kind": "none"}                      x unchanged
"""

import numpy as np

from .errors import ConfigError

SCALE_255 = {"kind": "scale", "factor": 1 / 255}
BINARIZE = {"kind": "binarize", "threshold": 0.0}
NONE = {"kind": "none"}


def check(spec):
    """Validate a preprocessing spec (from a model file, say) and return it."""
    if not isinstance(spec, dict) or spec.get("kind") not in ("scale", "binarize", "none"):
        raise ConfigError(f"unknown preprocessing {spec!r}; expected kind 'scale', 'binarize' or 'none'")
    for key in {"scale": ("factor",), "binarize": ("threshold",), "none": ()}[spec["kind"]]:
        v = spec.get(key)
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not np.isfinite(v):
            raise ConfigError(f"preprocessing {spec['kind']} needs a finite number {key!r}, got {v!r}")
    return spec


def apply(X, spec, dtype=np.float32):
    """X (n, d) of any numeric dtype → preprocessed (n, d) array of ``dtype``."""
    spec = check(spec)
    X = np.asarray(X)
    if spec["kind"] == "binarize":
        return (X > spec["threshold"]).astype(dtype)
    out = X.astype(dtype)  # a new array: the caller's data is never modified
    if spec["kind"] == "scale":
        out *= out.dtype.type(spec["factor"])
    return out
