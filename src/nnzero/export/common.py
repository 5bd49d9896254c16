"""What the exporters share: reading the model, its preprocessing, and the output path."""

from pathlib import Path

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
