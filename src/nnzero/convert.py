"""Networks trained elsewhere, as nnzero models: ``nz.from_sklearn(mlp)``, ``nz.from_torch(module)``.

The result is a plain :class:`~nnzero.model.Sequential` that predicts what the original
predicts, so nnzero's tools (summary, evaluate, explain, report, the studio, model files,
export) work on it. Weights are copied; the original is left untouched.

    scikit-learn MLPClassifier / MLPRegressor     coefs_[k] (d_in, d_out) → Dense W, intercepts_ → b;
                                                  activation relu/tanh/logistic/identity → ReLU/Tanh/Sigmoid/-
    torch.nn.Sequential                           Linear weight (d_out, d_in) → W = weightᵀ (d_in, d_out)

A binary scikit-learn classifier has one logistic output unit, p = σ(z). nnzero's output is a
softmax over two units; logits (0, z) give exactly (1 − σ(z), σ(z)), so the last layer gets a
column of zeros in front.
"""

import numpy as np

from . import layers as L
from . import preprocessing as prep
from .errors import ConfigError, NotFittedError
from .model import Sequential, as_dtype



def _assemble(specs, loss, dtype, classes=None, preprocessing=None):
    """A built Sequential from ``specs``: (layer, arrays or None) pairs; arrays are (W, b)."""
    model = Sequential([layer for layer, _ in specs], loss=loss, dtype=as_dtype(dtype)).build(seed=0)
    for layer, arrays in specs:
        if arrays is not None:
            layer.params["W"][...] = arrays[0]   # in place: the model keeps its own arrays
            layer.params["b"][...] = arrays[1]
    if classes is not None:
        classes = np.asarray(classes)
        if classes.dtype == object:            # e.g. strings from pandas: saved as a string array
            classes = classes.astype(str)
        model.set_classes(None, classes)
    if preprocessing is not None:
        model.metadata = {"preprocessing": prep.check(preprocessing)}
    return model


def from_sklearn(estimator, *, preprocessing=None):
    """The nnzero Sequential equal to a fitted scikit-learn ``MLPClassifier``/``MLPRegressor``
    (scikit-learn's own, or nnzero's). ``preprocessing`` (see :mod:`nnzero.preprocessing`) is
    recorded with the model for files and export; scikit-learn's model takes rows as they are."""
    model = getattr(estimator, "model_", None)
    if isinstance(model, Sequential):        # nnzero's own estimator: its network, copied
        import copy

        model = copy.deepcopy(model)
        if preprocessing is not None:
            model.metadata = {"preprocessing": prep.check(preprocessing)}
        return model
    name = type(estimator).__name__
    if name not in ("MLPClassifier", "MLPRegressor") or not hasattr(estimator, "activation"):
        raise ConfigError(f"from_sklearn expected a scikit-learn MLPClassifier or MLPRegressor, got {name}")
    if not hasattr(estimator, "coefs_"):
        raise NotFittedError(f"this {name} is not fitted yet: call fit() first")
    if estimator.activation not in L.SKLEARN_ACTIVATIONS:
        raise ConfigError(f"from_sklearn: activation {estimator.activation!r} has no nnzero layer; "
                          f"expected one of {sorted(L.SKLEARN_ACTIVATIONS)}")
    coefs, intercepts = list(estimator.coefs_), list(estimator.intercepts_)
    classifier = name == "MLPClassifier"
    if classifier and estimator.out_activation_ != "softmax":
        if len(estimator.classes_) != 2 or coefs[-1].shape[1] != 1:
            raise ConfigError("from_sklearn: a multilabel MLPClassifier (independent logistic outputs) "
                              "has no nnzero equivalent; nnzero classifiers end in a softmax")
        # Binary: σ(z) as a softmax over the logits (0, z).
        coefs[-1] = np.concatenate([np.zeros_like(coefs[-1]), coefs[-1]], axis=1)
        intercepts[-1] = np.concatenate([np.zeros_like(intercepts[-1]), intercepts[-1]])
    if not classifier and estimator.out_activation_ != "identity":
        raise ConfigError(f"from_sklearn: an MLPRegressor with output activation {estimator.out_activation_!r} "
                          "(loss='poisson') has no nnzero equivalent; expected loss='squared_error'")
    dtype = coefs[0].dtype
    act = L.ACTIVATIONS.get(L.SKLEARN_ACTIVATIONS[estimator.activation])
    specs = []
    for k, (W, b) in enumerate(zip(coefs, intercepts)):
        specs.append((L.Dense(W.shape[0], W.shape[1], init="glorot"), (W, b)))
        if k < len(coefs) - 1 and act is not None:
            specs.append((act(), None))
    if classifier:
        specs.append((L.Softmax(), None))
    return _assemble(specs, "cross_entropy" if classifier else "mse", dtype,
                     classes=estimator.classes_ if classifier else None, preprocessing=preprocessing)


def _torch_layers(module, torch):
    """The leaves of ``module`` (nested nn.Sequential flattened), as (index path, module) pairs."""
    nn = torch.nn
    if isinstance(module, nn.Sequential):
        out = []
        for name, child in module.named_children():
            out += [(f"{name}.{path}" if path else name, leaf) for path, leaf in _torch_layers(child, torch)]
        return out
    return [("", module)]


def _torch_layer(path, m, nn, last):
    """One nnzero (layer, arrays) pair for torch module ``m``, or None for the identity."""
    if isinstance(m, nn.Linear):
        W = m.weight.detach().cpu().numpy().T                       # (d_out, d_in) → (d_in, d_out)
        b = m.bias.detach().cpu().numpy() if m.bias is not None else np.zeros(W.shape[1], W.dtype)
        return L.Dense(m.in_features, m.out_features), (W, b)
    simple = {nn.ReLU: L.ReLU, nn.Tanh: L.Tanh, nn.Sigmoid: L.Sigmoid}
    if type(m) in simple:
        return simple[type(m)](), None
    if isinstance(m, nn.LeakyReLU) and 0 <= m.negative_slope < 1:
        return L.LeakyReLU(m.negative_slope), None
    if isinstance(m, nn.Dropout):
        return L.Dropout(m.p), None
    if isinstance(m, (nn.Identity, nn.Flatten)) and (not isinstance(m, nn.Flatten) or (m.start_dim, m.end_dim) == (1, -1)):
        return None                                                 # the identity on rows (n, d)
    if isinstance(m, (nn.Softmax, nn.LogSoftmax)) and m.dim in (1, -1) and (last or isinstance(m, nn.Softmax)):
        # A final LogSoftmax gives the same predict_proba (softmax of log-softmax = softmax).
        return L.Softmax(), None
    raise ConfigError(f"from_torch: module {path} is {m!r}, which nnzero has no layer for; supported: "
                      "Linear, ReLU, LeakyReLU (slope in [0, 1)), Tanh, Sigmoid, Dropout, Softmax(dim=1), "
                      "a final LogSoftmax(dim=1), Identity, Flatten()")


def from_torch(module, *, classes=None, loss="cross_entropy", preprocessing=None):
    """The nnzero Sequential equal to ``module``, an ``nn.Sequential`` of Linear layers and the
    activations nnzero has (see :func:`_torch_layer`).

    ``loss='cross_entropy'`` (a classifier: the module's outputs are logits, or probabilities
    if it ends in Softmax; a final Softmax is added if missing) with ``classes`` naming the
    outputs (default 0..C−1), or ``'mse'`` (a regressor: the outputs as they are).
    """
    try:
        import torch
    except ImportError:
        raise ConfigError("from_torch needs PyTorch: pip install torch") from None
    if not isinstance(module, torch.nn.Module):
        raise ConfigError(f"from_torch expected a torch.nn.Sequential, got {type(module).__name__}")
    leaves = _torch_layers(module, torch)
    specs = [s for i, (path, m) in enumerate(leaves)
             if (s := _torch_layer(path or type(m).__name__, m, torch.nn, i == len(leaves) - 1)) is not None]
    dense = [arrays for _, arrays in specs if arrays is not None]
    if not dense:
        raise ConfigError("from_torch: the module has no Linear layer")
    dtype = dense[0][0].dtype
    if dtype.name not in ("float32", "float64"):
        raise ConfigError(f"from_torch: weights of dtype {dtype} are not supported; expected float32 or float64 "
                          "(call module.float() or module.double() first)")
    if loss == "cross_entropy" and not isinstance(specs[-1][0], L.Softmax):
        specs.append((L.Softmax(), None))
    n_out = dense[-1][0].shape[1]
    if loss == "cross_entropy":
        classes = np.arange(n_out) if classes is None else np.asarray(classes)
        if classes.shape != (n_out,):
            raise ConfigError(f"from_torch: classes must name the {n_out} outputs, got {classes.tolist()[:12]}")
        # nnzero keeps classes_ sorted: permute the output units to match (exact, columns only).
        order = np.argsort(classes, kind="stable")
        W, b = dense[-1]
        i = next(k for k, (_, arrays) in enumerate(specs) if arrays is dense[-1])
        specs[i] = (specs[i][0], (W[:, order], b[order]))
        classes = classes[order]
    return _assemble(specs, loss, dtype, classes=classes if loss == "cross_entropy" else None,
                     preprocessing=preprocessing)
