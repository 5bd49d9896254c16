"""The top-level ``nnzero`` parser: one subparser per module named in ``cli.COMMANDS``.

It lives apart from ``cli/__init__`` so that argparse (and every command, and NumPy) is
imported inside ``cli.main``'s handling of Ctrl-C, not before it."""

import argparse
import importlib
import platform
import textwrap

DESCRIPTION = """\
nnzero: train, evaluate and use feedforward neural networks, written in plain NumPy.

Model files are safetensors (PyTorch can read the weights) with a JSON description of the
architecture, classes, preprocessing, training settings and history."""

EPILOG = """\
examples:
  nnzero train                              # MNIST, default recipe, writes model.safetensors
  nnzero train --recipe seed                # the original 784-64-10 script (about 95%)
  nnzero evaluate model.safetensors         # loss, accuracy, per-class table, confusion matrix
  nnzero predict model.safetensors --data rows.csv --out predictions.csv
  nnzero predict model.safetensors digit.png
  nnzero inspect model.safetensors
  nnzero export model.safetensors --format onnx --out model.onnx

'nnzero COMMAND --help' describes each command."""


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        # One line naming the problem, instead of argparse's usage dump.
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


class _Wrapped(argparse.RawDescriptionHelpFormatter):
    """Descriptions re-flowed to the terminal's width: a paragraph of plain prose is filled,
    indented lines (examples, lists) are kept as written."""

    def _fill_text(self, text, width, indent):
        out = []
        for block in text.split("\n\n"):
            lines = block.splitlines()
            prose = lines and not any(line.startswith(" ") for line in lines) and not block.endswith(":")
            out.append(textwrap.fill(" ".join(lines), width, initial_indent=indent, subsequent_indent=indent,
                                     break_on_hyphens=False)
                       if prose else "\n".join(indent + line for line in lines))
        return "\n\n".join(out)


def build_parser(commands):
    """The top-level parser with a subcommand for each module of this package in ``commands``."""
    import numpy as np

    from .._version import __version__

    parser = _Parser(prog="nnzero", description=DESCRIPTION, epilog=EPILOG, formatter_class=_Wrapped)
    parser.add_argument("--version", action="version",
                        version=f"nnzero {__version__} (numpy {np.__version__}, python {platform.python_version()})")
    sub = parser.add_subparsers(title="commands", metavar="COMMAND", dest="command")
    for name in commands:
        module = importlib.import_module(f"{__package__}.{name}")
        command = module.add_parser(sub)
        command.set_defaults(run=module.run)
        command.formatter_class = _Wrapped        # help fits the terminal: nothing runs off at 80
    return parser
