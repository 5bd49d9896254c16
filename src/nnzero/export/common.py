"""What the exporters share: reading the model, its preprocessing, and the output path."""

from pathlib import Path

from .. import layers as L
from .. import preprocessing as prep
from .. import safety
from ..errors import ConfigError


def missing_extra(what, extra):
    """The error for an optional package that is not installed."""
    return ConfigError(f"{what} needs the {extra} package: pip install 'nnzero[{extra}]'")


def load_model(model):
    """A Sequential as given, or loaded from a model-file path."""
    if isinstance(model, (str, Path)):
        from ..serialization import load

        return load(model)
    if not hasattr(model, "layers"):
        raise ConfigError(f"expected an nnzero Sequential or a model-file path, got {type(model).__name__}")
    return model


def model_preprocessing(model):
    """The preprocessing recorded with the model (from its file), or none."""
    spec = (getattr(model, "metadata", None) or {}).get("preprocessing")
    return prep.check(spec) if spec else prep.NONE


def check_target(path, force, kind, inputs=()):
    """``path`` as a Path, checked before any work: an existing one is an error unless ``force``;
    then :mod:`nnzero.safety`'s checks (a writable folder, not a device or FIFO, not one of
    ``inputs``: (name, path) pairs). ``kind``: 'file' or 'folder' (of predict.py, weights.npz)."""
    path = Path(path)
    if (path.exists() or path.is_symlink()) and not force:
        raise ConfigError(f"{path} already exists; use --force (force=True) to replace it")
    if kind == "file":
        if path.is_dir():
            raise ConfigError(f"{path} is a folder; expected a file path for the export")
        safety.check_output(path, "--out", inputs=inputs, writes="file", force=True)
    else:
        safety.check_output_folder(path, "--out", inputs=inputs)
        for name in ("predict.py", "weights.npz"):
            if (path / name).exists():
                safety.check_output(path / name, "--out", inputs=inputs, writes="file", force=True)
    return path


def check_exportable(model):
    """ConfigError naming the first layer ONNX (and the NumPy predictor) cannot express."""
    known = (L.Dense, L.Dropout, L.Softmax, L.ReLU, L.LeakyReLU, L.Tanh, L.Sigmoid)
    for i, layer in enumerate(model.layers):
        if type(layer) not in known:
            raise ConfigError(f"cannot export layer {i}, {type(layer).__name__}: supported layers are "
                              f"{', '.join(sorted(cls.__name__ for cls in known))}")
    if not model.built:
        raise ConfigError("cannot export a model without weights: fit (or load) it first")


def logit_layers(model):
    """The layers up to the logits: a classifier's output Softmax is applied separately (to the
    logits that ArgMax also reads), as ``Sequential.predict_proba`` does."""
    layers = list(model.layers)
    return layers[:-1] if model.is_classifier and isinstance(layers[-1], L.Softmax) else layers
