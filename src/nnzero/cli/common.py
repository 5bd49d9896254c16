"""Helpers shared by the subcommands: argument types, loading data and models, text tables."""

import argparse
import json
import math
from pathlib import Path

import numpy as np

from .. import preprocessing, rows
from ..console import table
from ..errors import ConfigError, DataError

# 'standardize' is fitted to the training rows when they are loaded (mean and std per column).
PREPROCESSING = {"scale255": preprocessing.SCALE_255, "binarize": preprocessing.BINARIZE,
                 "standardize": {"kind": "standardize"}, "none": preprocessing.NONE}


# -- argument types (argparse turns ArgumentTypeError into "argument --x: <message>") ------------
def _int_at_least(text, minimum, expected):
    try:
        value = int(text)
    except ValueError:
        value = minimum - 1
    if value < minimum:
        raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}")
    return value


def positive_int(text):
    return _int_at_least(text, 1, "a positive integer")


def non_negative_int(text):
    return _int_at_least(text, 0, "an integer ≥ 0")


def _number(text):
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
    return value


def positive_float(text):
    value = _number(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {text!r}")
    return value


def non_negative_float(text):
    value = _number(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a number ≥ 0, got {text!r}")
    return value


def fraction(text):
    """A number in [0, 1): split fractions, dropout rates, momentum."""
    value = _number(text)
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"expected a number in [0, 1), got {text!r}")
    return value


def hidden_sizes(text):
    """'512,256' → [512, 256]; '' or 'none' → [] (no hidden layer: softmax regression)."""
    if text.strip().lower() in ("", "none"):
        return []
    try:
        sizes = [int(part) for part in text.split(",")]
    except ValueError:
        sizes = [0]
    if any(s < 1 for s in sizes):
        raise argparse.ArgumentTypeError(f"expected comma-separated positive layer sizes like 512,256, got {text!r}")
    return sizes


def batch_size(text):
    """A positive integer, or 'full' for full-batch gradient descent (None)."""
    return None if text.strip().lower() == "full" else positive_int(text)


# -- data ---------------------------------------------------------------------------------------
def column(text):
    """--label-column: a 0-based index ('0', '-1') or a header name ('species')."""
    text = text.strip()
    if not text:
        raise argparse.ArgumentTypeError("expected a column name or a 0-based index, got ''")
    return int(text) if text.lstrip("-").isdigit() else text


def add_label_arguments(p, test=False):
    """--label-column and --labels (and --test-labels with ``test``): where a file's labels are."""
    p.add_argument("--label-column", type=column, metavar="NAME|INDEX",
                   help="a CSV's label column: a header name or a 0-based index (default: the column "
                        "named 'label'; a file without a header row needs it, e.g. --label-column 0). "
                        "Labels may be integers or class names")
    p.add_argument("--labels", metavar="FILE", help="labels (.npy, one per row) for a --data .npy file of rows")
    if test:
        p.add_argument("--test-labels", metavar="FILE", help="labels (.npy) for a --test-data .npy file")


def read_data(path, label_column=None, labels=None, what="--data", need_labels=True, mmap=False):
    """(X, y or None) from a CSV/NPY/NPZ file (and a labels .npy). With ``need_labels``, a file
    without labels is an error that says how to name them; without it, a CSV without a header
    row is all features. ``mmap``: an .npy X is memory-mapped, read batch by batch."""
    from .. import datasets

    kind = str(path).lower().rpartition(".")[2]
    if label_column is not None and kind != "csv":
        raise ConfigError(f"--label-column applies to CSV files, not {path}")
    kwargs = {"label_column": label_column} if label_column is not None else {}
    if kind == "csv" and label_column is None and not need_labels and datasets.read_header(path) is None:
        kwargs = {"label_column": None}
    X, y = datasets.load_file(path, labels=labels, mmap=mmap, **kwargs)
    if y is None and need_labels:
        if kind == "csv":
            how = "name its label column with --label-column NAME|INDEX"
        elif kind == "npy":
            how = f"give them with {'--test-labels' if what == '--test-data' else '--labels'} FILE.npy"
        else:
            how = "store them as y in the NPZ"
        raise DataError(f"{path}: has no labels ({what} needs them: {how})")
    return X, y


def load_labelled(path, what="--data", label_column=None, labels=None, mmap=False):
    """(X, y) from a CSV/NPZ file (or an NPY pair), which must have labels."""
    return read_data(path, label_column, labels, what, mmap=mmap)


def add_data_arguments(p, data_help="a CSV/NPY/NPZ file of rows instead of a dataset"):
    """--dataset/--data-dir/--split/--data: where evaluate, explain and report read rows from."""
    p.add_argument("--dataset", metavar="NAME", help="mnist, fashion-mnist or kmnist (default: the model's)")
    p.add_argument("--data-dir", metavar="DIR", help="read the dataset's IDX files from DIR")
    p.add_argument("--split", choices=["test", "train"], default="test", help="dataset split (default test)")
    p.add_argument("--data", metavar="FILE", help=data_help)
    add_label_arguments(p)


def load_rows(args, model, labelled=False, mmap=False):
    """(X raw rows, y or None, description) from --data FILE, or the dataset's --split.
    With ``labelled``, a file without labels is an error; ``mmap``: see :func:`read_data`."""
    from .. import datasets

    if args.data is not None:
        if args.dataset is not None or args.data_dir is not None:
            raise ConfigError("give --data FILE or --dataset/--data-dir, not both")
        X, y = read_data(args.data, args.label_column, args.labels, need_labels=labelled, mmap=mmap)
        return X, y, args.data
    if args.label_column is not None or args.labels is not None:
        raise ConfigError("--label-column and --labels apply to a --data file")
    name = args.dataset or dataset_from_model(model)
    if name is None:
        raise ConfigError(f"{args.model} was not trained on a named dataset; give --data FILE (or --dataset NAME)")
    train, test = datasets.load_dataset(name, data_dir=args.data_dir)
    X, y = train if args.split == "train" else test
    return X, y, f"{datasets.get_spec(name).name} {args.split} set"


def model_inputs(model, X, spec=None):
    """Raw rows X (n, d) → the model's input: ``spec`` (default: the preprocessing stored in the
    model file), then the model's shape and finiteness checks."""
    if spec is None:
        spec = (getattr(model, "metadata", None) or {}).get("preprocessing") or preprocessing.NONE
    lazy = rows.is_lazy(X)           # a memory map: preprocessed batch by batch as it is read
    if not lazy:
        X = np.asarray(X)
    if X.ndim == 2 and X.shape[1] != model.n_features:
        hint = (" (if one column is the label, name it with --label-column INDEX to leave it out)"
                if X.shape[1] == model.n_features + 1 else "")
        raise DataError(f"the data have {X.shape[1]} features per row, but the model expects "
                        f"{model.n_features}{hint}")
    if lazy:
        lazy_rows = X if isinstance(X, rows.LazyRows) else rows.LazyRows(X)
        return model.check_X(lazy_rows.preprocessed(spec, model.dtype))
    _check_range(X, spec, model.dtype)
    with np.errstate(over="ignore", invalid="ignore"):
        return model.check_X(preprocessing.apply(X, spec, model.dtype))


def _check_range(X, spec, dtype):
    """Finite values too large for the model's float type (1e40 into float32) are named as
    such, not as 'NaN or infinite' after NumPy's overflow warnings."""
    if X.dtype.kind != "f" or X.size == 0 or np.finfo(X.dtype).max <= np.finfo(dtype).max:
        return
    with np.errstate(over="ignore", invalid="ignore"):
        top = max(abs(float(X.max())), abs(float(X.min())))
        if not np.isfinite(top) or top <= float(np.finfo(dtype).max):
            return                      # fits; or NaN/inf, which check_X names
        after = preprocessing.apply(X, spec, np.float64)
        if np.isfinite(after).all() and float(np.abs(after).max()) <= float(np.finfo(dtype).max):
            return
    raise DataError(f"the data hold values up to {top:.3g}, too large for {np.dtype(dtype).name} (largest "
                    f"{float(np.finfo(dtype).max):.3g}) after the preprocessing "
                    f"{describe_preprocessing(spec).split(' (')[0]}; scale the data down (e.g. "
                    "--preprocessing standardize) or train with --dtype float64")


def to_json(value, **kwargs):
    """json.dumps that writes NaN and ±inf as null: valid JSON for every reader, not Python's
    Infinity."""
    def clean(v):
        if isinstance(v, float) and not math.isfinite(v):
            return None
        if isinstance(v, dict):
            return {k: clean(x) for k, x in v.items()}
        if isinstance(v, (list, tuple)):
            return [clean(x) for x in v]
        return v

    return json.dumps(clean(value), allow_nan=False, **kwargs)


def dataset_from_model(model):
    """The named dataset (e.g. 'mnist') the model was trained on, or None (a file, or unknown)."""
    meta = (getattr(model, "metadata", None) or {}).get("dataset") or {}
    return meta.get("name") if meta.get("kind", "dataset") == "dataset" else None


def describe_preprocessing(spec):
    """A preprocessing spec in words: its CLI name, then what it does."""
    if not spec:
        return "none recorded"
    if spec["kind"] == "scale":
        return ("scale255 (x · 1/255: pixels to [0, 1])" if spec["factor"] == 1 / 255
                else f"scale (x · {spec['factor']:g})")
    if spec["kind"] == "binarize":
        return f"binarize (1 where x > {spec['threshold']:g}, else 0)"
    if spec["kind"] == "standardize":
        return "standardize ((x − mean) / std per column, of the training rows)"
    return "none (raw values)"


# -- text output --------------------------------------------------------------------------------
def fmt(value, spec=".4f"):
    """A number for a table; NaN/None as '-'."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return format(value, spec)


def history_table(history, max_rows=None):
    """History (or its to_dict()) → a table: epoch, loss, accuracy, val_loss, val_accuracy, lr,
    time. With ``max_rows``, a long history shows every k-th epoch and the last one."""
    h = history.to_dict() if hasattr(history, "to_dict") else history
    keys = [k for k in ("loss", "accuracy", "val_loss", "val_accuracy", "lr", "time")
            if any(v is not None for v in h.get(k, []))]
    specs = {"lr": ".2e", "time": ".1f"}
    n = len(h.get("epoch", []))
    step = 1 if not max_rows or n <= max_rows else math.ceil(n / max_rows)
    shown = sorted({*range(step - 1, n, step), n - 1}) if n else []
    rows = [["epoch", *keys]]
    for i in shown:
        rows.append([str(h["epoch"][i] + 1), *(fmt(h[k][i], specs.get(k, ".4f")) for k in keys)])
    return table(rows)


def default_checkpoint_path(out):
    """'model.safetensors' → 'model.ckpt.safetensors'."""
    out = Path(out)
    stem = out.name[:-len(".safetensors")] if out.name.endswith(".safetensors") else out.name
    return out.with_name(stem + ".ckpt.safetensors")

