"""nnzero: a feedforward neural network whose every numerical step is plain NumPy.

    import nnzero as nz
    model = nz.Sequential([nz.Dense(784, 256), nz.ReLU(), nz.Dense(256, 10), nz.Softmax()])
    history = model.fit(X, y, epochs=10, batch_size=128, optimizer=nz.Adam(1e-3), seed=0)
"""

# The public names load on first use (PEP 562): `import nnzero` itself imports nothing heavy,
# so the `nnzero` command can take charge of Ctrl-C before NumPy loads (an interrupt while
# NumPy imports was a 30-line traceback), and a script that only needs nz.__version__ starts in
# a millisecond. `nz.Dense` imports nnzero.layers (and NumPy) the first time it is read.

from ._version import __version__

#: Where each public name lives: module (relative to the package) -> the names it gives.
_NAMES = {
    "augment": ("Augment",),
    "callbacks": ("Callback", "EarlyStopping", "History", "LambdaCallback"),
    "errors": ("ConfigError", "DataError", "ModelFileError", "NnzeroError", "NotFittedError", "ShapeError",
               "TrainingDivergedError"),
    "gradcheck": ("check_gradients",),
    "layers": ("Dense", "Dropout", "LeakyReLU", "ReLU", "Sigmoid", "Softmax", "Tanh"),
    "losses": ("MeanSquaredError", "SoftmaxCrossEntropy"),
    "model": ("Sequential", "mlp"),
    "optimizers": ("SGD", "Adam", "AdamW", "Constant", "Cosine", "StepDecay", "Warmup"),
    "serialization": ("load", "load_checkpoint", "save", "save_checkpoint"),
    # Interop leaves (ONNX export; networks from scikit-learn and PyTorch); not in __all__.
    "export": ("export_onnx",),
    "convert": ("from_sklearn", "from_torch"),
}
#: Submodules that are part of the public surface (`nz.datasets.load_mnist()`).
_MODULES = ("datasets", "initializers", "losses", "metrics", "optimizers", "recipes", "serialization")

_WHERE = {name: module for module, names in _NAMES.items() for name in names}
# Sequential.save writes through nnzero.serialization, which hooks itself in when imported (the
# model layer may not import the files layer above it). A model made through the package,
# nz.mlp(...).save(path), must find it there, as it did when this package imported everything.
# (Only user-facing modules here: importing serialization while one of its own dependencies is
# half-imported, e.g. from model.py's `from . import losses`, would be an import cycle.)
_MAKE_MODELS = ("model", "convert", "recipes")

__all__ = sorted({n for n, m in _WHERE.items() if m not in ("export", "convert")} | set(_MODULES))

# Type checkers and editors read the names from here; at run time __getattr__ does the work
# (tests/test_lazy_import.py checks the two agree, and tests/test_architecture.py sees these imports).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from . import datasets, initializers, losses, metrics, optimizers, recipes, serialization
    from .augment import Augment
    from .callbacks import Callback, EarlyStopping, History, LambdaCallback
    from .convert import from_sklearn, from_torch
    from .errors import (ConfigError, DataError, ModelFileError, NnzeroError, NotFittedError, ShapeError,
                         TrainingDivergedError)
    from .export import export_onnx
    from .gradcheck import check_gradients
    from .layers import Dense, Dropout, LeakyReLU, ReLU, Sigmoid, Softmax, Tanh
    from .losses import MeanSquaredError, SoftmaxCrossEntropy
    from .model import Sequential, mlp
    from .optimizers import SGD, Adam, AdamW, Constant, Cosine, StepDecay, Warmup
    from .serialization import load, load_checkpoint, save, save_checkpoint
del TYPE_CHECKING


def __getattr__(name):
    """Import the module that defines ``name`` on first use, and keep the value here."""
    import importlib.util

    module = _WHERE.get(name, name)
    if module in _MAKE_MODELS:
        importlib.import_module(".serialization", __name__)
    if name in _WHERE:
        value = getattr(importlib.import_module(f".{module}", __name__), name)
    elif not name.startswith("_") and importlib.util.find_spec(f"{__name__}.{name}"):
        value = importlib.import_module(f".{module}", __name__)   # any submodule: nz.explain, nz.images
    else:
        raise AttributeError(f"module 'nnzero' has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__():
    """The public names too (for tab completion and help()), not only those loaded so far."""
    return sorted(set(globals()) | set(_WHERE) | set(_MODULES))
