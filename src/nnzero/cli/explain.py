"""``nnzero explain``: one sample through the network, step by step, with its real numbers."""

import argparse

import numpy as np

from .. import serialization
from ..errors import ConfigError, DataError
from . import common

DESCRIPTION = """\
Follow one sample through a model file: every layer's weighted sums z = x·W + b and
activations a = f(z), then the softmax in its steps (shift the logits by their maximum,
exponentiate, normalise by the sum) and the predicted class. Each layer works out one unit:
the predicted class at the output, and below it the active unit that adds most to the unit
above. '--backward' then follows the gradient back down: dL/dz = ŷ − y, and each layer's
dL/dW, dL/db and dL/dx, as one training step computes them.

The sample is row --index of the test split of the model's dataset (or --dataset NAME,
--split train, or a CSV/NPY/NPZ --data FILE), or a digit image (--image FILE, needs Pillow),
and goes through the preprocessing stored in the model file first."""

EPILOG = """\
examples:
  nnzero explain model.safetensors --index 7
  nnzero explain model.safetensors --index 7 --backward
  nnzero explain model.safetensors --image my_seven.png --values 16"""


def add_parser(subparsers):
    p = subparsers.add_parser("explain", help="one sample through the network, step by step",
                              description=DESCRIPTION, epilog=EPILOG,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model", metavar="MODEL", help="a .safetensors model file")
    p.add_argument("--index", type=common.non_negative_int, default=0, help="row to explain (default 0)")
    common.add_data_arguments(p)
    p.add_argument("--image", metavar="FILE", help="explain a digit image instead of a data row")
    p.add_argument("--values", type=common.positive_int, default=10, metavar="N",
                   help="values shown per vector (default 10)")
    p.add_argument("--backward", action="store_true",
                   help="then backpropagate this sample's loss: dL/dz = ŷ − y at the output and every "
                        "layer's gradient, with the real numbers (the true label, or the predicted class "
                        "when there is none)")
    return p


def run(args):
    from .. import explain

    model = serialization.load(args.model)
    if args.image is not None:
        if args.data is not None or args.dataset is not None:
            raise ConfigError("give --image FILE or a data source (--data/--dataset), not both")
        from .. import images

        x = images.load_digit(args.image)                       # (784,) in [0, 1]
        spec = (getattr(model, "metadata", None) or {}).get("preprocessing") or {"kind": "none"}
        # A model whose preprocessing starts from 0..255 pixels gets the image in that range.
        raw = x * np.float32(255) if spec["kind"] in ("scale", "binarize") else x
        label, where = None, args.image
    else:
        X, y, source = common.load_rows(args, model)
        if args.index >= len(X):
            raise DataError(f"--index {args.index} is out of range: {source} has {len(X)} rows (0..{len(X) - 1})")
        raw, label = X[args.index], (None if y is None else y[args.index])
        where = f"row {args.index} of {source}"
    x = common.model_inputs(model, raw[None, :])[0]
    result = explain.explain(model, x)
    truth = f", true label {label.item() if hasattr(label, 'item') else label}" if label is not None else ""
    print(f"{args.model}: {where}{truth}\n")
    print(explain.format_explanation(result, max_values=args.values))
    if args.backward:
        back = explain.explain_backward(model, x, label)
        print(explain.format_backward(result, back, max_values=args.values, classes=model.classes_))
    return 0
