"""The ``nnzero`` command line: ``nnzero train | evaluate | predict | inspect ...``.

A subcommand is one module of this package defining ``add_parser(subparsers)`` (which adds and
returns its parser) and ``run(args) -> exit code``, listed in :data:`COMMANDS`. Every expected
error (:class:`~nnzero.errors.NnzeroError`, a missing file, a bad flag) ends as one line on
stderr and exit code 2; Ctrl-C exits with 130, SIGTERM with 143, SIGHUP with 129.
"""

# Only `sys` at module level: the `nnzero` command runs `from nnzero.cli import main` before
# anything of ours can catch Ctrl-C, so everything heavy (argparse, NumPy, the commands) is
# imported inside main's `try`, where an interrupt is one quiet line.
import sys

#: Subcommand modules, in the order ``--help`` lists them.
COMMANDS = ("train", "evaluate", "predict", "inspect_cmd", "gradcheck", "explain", "report", "studio", "search",
            "export")


def build_parser():
    """The top-level parser with every available subcommand (see :mod:`nnzero.cli.parser`)."""
    from . import parser

    return parser.build_parser(COMMANDS)


def main(argv=None):
    """Run the command line with ``argv`` (default ``sys.argv[1:]``); returns the exit code.

    Ctrl-C, SIGTERM and SIGHUP at any moment end it with one line and 128 + the signal number
    (130, 143, 129); ``train`` first saves a checkpoint of its last whole epoch."""
    try:
        from . import signals                    # first, so SIGTERM/SIGHUP count from here on

        with signals.handled():
            import warnings

            from ..errors import DivergenceWarning

            with warnings.catch_warnings():
                warnings.showwarning = _show_warning
                warnings.filterwarnings("always", category=DivergenceWarning)
                return _main(argv)
    except KeyboardInterrupt as exc:             # also during start-up: quietly, no traceback
        return _interrupted(getattr(exc, "signum", None))
    except Exception:
        # Ctrl-C while NumPy's C extension initialises surfaces as an ImportError from NumPy.
        signum = getattr(sys.modules.get(f"{__name__}.signals"), "received", None)
        if signum is None:
            raise
        return _interrupted(signum)


def _interrupted(signum):
    """Say which signal ended the run, in one line; the exit code is 128 + its number."""
    if signum is None:                           # Ctrl-C before `signals` took over
        _say("nnzero: interrupted")
        return 130
    from . import signals

    exc = signals.Interrupted(signum)
    _say(f"nnzero: {signals.name(exc)}")
    return signals.exit_code(exc)


def _one_line(message):
    return " ".join(part.strip() for part in str(message).splitlines() if part.strip())


def _main(argv):
    import os

    from ..errors import NnzeroError

    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    try:
        return args.run(args) or 0
    except NnzeroError as exc:
        _say(f"nnzero: error: {_one_line(exc)}")
        return 2
    except BrokenPipeError:
        # The reader went away (e.g. `nnzero predict ... | head`): stop quietly, and point stdout
        # at /dev/null so the interpreter's final flush does not raise again.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1
    except OSError as exc:
        where = f"{exc.filename}: " if exc.filename else ""
        _say(f"nnzero: error: {where}{_one_line(exc.strerror or exc)}")
        return 2
    except MemoryError:
        _say("nnzero: error: out of memory; use less data or a smaller network "
             "(NNZERO_MAX_BYTES sets how much the readers may allocate)")
        return 2


def _say(line):
    """One message on stderr: one line in a log, wrapped between words on a terminal (see
    :mod:`nnzero.cli.terminal`); dropped when the terminal has gone (SIGHUP)."""
    from . import terminal

    terminal.say(line)


def _show_warning(message, category, filename, lineno, file=None, line=None):
    """Warnings as one line, 'nnzero: warning: ...', not a file name and a source line."""
    _say(f"nnzero: warning: {_one_line(message)}")
