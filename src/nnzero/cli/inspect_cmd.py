"""``nnzero inspect``: what a model or checkpoint file holds, without running it."""

import argparse
import math
import os

from .. import serialization
from . import common

DESCRIPTION = """\
Describe a model or checkpoint file: architecture and parameter counts, classes, input
preprocessing, training settings and seed, the per-epoch history, the dataset checksum, the
library versions that wrote it, and (for a checkpoint) where training stands.
The whole file is validated first, so this is also a check that it is intact."""

EPILOG = """\
examples:
  nnzero inspect model.safetensors
  nnzero inspect model.ckpt.safetensors --json"""

MAX_HISTORY_ROWS = 25


def add_parser(subparsers):
    p = subparsers.add_parser("inspect", help="architecture, settings, history of a model file",
                              description=DESCRIPTION, epilog=EPILOG,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model", metavar="MODEL", help="a .safetensors model or checkpoint file")
    p.add_argument("--json", action="store_true", help="print the file's metadata document as JSON")
    return p


def run(args):
    model = serialization.load(args.model)
    doc = model.metadata
    if args.json:
        print(common.to_json(doc, indent=1))
        return 0
    size = os.path.getsize(args.model)
    lines = [f"{args.model}: nnzero {doc['kind']} file, format {doc['format_version']}, {size:,} bytes", "",
             model.summary_text(), ""]
    if model.classes_ is not None:
        shown = " ".join(map(str, model.classes_.tolist()[:20])) + (" ..." if len(model.classes_) > 20 else "")
        lines.append(f"classes        {shown}  ({model.classes_.dtype})")
    lines.append(f"preprocessing  {common.describe_preprocessing(doc['preprocessing'])}")
    lines.append(f"seed           {doc['seed'] if doc['seed'] is not None else 'not recorded'}")
    ds = doc["dataset"]
    if ds:
        extra = f", {ds['n_train']} train / {ds['n_test']} test rows" if "n_train" in ds and "n_test" in ds else ""
        lines.append(f"dataset        {ds.get('name', '?')}{extra}")
        if ds.get("sha256"):
            lines.append(f"  sha256       {ds['sha256']}")
    versions = doc["versions"] or {}
    lines.append("written by     " + ", ".join(f"{k} {v}" for k, v in versions.items()))
    if doc["checkpoint"]:
        c = doc["checkpoint"]
        lines.append(f"checkpoint     after epoch {c['epoch']} of {c['epochs']}; optimizer {c['optimizer']['name']} "
                     f"at step {c['optimizer']['t']}; resume with: nnzero train --resume {args.model}")
    if doc["training"]:
        lines += ["", "training settings"]
        lines += [f"  {k:<17}{_value(v)}" for k, v in doc["training"].items()]
    if doc["notes"]:
        lines += ["", "notes"] + [f"  {k:<17}{_value(v)}" for k, v in doc["notes"].items()]
    history = doc["history"]
    if history and history.get("epoch"):
        n = len(history["epoch"])
        every = math.ceil(n / MAX_HISTORY_ROWS)
        title = "history" if every == 1 else f"history (a row every {every} epochs of {n}; --json has all)"
        lines += ["", title, common.history_table(history, MAX_HISTORY_ROWS)]
    print("\n".join(lines))
    return 0


def _value(v):
    if isinstance(v, list):
        return ",".join(map(str, v)) if v else "none"
    if isinstance(v, dict):
        return " ".join(f"{k}={x}" for k, x in v.items())
    return "-" if v is None else str(v)
