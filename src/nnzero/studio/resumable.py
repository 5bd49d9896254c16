"""Runs left to resume: the checkpoints ``nnzero train`` wrote in the studio's folder for runs that
did not finish (stopped from the page, interrupted by the server's shutdown, or by Ctrl-C in a
terminal). After a restart of ``nnzero studio`` in the same folder the Train view lists them, and
Resume continues one exactly (``nnzero train --resume CKPT``)."""

import math
from pathlib import Path

from .. import recipes
from ..augment import DEFAULTS, PRESETS
from ..errors import NnzeroError
from ..serialization import read_metadata

SUFFIX = ".ckpt.safetensors"
_cache = {}       # path -> ((mtime_ns, size), entry or None): a checkpoint is read once per change


def describe(config):
    """'shift ±2 px, rotate ±12°, scale ±10%, shear ±0.15, elastic 1 px (σ 4 px)'."""
    parts = []
    if config.get("shift"):
        parts.append(f"shift ±{config['shift']:g} px")
    if config.get("rotate"):
        parts.append(f"rotate ±{config['rotate']:g}°")
    if config.get("scale"):
        parts.append(f"scale ±{100 * config['scale']:g}%")
    if config.get("shear"):
        parts.append(f"shear ±{config['shear']:g}")
    if config.get("elastic"):
        parts.append(f"elastic {config['elastic']:g} px (σ {config.get('elastic_sigma', 4.0):g} px)")
    return ", ".join(parts) or "identity (every setting 0)"


def _entry(path):
    """The listing's entry for the checkpoint at ``path``: None for a file that is not a
    checkpoint of 'nnzero train', or whose run reached its last epoch."""
    try:
        doc = read_metadata(path)
    except NnzeroError:
        return None                    # not ours to list (a broken file is reported when resumed)
    ckpt, training = doc.get("checkpoint"), doc.get("training") or {}
    if doc.get("kind") != "checkpoint" or not ckpt or "out" not in training:
        return None
    epoch, epochs = int(ckpt["epoch"]), int(ckpt["epochs"])
    if epoch >= epochs:
        return None
    history = doc.get("history") or {}
    last = {k: (history.get(k) or [None])[-1] for k in ("loss", "accuracy", "val_loss", "val_accuracy")}
    dataset = doc.get("dataset") or {}
    return {
        "checkpoint": path.name, "path": str(path), "epoch": epoch, "epochs": epochs,
        "model": training["out"], "data": dataset.get("name"), "form": _form(training, dataset, doc.get("seed")),
        "settings": {"recipe": training.get("recipe"), "hidden": training.get("hidden"),
                     "optimizer": training.get("optimizer"), "lr": training.get("lr"),
                     "batch_size": training.get("batch_size"), "dropout": training.get("dropout"),
                     "augment": describe(training["augment"]) if training.get("augment") else None, "seed": doc.get("seed"),
                     "validation_split": training.get("validation_split")},
        "last": {k: v for k, v in last.items() if isinstance(v, float) and math.isfinite(v)},
    }


def _form(training, dataset, seed):
    """The Train form's fields for these settings (shown while the resumed run goes)."""
    form = {"recipe": training.get("recipe"), "optimizer": training.get("optimizer"),
            "hidden": ",".join(map(str, training.get("hidden") or [])) or "none"}
    for key in ("lr", "epochs", "batch_size", "dropout", "validation_split", "out"):
        value = training.get(key)
        form[key] = "full" if key == "batch_size" and value is None else value
    form["seed"] = seed
    form["augment"] = _augment_field(training.get("augment"), training.get("recipe"))
    if dataset.get("kind") == "file":
        form["data"] = dataset.get("path")
    else:
        form["dataset"] = dataset.get("name")
    return {k: "" if v is None else str(v) for k, v in form.items()}


def _augment_field(config, recipe):
    """The form's augmentation choice for a recorded config: "" (the recipe's own), a preset's
    name, or "none"; a config of custom flags shows as the recipe's (the form has no fields for them)."""
    def full(c):
        return {**DEFAULTS, **c}
    own = (recipes.RECIPES.get(recipe) or {}).get("augment")
    if not config:
        return "none" if own else ""
    if own and full(own) == full(config):
        return ""
    return next((name for name, preset in PRESETS.items() if full(preset) == full(config)), "")


def _finished(entry):
    """Its model file exists: the run was resumed to its end already (nnzero train never
    overwrites a model file without --force, so a stopped run has none)."""
    return Path(entry["model"]).exists()


def find(folder, exclude=None):
    """The resumable runs in ``folder``, newest first: a list of dicts (checkpoint, path, epoch,
    epochs, model, data, settings, last epoch's metrics). ``exclude``: a checkpoint path to
    leave out (the run going now)."""
    found = []
    for path in Path(folder).glob("*" + SUFFIX):
        try:
            stat = path.stat()
        except OSError:
            continue
        key = (stat.st_mtime_ns, stat.st_size)
        cached = _cache.get(path)
        if cached is None or cached[0] != key:
            cached = _cache[path] = (key, _entry(path))
        entry = cached[1]
        if entry is None or _finished(entry) or (exclude is not None and Path(exclude).resolve() == path.resolve()):
            continue
        found.append((stat.st_mtime_ns, entry))
    return [e for _, e in sorted(found, key=lambda t: -t[0])]


def history_events(path):
    """The checkpoint's epochs as the stream's ``epoch`` events, so a run resumed after a restart
    shows its curves from the start."""
    doc = read_metadata(path)
    history, epochs = doc.get("history") or {}, int(doc["checkpoint"]["epochs"])
    diagnostics = history.get("diagnostics") or []
    events = []
    for i, epoch in enumerate(history.get("epoch") or []):
        logs = {}
        for k in ("loss", "accuracy", "val_loss", "val_accuracy", "lr", "time"):
            values = history.get(k) or []
            v = values[i] if i < len(values) else None
            logs[k] = v if isinstance(v, (int, float)) and math.isfinite(v) else None
        record = diagnostics[i] if i < len(diagnostics) else None
        events.append({"type": "epoch", "epoch": int(epoch), "epochs": epochs, "logs": logs,
                       "diagnostics": record})
    return events
