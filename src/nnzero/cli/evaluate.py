"""``nnzero evaluate``: loss, accuracy, per-class precision/recall/F1 and the confusion matrix."""

import argparse
import math

import numpy as np

from .. import console, metrics, serialization
from . import common

DESCRIPTION = """\
Evaluate a model file on labelled data: loss, accuracy, per-class precision, recall and F1, and
the confusion matrix (rows: true class, columns: predicted class).

The data go through the preprocessing stored in the model file. Default data: the test split of
the dataset the model was trained on (e.g. MNIST); '--data FILE' uses a labelled CSV/NPZ file."""

EPILOG = """\
examples:
  nnzero evaluate model.safetensors
  nnzero evaluate model.safetensors --split train
  nnzero evaluate model.safetensors --data test.csv --json"""


def add_parser(subparsers):
    p = subparsers.add_parser("evaluate", help="loss, accuracy, per-class metrics, confusion matrix",
                              description=DESCRIPTION, epilog=EPILOG,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model", metavar="MODEL", help="a .safetensors model (or checkpoint) file")
    common.add_data_arguments(p, data_help="a labelled CSV/NPZ file instead of a dataset")
    p.add_argument("--json", action="store_true", help="print the results as JSON")
    return p


def run(args):
    model = serialization.load(args.model)
    X, y, where = common.load_rows(args, model, labelled=True, mmap=True)   # .npy + --labels: mapped
    X = common.model_inputs(model, X)
    result = model.evaluate(X, y)
    report = {"data": where, "n": int(len(X)), "loss": result["loss"], "accuracy": result["accuracy"]}
    if model.is_classifier:
        classes = model.classes_
        cm = metrics.confusion_matrix(np.asarray(y), model.predict(X), labels=classes)
        precision, recall, f1 = metrics.precision_recall_f1(cm)
        macro = dict(zip(("precision", "recall", "f1"), _clean(metrics.macro_average(cm))))
        report.update(classes=classes.tolist(), precision=_clean(precision), recall=_clean(recall),
                      f1=_clean(f1), support=cm.sum(axis=1).tolist(), macro_avg=macro, confusion_matrix=cm.tolist())
    if args.json:
        print(common.to_json(report, indent=1))
    else:
        print(_text(report, args.model))
    return 0


def _clean(values):
    return [None if math.isnan(v) else float(v) for v in values]


def _text(r, path):
    lines = [f"{path} on {r['data']} ({r['n']} rows)", f"loss      {r['loss']:.4f}"]
    if "classes" not in r:
        return "\n".join(lines)
    cm = np.asarray(r["confusion_matrix"])
    correct = int(np.trace(cm))
    lines.append(f"accuracy  {100 * r['accuracy']:.2f}%  ({correct} of {r['n']})")
    names = [str(c) for c in r["classes"]]
    rows = [["class", "precision", "recall", "f1", "support"]]
    for i, name in enumerate(names):
        rows.append([name, common.fmt(r["precision"][i]), common.fmt(r["recall"][i]), common.fmt(r["f1"][i]),
                     str(r["support"][i])])
    macro = r["macro_avg"]
    rows.append(["macro avg", *(common.fmt(macro[k]) for k in ("precision", "recall", "f1")), str(r["n"])])
    lines += ["", console.table(rows)]
    never = [name for name, p, n in zip(names, r["precision"], r["support"]) if p is None and n]
    if never:
        lines.append(f"never predicted: {', '.join(never)} (precision undefined, shown as -; it counts as 0 "
                     "in the macro average, as in scikit-learn)")
    lines += ["", "confusion matrix (rows: true class, columns: predicted)"]
    lines.append(console.table([["true \\ pred", *names], *([n, *map(str, row)] for n, row in zip(names, cm))]))
    return "\n".join(lines)
