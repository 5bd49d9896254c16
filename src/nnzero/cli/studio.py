"""``nnzero studio``: look inside a trained network in the browser (needs ``nnzero[studio]``)."""

import argparse

from . import common

DESCRIPTION = """\
Start a local web app that shows what a model computes, with nnzero's own code: draw a digit
and see the 28×28 input the model sees, every layer's activations and the probabilities; click
a unit for its weights and z = w·x + b with real numbers; follow one sample's gradient back
through the network; browse the test set's confusion matrix and mistakes; read the history.
The Train page trains a new model with 'nnzero train's own code and streams the curves, the
first layer's weights and per-layer diagnostics; Stop checkpoints, Resume continues exactly.
Model files trained there are written to the current folder; runs left unfinished there (the
server stopped, Ctrl-C) are listed after a restart, to resume.

Without MODEL: ./model.safetensors (what 'nnzero train' writes), else the cached default model;
if there is neither, the page opens on the Train view. Needs: pip install 'nnzero[studio]'."""

EPILOG = """\
examples:
  nnzero studio model.safetensors
  nnzero studio model.safetensors --port 8080 --no-browser
  nnzero studio tabular.safetensors --data rows.csv"""


def add_parser(subparsers):
    p = subparsers.add_parser("studio", help="look inside a model in the browser (web app)",
                              description=DESCRIPTION, epilog=EPILOG,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model", metavar="MODEL", nargs="?", help="a .safetensors model file")
    p.add_argument("--data", metavar="FILE", help="CSV/NPY/NPZ rows to look at instead of the model's test set")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=common.positive_int, default=8000, metavar="N", help="port (default 8000)")
    p.add_argument("--no-browser", action="store_true", help="do not open a browser window")
    return p


def run(args):
    from .. import studio

    return studio.serve(args.model, host=args.host, port=args.port, open_browser=not args.no_browser,
                        data=args.data)
