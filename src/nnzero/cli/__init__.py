"""The ``nnzero`` command line: ``nnzero train | evaluate | predict | inspect ...``.

A subcommand is one module of this package defining ``add_parser(subparsers)`` (which adds and
returns its parser) and ``run(args) -> exit code``, listed in :data:`COMMANDS`. Every expected
error (:class:`~nnzero.errors.NnzeroError`, a missing file, a bad flag) ends as one line on
stderr and exit code 2; Ctrl-C exits with 130, SIGTERM with 143, SIGHUP with 129.
"""

import argparse
import importlib
import os
import platform
import sys
import textwrap
import warnings

#: Subcommand modules, in the order ``--help`` lists them.
COMMANDS = ("train", "evaluate", "predict", "inspect_cmd", "gradcheck", "explain", "report", "studio", "search",
            "export")

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


def build_parser():
    """The top-level parser with every available subcommand."""
    import numpy as np

    from .._version import __version__

    parser = _Parser(prog="nnzero", description=DESCRIPTION, epilog=EPILOG, formatter_class=_Wrapped)
    parser.add_argument("--version", action="version",
                        version=f"nnzero {__version__} (numpy {np.__version__}, python {platform.python_version()})")
    sub = parser.add_subparsers(title="commands", metavar="COMMAND", dest="command")
    for name in COMMANDS:
        module = importlib.import_module(f"{__name__}.{name}")
        command = module.add_parser(sub)
        command.set_defaults(run=module.run)
        command.formatter_class = _Wrapped        # help fits the terminal: nothing runs off at 80
    return parser


def _one_line(message):
    return " ".join(part.strip() for part in str(message).splitlines() if part.strip())


def main(argv=None):
    """Run the command line with ``argv`` (default ``sys.argv[1:]``); returns the exit code.

    Ctrl-C, SIGTERM and SIGHUP at any moment end it with one line and 128 + the signal number
    (130, 143, 129); ``train`` first saves a checkpoint of its last whole epoch."""
    from ..errors import DivergenceWarning
    from . import signals

    try:
        with signals.handled(), warnings.catch_warnings():
            warnings.showwarning = _show_warning
            warnings.filterwarnings("always", category=DivergenceWarning)
            return _main(argv)
    except KeyboardInterrupt as exc:             # also during start-up: quietly, no traceback
        _say(f"nnzero: {signals.name(exc)}")
        return signals.exit_code(exc)


def _main(argv):
    from ..errors import NnzeroError

    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    try:
        return args.run(args) or 0
    except NnzeroError as exc:
        print(f"nnzero: error: {_one_line(exc)}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        # The reader went away (e.g. `nnzero predict ... | head`): stop quietly, and point stdout
        # at /dev/null so the interpreter's final flush does not raise again.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1
    except OSError as exc:
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"nnzero: error: {where}{_one_line(exc.strerror or exc)}", file=sys.stderr)
        return 2
    except MemoryError:
        print("nnzero: error: out of memory; use less data or a smaller network "
              "(NNZERO_MAX_BYTES sets how much the readers may allocate)", file=sys.stderr)
        return 2


def _say(line):
    """One line on stderr, even when the terminal has gone (SIGHUP): then it is dropped."""
    try:
        print(line, file=sys.stderr, flush=True)
    except (OSError, ValueError):
        pass


def _show_warning(message, category, filename, lineno, file=None, line=None):
    """Warnings as one line, 'nnzero: warning: ...', not a file name and a source line."""
    _say(f"nnzero: warning: {_one_line(message)}")
