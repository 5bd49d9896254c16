"""Save and load models and checkpoints: ``nz.save(model, path)``, ``nz.load(path)``,
``save_checkpoint(path, model)``, ``load_checkpoint(path)``. Never pickle.

Files are safetensors with a JSON description (layout and checks in :mod:`nnzero.modelfile`):
PyTorch reads the weights with ``safetensors.torch.load_file``. A checkpoint holds everything
needed to continue a run with byte-identical results: weights, optimizer state, epoch, the RNG
state of the training stream, history and early-stopping state. Writes are atomic (temporary
file, fsync, rename): a crash at any moment leaves the old file or the new one, never a broken one.
"""

import json
import platform
from pathlib import Path

import numpy as np

from . import optimizers
from .callbacks import History
from ._atomic import atomic_write
from ._version import __version__
from .errors import ConfigError, ModelFileError, NotFittedError
from .model import Sequential
from .training import TrainState
from .modelfile import (CLASS_DTYPE, FORMAT_VERSION, USER_KEYS, check_document, checked, decode_classes,
                        check_digest, expected_tensors, parse_header, read_bytes, read_tensors, tensor_digest)


# -- writing ------------------------------------------------------------------------------------
def save(model, path, **metadata):
    """Write ``model`` (weights, architecture, classes) as a safetensors file at ``path``.

    Keyword metadata: ``preprocessing`` (see :mod:`nnzero.preprocessing`), ``training``,
    ``dataset`` and ``notes`` (JSON objects), ``seed``, ``history``. A model that was loaded
    from a file keeps that file's values unless given anew.
    """
    model.require_built()
    doc = _document(model, "model", metadata, model.history)
    _write(path, {k: v for k, v in model.params.items()}, doc)


def save_checkpoint(path, model, early_stopping=None, **metadata):
    """Write everything needed to resume training exactly, as of the last completed epoch.

    Taken from ``model.train_state`` (set by ``fit`` at every epoch end): weights, optimizer
    state, epoch, RNG state, history. ``early_stopping``: the run's EarlyStopping callback, whose
    best weights are saved too. Metadata keywords as for :func:`save`.
    """
    state = model.train_state
    if state is None:
        raise NotFittedError("the model has no training state to checkpoint: call fit() first")
    opt = state.optimizer
    name = opt.name
    if optimizers.OPTIMIZERS.get(name) is not type(opt):
        raise ConfigError(f"cannot checkpoint optimizer {type(opt).__name__}; expected one of "
                          f"{sorted(optimizers.OPTIMIZERS)} (add a new one to nnzero.optimizers.OPTIMIZERS)")
    try:
        opt_config = opt.config()
    except AttributeError:
        raise ConfigError("cannot checkpoint an optimizer whose schedule is a plain function; "
                          "use a Schedule from nnzero.optimizers") from None
    epoch = int(state.epoch)
    history = state.history.first(epoch)       # exactly the snapshot's epochs
    rng = state.rng_state
    ckpt = {
        "epoch": epoch, "epochs": int(state.epochs), "batch_size": state.batch_size,
        "optimizer": {"name": name, "config": opt_config, "t": int(state.optimizer_state["t"])},
        "rng_state": {"bit_generator": rng["bit_generator"],
                      "state": {k: str(v) for k, v in rng["state"].items()},
                      "has_uint32": int(rng["has_uint32"]), "uinteger": int(rng["uinteger"])},
        "early_stopping": None,
    }
    tensors = dict(state.weights)
    tensors.update({f"optimizer.{k}": v for k, v in state.optimizer_state["arrays"].items()})
    if early_stopping is not None:
        es = early_stopping
        best = getattr(es, "best_weights", None)
        best_epoch = getattr(es, "best_epoch", None)
        ckpt["early_stopping"] = {
            "monitor": es.monitor, "patience": es.patience, "min_delta": es.min_delta,
            "mode": es.mode, "restore_best_weights": bool(es.restore_best_weights),
            "best_epoch": None if best is None or best_epoch is None else int(best_epoch)}
        if best is not None and best_epoch is not None:
            tensors.update({f"early_stopping.{k}": v for k, v in best.items()})
    metadata.setdefault("seed", state.seed)
    doc = _document(model, "checkpoint", metadata, history)
    doc["checkpoint"] = ckpt
    _write(path, tensors, doc)


def _document(model, kind, metadata, history):
    unknown = set(metadata) - set(USER_KEYS)
    if unknown:
        raise ConfigError(f"unknown model-file metadata {sorted(unknown)}; expected some of {list(USER_KEYS)}")
    inherited = getattr(model, "metadata", None) or {}
    get = lambda key: metadata[key] if key in metadata else inherited.get(key)
    hist = get("history") if "history" in metadata else history
    if isinstance(hist, History):
        hist = hist.to_dict()
    seed = get("seed")
    if seed is None and isinstance(history, History):
        seed = history.seed
    training = get("training")
    state = model.train_state
    if training is None and state is not None and "training" not in metadata:
        opt = state.optimizer
        training = {"epochs": state.epochs, "batch_size": state.batch_size,
                    "optimizer": opt.name or type(opt).__name__}
        try:
            training["optimizer_config"] = opt.config()
        except AttributeError:
            pass
        if state.augment:
            training["augment"] = state.augment
    return {
        "format_version": FORMAT_VERSION, "kind": kind, "model": model.config(),
        "classes": _encode_classes(model.classes_), "preprocessing": get("preprocessing"),
        "training": training, "seed": seed, "dataset": get("dataset"), "notes": get("notes"),
        "history": hist,
        "versions": {"nnzero": __version__, "numpy": np.__version__,
                     "python": platform.python_version()},
    }


def _encode_classes(classes):
    if classes is None:
        return None
    a = np.asarray(classes)
    if not CLASS_DTYPE.fullmatch(a.dtype.str):
        raise ConfigError(f"cannot save class labels of dtype {a.dtype}; use integers, floats, "
                          "booleans or strings")
    return {"dtype": a.dtype.str, "values": a.tolist()}


def _write(path, tensors, doc):
    import safetensors.numpy

    arrays = {k: np.ascontiguousarray(v) for k, v in tensors.items()}
    # The tensor bytes do not depend on the metadata: serialise once without it to hash them.
    plain = safetensors.numpy.save(arrays)
    doc = {**doc, "tensors_sha256": tensor_digest(plain, 8 + int.from_bytes(plain[:8], "little"))}
    try:
        text = json.dumps(doc, allow_nan=False, separators=(",", ":"), default=_json_default)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"model-file metadata is not JSON-serialisable (no NaN/inf): {exc}") from None
    try:
        check_document(json.loads(text), Path(path))   # never write a file we would refuse to read
    except ModelFileError as exc:
        raise ConfigError(f"refusing to write {exc}") from None
    data = safetensors.numpy.save(arrays, metadata={"nnzero": text})
    check_digest(doc["tensors_sha256"], data, 8 + int.from_bytes(data[:8], "little"), Path(path))
    write_atomic(path, data)


def write_atomic(path, data):
    """Write ``data`` (bytes) to ``path`` via a temporary file, fsync and rename: a crash at any
    moment leaves the old file or the new one. An OSError names ``path``, not the temp file."""
    try:
        with atomic_write(path) as f:
            f.write(data)
    except OSError as exc:
        raise OSError(exc.errno, exc.strerror, str(path)) from None


def _json_default(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"{type(value).__name__} is not JSON-serialisable")


# -- reading ------------------------------------------------------------------------------------
def load(path, custom_layers=None):
    """The :class:`~nnzero.Sequential` stored in a model (or checkpoint) file, ready to predict.

    ``model.metadata`` holds the file's document (preprocessing, training, dataset, ...),
    ``model.history`` its History. ``custom_layers``: your own layer classes (a list, or a dict
    name → class) when they are not :func:`nnzero.layers.register`-ed. Raises ModelFileError
    for a missing or invalid file.
    """
    return _open(path, custom_layers)[0]


def load_checkpoint(path, custom_layers=None):
    """``(model, optimizer, state)`` from a checkpoint, to continue training exactly::

        model, opt, state = nz.load_checkpoint("run.ckpt.safetensors")
        model.fit(X, y, epochs=state.epochs, batch_size=state.batch_size,
                  optimizer=opt, resume=state)

    ``state`` is a :class:`~nnzero.training.TrainState`: seed, epoch, epochs, batch_size,
    optimizer_state, rng_state, history, optimizer, early_stopping ({settings..., best_epoch,
    best_weights} or None) and metadata (the file's document); the weights are the model's.
    """
    model, doc, tensors, path = _open(path, custom_layers)
    if doc["kind"] != "checkpoint":
        raise ModelFileError(f"{path}: is a model file, not a checkpoint (it has no optimizer "
                             "state); resume needs the .ckpt file written during training")
    ckpt = doc["checkpoint"]
    spec = ckpt["optimizer"]
    optimizer = _optimizer(doc, path)
    arrays = {k[len("optimizer."):]: v for k, v in tensors.items() if k.startswith("optimizer.")}
    rng = ckpt["rng_state"]
    es = ckpt["early_stopping"]
    if es is not None:
        best = {k[len("early_stopping."):]: v for k, v in tensors.items() if k.startswith("early_stopping.")}
        es = {**es, "best_weights": best or None}
    state = TrainState(
        epoch=ckpt["epoch"], epochs=ckpt["epochs"], seed=doc["seed"], batch_size=ckpt["batch_size"],
        optimizer_state={"t": spec["t"], "arrays": arrays},
        rng_state={"bit_generator": "PCG64", "state": {k: int(v) for k, v in rng["state"].items()},
                   "has_uint32": rng["has_uint32"], "uinteger": rng["uinteger"]},
        history=model.history, optimizer=optimizer, early_stopping=es, metadata=doc)
    return model, optimizer, state


def read_metadata(path):
    """The validated nnzero document of a model or checkpoint file (the file is fully checked)."""
    return _open(path)[1]


def _open(path, custom_layers=None):
    path = Path(path)
    data = read_bytes(path)
    entries, doc, start = parse_header(data, path)
    model = checked(Sequential.from_config, path, "model architecture", doc["model"], custom_layers)
    optimizer = _optimizer(doc, path) if doc["kind"] == "checkpoint" else None
    tensors = read_tensors(data, start, entries, expected_tensors(model, doc, optimizer), path,
                           doc["tensors_sha256"])
    model.build(rng=np.random.default_rng(0))        # shapes are checked: this allocates what the file holds
    checked(model.set_weights, path, "weights", {k: v for k, v in tensors.items() if k.split(".")[0].isdigit()})
    if doc["classes"] is not None:
        model.classes_ = decode_classes(doc["classes"], model, path)
    model.history = History.from_dict(doc["history"]) if doc["history"] is not None else None
    model.metadata = doc
    return model, doc, tensors, path


def _optimizer(doc, path):
    spec = doc["checkpoint"]["optimizer"]
    return checked(optimizers.get, path, "optimizer", spec["name"], **spec["config"])


Sequential.file_writer = save       # model.save(path) writes through this module; see model.py
