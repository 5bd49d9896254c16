"""nnzero: a feedforward neural network whose every numerical step is plain NumPy.

    import nnzero as nz
    model = nz.Sequential([nz.Dense(784, 256), nz.ReLU(), nz.Dense(256, 10), nz.Softmax()])
    history = model.fit(X, y, epochs=10, batch_size=128, optimizer=nz.Adam(1e-3), seed=0)
"""

__version__ = "0.1.0"

from . import datasets, initializers, losses, metrics, optimizers
from .callbacks import Callback, EarlyStopping, History, LambdaCallback
from .errors import (
    ConfigError,
    DataError,
    ModelFileError,
    NnzeroError,
    NotFittedError,
    ShapeError,
    TrainingDivergedError,
)
from .layers import Dense, Dropout, LeakyReLU, ReLU, Sigmoid, Softmax, Tanh
from .losses import MeanSquaredError, SoftmaxCrossEntropy
from .model import Sequential, mlp
from .optimizers import SGD, Adam, AdamW, Constant, Cosine, StepDecay, Warmup

__all__ = [
    "Adam", "AdamW", "Callback", "ConfigError", "Constant", "Cosine", "DataError", "Dense",
    "Dropout", "EarlyStopping", "History", "LambdaCallback", "LeakyReLU", "MeanSquaredError",
    "ModelFileError", "NnzeroError", "NotFittedError", "ReLU", "SGD", "Sequential", "ShapeError",
    "Sigmoid", "Softmax", "SoftmaxCrossEntropy", "StepDecay", "Tanh", "TrainingDivergedError",
    "Warmup", "datasets", "initializers", "losses", "metrics", "mlp", "optimizers",
]


_LEAVES = {"export_onnx": ".export", "from_sklearn": ".convert", "from_torch": ".convert"}


def __getattr__(name):
    # io, inspect and recipes pull in safetensors etc.; load them on first use.
    if name in ("load", "save", "io", "inspect", "check_gradients", "recipes"):
        import importlib

        if name in ("load", "save"):
            return getattr(importlib.import_module(".io", __name__), name)
        if name == "check_gradients":
            return importlib.import_module(".inspect", __name__).check_gradients
        return importlib.import_module("." + name, __name__)
    if name in _LEAVES:   # interop: leaf modules, loaded on first use
        import importlib

        return getattr(importlib.import_module(_LEAVES[name], __name__), name)
    raise AttributeError(f"module 'nnzero' has no attribute {name!r}")
