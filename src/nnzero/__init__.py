"""nnzero: a feedforward neural network whose every numerical step is plain NumPy.

    import nnzero as nz
    model = nz.Sequential([nz.Dense(784, 256), nz.ReLU(), nz.Dense(256, 10), nz.Softmax()])
    history = model.fit(X, y, epochs=10, batch_size=128, optimizer=nz.Adam(1e-3), seed=0)
"""

from . import datasets, initializers, losses, metrics, optimizers, recipes, serialization
from ._version import __version__
from .augment import Augment
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
from .gradcheck import check_gradients
from .layers import Dense, Dropout, LeakyReLU, ReLU, Sigmoid, Softmax, Tanh
from .losses import MeanSquaredError, SoftmaxCrossEntropy
from .model import Sequential, mlp
from .optimizers import SGD, Adam, AdamW, Constant, Cosine, StepDecay, Warmup
from .serialization import load, load_checkpoint, save, save_checkpoint

__all__ = [
    "Adam", "AdamW", "Augment", "Callback", "ConfigError", "Constant", "Cosine", "DataError", "Dense",
    "Dropout", "EarlyStopping", "History", "LambdaCallback", "LeakyReLU", "MeanSquaredError",
    "ModelFileError", "NnzeroError", "NotFittedError", "ReLU", "SGD", "Sequential", "ShapeError",
    "Sigmoid", "Softmax", "SoftmaxCrossEntropy", "StepDecay", "Tanh", "TrainingDivergedError",
    "Warmup", "check_gradients", "datasets", "initializers", "load", "load_checkpoint", "losses",
    "metrics", "mlp", "optimizers", "recipes", "save", "save_checkpoint", "serialization",
]


# Interop leaves (ONNX export; networks from scikit-learn and PyTorch) load on first use.
_LEAVES = {"export_onnx": ".export", "from_sklearn": ".convert", "from_torch": ".convert"}


def __getattr__(name):
    if name in _LEAVES:
        import importlib

        return getattr(importlib.import_module(_LEAVES[name], __name__), name)
    raise AttributeError(f"module 'nnzero' has no attribute {name!r}")
