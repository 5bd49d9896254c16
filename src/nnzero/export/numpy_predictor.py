"""A stand-alone NumPy predictor: ``predict.py`` (the forward pass written out, NumPy only) and
``weights.npz`` (read with ``allow_pickle=False``), in one folder.

    nnzero.export.export_numpy(model, "predictor")     # or: nnzero export MODEL --format numpy --out predictor
    # elsewhere, with NumPy and nothing else:
    import predict; predict.predict(X); predict.predict_proba(X)

The generated code repeats nnzero's arithmetic step by step (preprocessing, Z = X·W + b, the
activations, max-shifted softmax) in the model's dtype, so it predicts what nnzero predicts.
"""

import io
import os
from pathlib import Path

import numpy as np

from .. import layers as L
from .. import preprocessing as prep
from .._atomic import atomic_write
from .._version import __version__
from .common import check_exportable, check_target, load_model, logit_layers, model_preprocessing

HEADER = '''"""Stand-alone predictor for an nnzero model; needs NumPy and nothing else.

Exported by nnzero {version}. Network: {layers}.
    import predict
    predict.predict(X){proba_usage}
X holds raw rows (n, {n_in}), as given to nnzero; the preprocessing below is part of the model.
From a shell:  python predict.py rows.npy   (or rows.csv) prints one prediction a line.
"""
import os
import sys

import numpy as np

_HERE = os.path.dirname(os.path.abspath(__file__))
with np.load(os.path.join(_HERE, "weights.npz"), allow_pickle=False) as _npz:
    W = {{name: _npz[name] for name in _npz.files}}
DTYPE = np.{dtype}
'''

HELPERS = {
    "sigmoid": '''

def sigmoid(z):
    """1 / (1 + e^(-z)), split by sign so that exp never overflows."""
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1 / (1 + e), e / (1 + e)).astype(z.dtype)
''',
    "softmax": '''

def softmax(z):
    """Row-wise e^(z - max z) / sum e^(z - max z); the shift keeps e^z from overflowing."""
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)
''',
}

CLASSIFIER_TAIL = '''

def predict_proba(X):
    """Class probabilities (n, {n_out}), columns in the order of W["classes"]."""
    return softmax(logits(X))


def predict(X):
    """The most probable class of each row, (n,)."""
    return W["classes"][logits(X).argmax(axis=1)]
'''

REGRESSOR_TAIL = '''

def predict(X):
    """The network's outputs (n, {n_out})."""
    return logits(X)
'''

MAIN = '''

if __name__ == "__main__":
    path = sys.argv[1]
    rows = np.load(path, allow_pickle=False) if path.endswith(".npy") else np.loadtxt(path, delimiter=",", ndmin=2)
    for value in predict(rows):
        print(value)
'''


def _forward_lines(model, spec):
    """The body of ``logits(X)``: one commented line per step; and the helpers it needs."""
    if spec["kind"] == "binarize":
        lines = [f"    x = (np.asarray(X) > {spec['threshold']!r}).astype(DTYPE)    # preprocessing: 1 where "
                 f"x > {spec['threshold']:g}, else 0"]
    else:
        lines = ["    x = np.asarray(X).astype(DTYPE)"]
    if spec["kind"] == "scale":
        lines.append(f"    x = x * DTYPE({spec['factor']!r})    # preprocessing: x * {spec['factor']:.6g}")
    helpers, weights = set(), {}
    if spec["kind"] == "standardize":
        weights["mean"] = np.asarray(spec["mean"], model.dtype)
        weights["std"] = np.asarray(spec["std"], model.dtype)
        lines.append('    x = (x - W["mean"]) / W["std"]    # preprocessing: standardize each feature')
    for i, layer in enumerate(logit_layers(model)):
        if isinstance(layer, L.Dense):
            weights[f"W{i}"], weights[f"b{i}"] = layer.params["W"], layer.params["b"]
            lines.append(f'    x = x @ W["W{i}"] + W["b{i}"]    # layer {i}, Dense: ({layer.n_in},) -> ({layer.n_out},)')
        elif isinstance(layer, L.ReLU):
            lines.append(f"    x = np.maximum(x, DTYPE(0))    # layer {i}, ReLU")
        elif isinstance(layer, L.LeakyReLU):
            lines.append(f"    x = np.where(x > 0, x, x * DTYPE({layer.alpha!r}))    # layer {i}, LeakyReLU")
        elif isinstance(layer, L.Tanh):
            lines.append(f"    x = np.tanh(x)    # layer {i}, Tanh")
        elif isinstance(layer, L.Sigmoid):
            helpers.add("sigmoid")
            lines.append(f"    x = sigmoid(x)    # layer {i}, Sigmoid")
        elif isinstance(layer, L.Softmax):
            helpers.add("softmax")
            lines.append(f"    x = softmax(x)    # layer {i}, Softmax")
        # Dropout: the identity at inference, nothing to write.
    return lines + ["    return x"], helpers, weights


def predictor_source(model, spec):
    """The text of ``predict.py`` and the arrays of ``weights.npz`` for ``model``."""
    check_exportable(model)
    spec = prep.check(spec)
    body, helpers, weights = _forward_lines(model, spec)
    if model.is_classifier:
        helpers.add("softmax")
        classes = model.classes_ if model.classes_ is not None else np.arange(model.n_outputs)
        weights["classes"] = np.asarray(classes).astype(str) if np.asarray(classes).dtype == object else np.asarray(classes)
    layers = " -> ".join(type(layer).__name__ + (f"({layer.n_in}, {layer.n_out})" if isinstance(layer, L.Dense) else "")
                         for layer in model.layers)
    proba_usage = "; predict.predict_proba(X)" if model.is_classifier else ""
    text = HEADER.format(version=__version__, layers=layers, proba_usage=proba_usage,
                         n_in=model.n_features, dtype=model.dtype.name)
    text += "".join(HELPERS[h] for h in sorted(helpers))
    what = "the output layer's values before softmax" if model.is_classifier else "the outputs"
    text += f'\n\ndef logits(X):\n    """Raw rows X (n, {model.n_features}) -> {what}, (n, {model.n_outputs})."""\n'
    text += "\n".join(body) + "\n"
    text += (CLASSIFIER_TAIL if model.is_classifier else REGRESSOR_TAIL).format(n_out=model.n_outputs)
    return text + MAIN, weights


def export_numpy(model, folder, *, preprocessing=None, force=False):
    """Write ``predict.py`` and ``weights.npz`` for ``model`` (a Sequential or a model-file path)
    into ``folder`` (created). An existing ``folder`` is refused unless ``force``, which replaces
    the two files and leaves anything else there alone. Returns the path of ``predict.py``."""
    source = [("MODEL", model)] if isinstance(model, (str, Path)) else []
    folder = check_target(folder, force, kind="folder", inputs=source)
    model = load_model(model)
    spec = model_preprocessing(model) if preprocessing is None else preprocessing
    text, weights = predictor_source(model, spec)
    os.makedirs(folder, exist_ok=True)
    buffer = io.BytesIO()
    np.savez(buffer, **weights)
    with atomic_write(folder / "weights.npz") as f:
        f.write(buffer.getvalue())
    with atomic_write(folder / "predict.py") as f:
        f.write(text.encode("utf-8"))
    return folder / "predict.py"
