"""``nnzero gradcheck``: backprop against central differences on small float64 networks."""

import argparse
import sys
import textwrap

import numpy as np

from .. import console
from .. import layers as L
from ..errors import ConfigError
from ..model import mlp
from . import common

DESCRIPTION = """\
Check backpropagation against central differences (L(θ+ε) − L(θ−ε)) / 2ε, in float64.

Without MODEL: for each layer kind, build a small network using it (Dense → layer → ... →
Dense, for the hidden sizes given; the first lines say exactly which), run it on random data
and check every parameter entry. With MODEL (a model file): check --entries random entries of
each of its tensors on --samples rows of its test data (or --data FILE).

Each tensor's row shows one entry's analytic (backprop) and numerical gradient side by side,
and the relative error over the checked entries, ‖analytic − numeric‖ / (‖analytic‖ + ‖numeric‖).
In float64 a correct backward pass gives about 1e-10 to 1e-8 (the difference quotient itself
carries rounding of about 1e-16/ε = 1e-10), a wrong one 1e-2 or more.

Layer kinds: relu, leaky_relu, tanh, sigmoid (as the hidden activation), dropout (ReLU then
Dropout(0.3), with a fixed mask), softmax (a Softmax output, backpropagated through its
Jacobian: needs --loss mse, since with cross-entropy the Softmax is fused into the loss and
there is nothing of its own to check).

Exit code 0 when every error is below --threshold (default 1e-6, at least 1e-7: small
gradients such as a sigmoid network's reach 2e-8 from rounding alone), 1 otherwise."""

EPILOG = """\
examples:
  nnzero gradcheck
  nnzero gradcheck --layers tanh,softmax --loss mse --hidden 8,6,4
  nnzero gradcheck model.safetensors --entries 20"""

FLOOR = 1e-7       # smallest threshold float64 central differences reliably meet (see DESCRIPTION)
KINDS = ("relu", "leaky_relu", "tanh", "sigmoid", "dropout", "softmax")
N_FEATURES, N_CLASSES, N_SAMPLES = 6, 3, 8


def add_parser(subparsers):
    p = subparsers.add_parser("gradcheck", help="check backprop against numerical gradients",
                              description=DESCRIPTION, epilog=EPILOG,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model", metavar="MODEL", nargs="?", help="a model file to check (default: small test networks)")
    p.add_argument("--entries", type=common.positive_int, default=10, metavar="N",
                   help="with MODEL: random entries checked per tensor (default 10)")
    p.add_argument("--samples", type=common.positive_int, default=8, metavar="N",
                   help="with MODEL: rows the loss is computed on (default 8)")
    common.add_data_arguments(p)
    p.add_argument("--layers", type=_kinds, default=list(KINDS), metavar="LIST",
                   help=f"comma-separated layer kinds to check (default: all of {','.join(KINDS)})")
    p.add_argument("--loss", choices=["cross_entropy", "mse"], default="cross_entropy",
                   help="loss of the test networks (default cross_entropy)")
    p.add_argument("--hidden", type=common.hidden_sizes, default=[5, 4], metavar="SIZES",
                   help="hidden layer sizes (default 5,4)")
    p.add_argument("--seed", type=common.non_negative_int, default=0, help="seed of weights and data")
    p.add_argument("--threshold", type=_threshold, default=1e-6,
                   help=f"largest relative error that passes (default 1e-6; at least {FLOOR:g})")
    return p


def _threshold(text):
    value = common.positive_float(text)
    if value < FLOOR:
        raise argparse.ArgumentTypeError(
            f"{text} is below what central differences in float64 can resolve: the numerical gradient "
            f"itself carries rounding errors of about 1e-10 (ε = 1e-6), so even a correct backward pass "
            f"can miss it; give at least {FLOOR:g}")
    return value


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
    activation = {"leaky_relu": lambda: L.LeakyReLU(0.1), "dropout": "relu", "softmax": "tanh"}.get(kind, kind)
    init = "glorot" if kind in ("tanh", "sigmoid", "softmax") else "he"
    # Only "softmax" ends in a Softmax; the others end in logits (cross-entropy applies it itself).
    model = mlp(N_FEATURES, hidden, N_CLASSES, activation=activation, init=init, loss=loss, dtype="float64",
                dropout=0.3 if kind == "dropout" else 0.0, softmax=kind == "softmax").build(seed=seed)
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


def describe(model):
    """'6-5-4-3: Dense(6→5) → ReLU → Dense(5→4) → ReLU → Dense(4→3) → Softmax (fused into the
    cross-entropy)' for a Sequential."""
    names = []
    for layer in model.layers:
        if isinstance(layer, L.Dense):
            names.append(f"Dense({layer.n_in}→{layer.n_out})")
        else:
            names.append(repr(layer).replace("()", ""))
    sizes = [model.n_features] + [layer.n_out for layer in model.layers if isinstance(layer, L.Dense)]
    loss = ("cross-entropy on the logits (the Softmax is fused into it)" if model.fused_softmax
            else "cross-entropy" if model.is_classifier else "mean squared error")
    return f"{'-'.join(map(str, sizes))}: {' → '.join(names)}; loss {loss}"


def say(text):
    """Print prose wrapped to the terminal (a pipe gets it unwrapped)."""
    if not sys.stdout.isatty():
        print(text)
        return
    from ..console import terminal_width

    lead = "\n" if text.startswith("\n") else ""
    print(lead + textwrap.fill(text.lstrip("\n"), terminal_width(), subsequent_indent="    "))


def _rows(model, result):
    """Table rows: tensor, entries checked, one entry's analytic and numerical values, error."""
    rows = []
    shapes = {k: v.shape for k, v in model.params.items()}
    for key, r in result.items():
        k = int(np.argmax(np.abs(r["analytic"])))               # the entry with the largest gradient
        where = np.unravel_index(r["index"][k], shapes[key])
        size = int(np.prod(shapes[key]))
        rows.append([key, f"{len(r['index'])}/{size}", "[" + ",".join(map(str, where)) + "]",
                     f"{r['analytic'][k]:.9g}", f"{r['numeric'][k]:.9g}", f"{r['error']:.1e}", r["error"]])
    return rows


def _print_table(rows, threshold):
    table = [["tensor", "checked", "entry", "analytic", "numerical", "rel.err", "result"]]
    table += [[*r[:6], "ok" if r[6] <= threshold else "FAIL"] for r in rows]
    print("\n".join("  " + line for line in console.table(table, right={1, 3, 4, 5}).splitlines()))
    return sum(r[6] > threshold for r in rows)


def run(args):
    from ..gradcheck import compare_gradients

    if args.model is not None:
        return _run_model(args, compare_gradients)
    if not args.hidden:
        raise ConfigError("gradcheck needs at least one hidden layer (--hidden 5,4) to put the "
                          "layers under test in")
    say(f"gradient check in float64: {N_SAMPLES} random samples, every entry, ε = 1e-6, "
        f"threshold {args.threshold:g}")
    failed = total = 0
    for kind in args.layers:
        if kind == "softmax" and args.loss == "cross_entropy":
            say("\nsoftmax: skipped. With cross-entropy the Softmax output is fused into the loss "
                "(gradient p − onehot, checked in every network above); --loss mse checks the "
                "Softmax's own Jacobian.")
            continue
        model, X, y = build_network(kind, args.hidden, args.loss, args.seed)
        say(f"\n{kind}: {describe(model)}")
        rows = _rows(model, compare_gradients(model, X, y, max_entries=None, seed=args.seed))
        failed += _print_table(rows, args.threshold)
        total += len(rows)
    return _verdict(failed, total)


def _verdict(failed, total):
    print()
    if failed:
        print(f"{failed} of {total} tensors FAILED: backprop disagrees with the numerical gradient")
        return 1
    print(f"all {total} tensors pass")
    return 0


def _run_model(args, compare_gradients):
    from .. import serialization as io

    model = io.load(args.model)
    X, y, source = common.load_rows(args, model)
    rows = np.random.default_rng(args.seed).permutation(len(X))[:args.samples]
    X = common.model_inputs(model, np.asarray(X)[rows])
    if model.is_classifier and y is None:
        y = model.predict(X)                     # no labels: the loss of its own predictions
        source += " (labels: the model's predictions)"
    elif y is not None:
        y = np.asarray(y)[rows]
    if y is None:
        raise ConfigError(f"{source} has no labels; a regression model needs its targets")
    say(f"{args.model}: {describe(model)}")
    say(f"gradient check in float64 on {len(X)} rows of {source}: {args.entries} random entries "
        f"per tensor, ε = 1e-6, threshold {args.threshold:g}")
    result = compare_gradients(model, X, y, max_entries=args.entries, seed=args.seed)
    failed = _print_table(_rows(model, result), args.threshold)
    return _verdict(failed, len(result))
