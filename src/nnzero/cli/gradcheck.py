"""``nnzero gradcheck``: backprop against central differences on small float64 networks."""

import argparse

import numpy as np

from .. import layers as L
from ..errors import ConfigError
from ..model import Sequential
from . import common

DESCRIPTION = """\
Check backpropagation: for each chosen layer kind, build a small float64 network using it
(Dense → layer → ... → Dense, for the hidden sizes given), run it on random data, and compare
every parameter's gradient with central differences (L(θ+ε) − L(θ−ε)) / 2ε. Prints one row per
parameter tensor with its relative error ‖analytic − numeric‖ / (‖analytic‖ + ‖numeric‖).

Layer kinds: relu, leaky_relu, tanh, sigmoid (as the hidden activation), dropout (ReLU then
Dropout(0.3), with a fixed mask), softmax (tanh hidden layers and a Softmax output: fused into
cross-entropy, or backpropagated through its Jacobian with mse).

Exit code 0 when every error is below --threshold, 1 otherwise."""

EPILOG = """\
examples:
  nnzero gradcheck
  nnzero gradcheck --layers tanh,softmax --loss mse --hidden 8,6,4"""

KINDS = ("relu", "leaky_relu", "tanh", "sigmoid", "dropout", "softmax")
N_FEATURES, N_CLASSES, N_SAMPLES = 6, 3, 8


def add_parser(subparsers):
    p = subparsers.add_parser("gradcheck", help="check backprop against numerical gradients",
                              description=DESCRIPTION, epilog=EPILOG,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--layers", type=_kinds, default=list(KINDS), metavar="LIST",
                   help=f"comma-separated layer kinds to check (default: all of {','.join(KINDS)})")
    p.add_argument("--loss", choices=["cross_entropy", "mse"], default="cross_entropy",
                   help="loss of the test networks (default cross_entropy)")
    p.add_argument("--hidden", type=common.hidden_sizes, default=[5, 4], metavar="SIZES",
                   help="hidden layer sizes (default 5,4)")
    p.add_argument("--seed", type=common.non_negative_int, default=0, help="seed of weights and data")
    p.add_argument("--threshold", type=common.positive_float, default=1e-6,
                   help="largest relative error that passes (default 1e-6)")
    return p


def _kinds(text):
    kinds = [k.strip() for k in text.split(",") if k.strip()]
    unknown = [k for k in kinds if k not in KINDS]
    if not kinds or unknown:
        raise argparse.ArgumentTypeError(f"unknown layer kind(s) {unknown or [text]}; expected some of {','.join(KINDS)}")
    return list(dict.fromkeys(kinds))


def build_network(kind, hidden, loss, seed):
    """A small float64 network exercising ``kind``, and random data (X, y) for it.

    Inputs are N(0, 1), so no pre-activation sits within ε of ReLU's kink at 0 (with
    probability ≈ 1); mse targets are one-hot rows when the output is a Softmax."""
    activation = {"relu": L.ReLU, "leaky_relu": lambda: L.LeakyReLU(0.1), "tanh": L.Tanh,
                  "sigmoid": L.Sigmoid, "dropout": L.ReLU, "softmax": L.Tanh}[kind]
    init = "glorot" if kind in ("tanh", "sigmoid", "softmax") else "he"
    stack, n = [], N_FEATURES
    for h in hidden:
        stack += [L.Dense(n, h, init=init), activation()]
        if kind == "dropout":
            stack.append(L.Dropout(0.3))
        n = h
    stack.append(L.Dense(n, N_CLASSES, init=init))
    if kind == "softmax":       # the others end in logits (cross-entropy applies softmax itself)
        stack.append(L.Softmax())
    model = Sequential(stack, loss=loss, dtype="float64").build(seed=seed)
    rng = np.random.default_rng(seed + 1)
    X = rng.standard_normal((N_SAMPLES, N_FEATURES))
    # Biases of 0 would make every bias gradient identical across runs; small random ones are
    # a stronger test.
    for layer in model.layers:
        if "b" in layer.params:
            layer.params["b"][...] = 0.1 * rng.standard_normal(layer.params["b"].shape)
    labels = rng.integers(0, N_CLASSES, N_SAMPLES)
    if loss == "cross_entropy":
        return model, X, labels
    y = np.eye(N_CLASSES)[labels] if kind == "softmax" else rng.standard_normal((N_SAMPLES, N_CLASSES))
    return model, X, y


def run(args):
    from ..gradcheck import check_gradients

    if not args.hidden:
        raise ConfigError("gradcheck needs at least one hidden layer (--hidden 5,4) to put the "
                          "layers under test in")
    rows = [["network", "tensor", "shape", "rel. error", "result"]]
    failed = 0
    for kind in args.layers:
        model, X, y = build_network(kind, args.hidden, args.loss, args.seed)
        errors = check_gradients(model, X, y, seed=args.seed)
        shapes = {k: v.shape for k, v in model.params.items()}
        for key, err in errors.items():
            ok = err <= args.threshold
            failed += not ok
            rows.append([kind, key, "×".join(map(str, shapes[key])), f"{err:.2e}", "ok" if ok else "FAIL"])
    print(f"gradient check, float64, loss {args.loss}, hidden {args.hidden or 'none'}, "
          f"{N_SAMPLES} samples, ε = 1e-6, threshold {args.threshold:g}")
    print(common.table(rows, right={3}))
    total = len(rows) - 1
    if failed:
        print(f"{failed} of {total} tensors FAILED: backprop disagrees with the numerical gradient")
        return 1
    print(f"all {total} tensors pass")
    return 0
