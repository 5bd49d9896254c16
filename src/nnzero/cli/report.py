"""``nnzero report``: figures of a trained model and an index.html that shows them."""

import argparse

from .. import serialization, safety
from . import common

DESCRIPTION = """\
Write a report of a model file into --out DIR: PNG figures and an index.html showing them.

  curves.png         loss and accuracy per epoch: training, validation (when
                     the run held some out), the test result after training
  confusion.png      confusion matrix on the test data: counts, coloured by
                     each row's share
  weights.png        the first layer's weights, one image per unit
  misclassified.png  test samples the model gets wrong, true → predicted label
  augmented.png      test images and random warps of them (from --augment)
  diagnostics.png    per-layer statistics (trained with --diagnostics)

index.html also has a per-class precision/recall table and the run's settings.

Test data: the test split of the model's dataset, --dataset NAME, or a labelled --data FILE;
--no-test leaves out the figures that need it. Needs matplotlib (pip install 'nnzero[plot]')."""

EPILOG = """\
examples:
  nnzero report model.safetensors --out report/
  nnzero report model.safetensors --out report/ --data test.csv"""


REPORT_FILES = ("index.html", "curves.png", "confusion.png", "misclassified.png", "augmented.png", "weights.png",
                "diagnostics.png")


def add_parser(subparsers):
    p = subparsers.add_parser("report", help="PNG figures and an HTML page about a model",
                              description=DESCRIPTION, epilog=EPILOG,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model", metavar="MODEL", help="a .safetensors model file")
    p.add_argument("--out", metavar="DIR", required=True, help="folder for the figures and index.html")
    common.add_data_arguments(p)
    p.add_argument("--no-test", action="store_true", help="no test data: curves, weights and diagnostics only")
    return p


def run(args):
    from ..errors import ConfigError
    from ..report import write_report

    safety.check_output_folder(args.out, "--out", inputs=[("MODEL", args.model), ("--data", args.data)],
                               files=REPORT_FILES)
    model = serialization.load(args.model)
    X = y = None
    source = "test"
    if args.no_test:
        if args.data is not None or args.dataset is not None:
            raise ConfigError("--no-test cannot be combined with --data or --dataset")
    else:
        raw, y, source = common.load_rows(args, model)
        if y is None:
            raise ConfigError(f"{source} has no labels; the report needs labelled test data (or --no-test)")
        X = common.model_inputs(model, raw)
        print(f"test data: {source} ({len(X)} rows)")
    index = write_report(model, args.out, X, y, test_name=source)
    print(f"wrote {index}")
    return 0
