"""``nnzero predict``: labels and class probabilities for data rows or digit images."""

import argparse
import importlib
import io

import numpy as np

from .. import serialization, safety
from ..errors import ConfigError
from . import common

DESCRIPTION = """\
Predict with a model file.

'--data FILE' (CSV, NPY or NPZ rows, with or without a header; a CSV column named 'label',
or the one named by --label-column, is left out) writes CSV: one line per
row with the row number, the predicted label and the probability of every class
(columns row,label,prob_<class>,...), to stdout or '--out FILE'.

Image paths (PNG, JPEG, ...; needs Pillow) are prepared like MNIST digits (centred, 28×28,
light-on-dark) and each gets its top classes with their probabilities.

Rows and images go through the preprocessing stored in the model file."""

EPILOG = """\
examples:
  nnzero predict model.safetensors --data rows.csv > predictions.csv
  nnzero predict model.safetensors --data rows.npy --out predictions.csv
  nnzero predict model.safetensors my_seven.png my_two.jpg --top 3"""


def add_parser(subparsers):
    p = subparsers.add_parser("predict", help="predict labels and probabilities (rows or images)",
                              description=DESCRIPTION, epilog=EPILOG,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model", metavar="MODEL", help="a .safetensors model file")
    p.add_argument("images", metavar="IMAGE", nargs="*", help="digit image files")
    p.add_argument("--data", metavar="FILE", help="a CSV/NPY/NPZ file of rows to predict")
    p.add_argument("--label-column", type=common.column, metavar="NAME|INDEX",
                   help="a CSV column to leave out (e.g. the labels of a file without a header: 0)")
    p.add_argument("--out", metavar="FILE", help="write the CSV here instead of stdout")
    p.add_argument("--force", action="store_true", help="replace an existing model file at --out (otherwise refused)")
    p.add_argument("--top", type=common.positive_int, default=3, metavar="K",
                   help="classes shown per image (default 3)")
    return p


def run(args):
    if (args.data is None) == (not args.images):
        raise ConfigError("give either --data FILE or image paths (not both)")
    if args.label_column is not None and args.data is None:
        raise ConfigError("--label-column applies to a --data file")
    if args.out is not None:
        inputs = [("MODEL", args.model), ("--data", args.data), *(("IMAGE", p) for p in args.images)]
        safety.check_output(args.out, "--out", inputs=inputs, writes="file", force=args.force)
    model = serialization.load(args.model)
    if not model.is_classifier:
        raise ConfigError(f"{args.model} is a regression model; predict shows class probabilities")
    if args.data is not None:
        X, _ = common.read_data(args.data, args.label_column, need_labels=False)
        names = [str(i) for i in range(len(X))]
        header = "row"
    else:
        X, names, header = _images(model, args.images), list(args.images), "image"
    proba = model.predict_proba(common.model_inputs(model, X))
    labels = model.classes_[proba.argmax(axis=1)]
    if args.data is None and args.out is None:
        print(_top_k(names, proba, model.classes_, args.top))
        return 0
    text = _csv(header, names, labels, proba, model.classes_)
    if args.out is None:
        print(text, end="")
    else:
        serialization.write_atomic(args.out, text.encode("utf-8"))
        print(f"wrote {len(names)} predictions to {args.out}")
    return 0


def _images(model, paths):
    try:
        images = importlib.import_module("nnzero.images")
    except ImportError as exc:
        raise ConfigError(f"reading images needs nnzero.images and Pillow ({exc}); "
                          "pip install 'nnzero[image]'") from None
    X = np.stack([images.load_digit(p) for p in paths])          # (n, 784) in [0, 1]
    spec = (model.metadata or {}).get("preprocessing") or {"kind": "none"}
    # A model whose preprocessing starts from raw 0..255 pixels (scale 1/255, binarize) gets the
    # image in that range, so its own transform then applies unchanged.
    return X * np.float32(255) if spec["kind"] in ("scale", "binarize") else X


def _csv(header, names, labels, proba, classes):
    out = io.StringIO()
    out.write(",".join([header, "label", *(_cell(f"prob_{c}") for c in classes.tolist())]) + "\n")
    for name, label, row in zip(names, labels.tolist(), proba.tolist()):
        out.write(",".join([_cell(name), _cell(label), *(f"{p:.6g}" for p in row)]) + "\n")
    return out.getvalue()


def _cell(value):
    text = str(value)
    return '"' + text.replace('"', '""') + '"' if any(c in text for c in ',"\n') else text


def _top_k(names, proba, classes, k):
    k = min(k, proba.shape[1])
    lines = []
    for name, row in zip(names, proba):
        best = np.argsort(-row, kind="stable")[:k]
        lines.append(f"{name}: " + ", ".join(f"{classes[i]} ({100 * row[i]:.1f}%)" for i in best))
    return "\n".join(lines)
