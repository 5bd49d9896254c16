"""The exceptions nnzero raises on purpose.

Every error a user can cause (bad data, a bad file, a bad setting) is a subclass of
:class:`NnzeroError`, so the CLI can turn exactly these into one line on stderr and exit code 2,
while a genuine bug still shows its traceback. ``is_int`` and ``positive_int`` are the one
check of an integer setting that the package uses everywhere.
"""

import numbers


class NnzeroError(Exception):
    """Base class of every expected, user-facing nnzero error."""


class ShapeError(NnzeroError, ValueError):
    """An array has the wrong shape, e.g. ``Dense expected 784 input features, got 783``."""


class DataError(NnzeroError, ValueError):
    """Input data is unusable: NaN/inf, empty, unknown labels, unreadable file."""


class IDXFormatError(DataError):
    """An IDX file (the MNIST container format) is truncated, corrupted or not IDX at all."""


class DownloadError(DataError):
    """A dataset could not be downloaded or failed its checksum."""


class ModelFileError(NnzeroError, ValueError):
    """A model or checkpoint file is missing, truncated, corrupted or not an nnzero file."""


class ConfigError(NnzeroError, ValueError):
    """A setting has an invalid value (learning rate, layer size, unknown name...)."""


class NotFittedError(NnzeroError, RuntimeError):
    """The model has no weights yet: call ``fit`` or ``build`` first."""


class TrainingDivergedError(NnzeroError, FloatingPointError):
    """Loss or weights became NaN/inf; training stopped and the last good weights were restored."""

    def __init__(self, message, history=None):
        super().__init__(message)
        self.history = history


class DivergenceWarning(UserWarning):
    """The loss grew by orders of magnitude without becoming NaN: training is probably diverging."""


def is_int(value, low=None, high=None):
    """True for an integer (Python or NumPy, not a bool) with ``low ≤ value ≤ high``."""
    return (isinstance(value, numbers.Integral) and not isinstance(value, bool)
            and (low is None or value >= low) and (high is None or value <= high))


def positive_int(name, value, allow_none=False):
    """``value`` as an int ≥ 1 (or None, if ``allow_none``); else a ConfigError naming ``name``."""
    if value is None and allow_none:
        return None
    if not is_int(value, 1):
        raise ConfigError(f"{name} must be a positive integer{' or None' if allow_none else ''}, got {value!r}")
    return int(value)
