"""The exceptions nnzero raises on purpose.

Every error a user can cause (bad data, a bad file, a bad setting) is a subclass of
:class:`NnzeroError`, so the CLI can turn exactly these into one line on stderr and exit code 2,
while a genuine bug still shows its traceback.
"""


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
