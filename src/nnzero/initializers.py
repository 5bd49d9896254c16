"""Weight initialisers: ``init(rng, n_in, n_out, dtype) -> W (n_in, n_out)``.

Each draws from the one ``np.random.Generator`` of the run, so the same seed gives the same
weights byte for byte. Biases are zero except in the seed recipe, which used 0.01.
"""

import numpy as np

from .errors import ConfigError


def he(rng, n_in, n_out, dtype=np.float32):
    """He/Kaiming normal: W ~ N(0, 2/n_in). Keeps the activation variance constant through ReLUs."""
    w = rng.standard_normal((n_in, n_out), dtype=np.float64) * np.sqrt(2.0 / n_in)
    return w.astype(dtype)


def glorot(rng, n_in, n_out, dtype=np.float32):
    """Glorot/Xavier uniform: W ~ U(-a, a), a = sqrt(6/(n_in+n_out)). Suits tanh and sigmoid."""
    a = np.sqrt(6.0 / (n_in + n_out))
    return rng.uniform(-a, a, size=(n_in, n_out)).astype(dtype)


def seed(rng, n_in, n_out, dtype=np.float32):
    """The original script's init: W = 0.1 * randn(n_in, n_out) (its biases were 0.01)."""
    return (0.1 * rng.standard_normal((n_in, n_out), dtype=np.float64)).astype(dtype)


INITIALIZERS = {"he": he, "glorot": glorot, "seed": seed}
# The bias each initialiser pairs with: the seed script used 0.01, modern practice uses 0.
BIAS_INIT = {"he": 0.0, "glorot": 0.0, "seed": 0.01}


def get(name):
    """Look up an initialiser by name ('he', 'glorot', 'seed')."""
    try:
        return INITIALIZERS[name]
    except (KeyError, TypeError):
        raise ConfigError(
            f"unknown initialiser {name!r}; expected one of {sorted(INITIALIZERS)}"
        ) from None
