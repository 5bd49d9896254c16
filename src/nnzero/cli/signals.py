"""SIGTERM and SIGHUP end a command the way Ctrl-C does.

``docker stop``, systemd, Slurm and a closed terminal send SIGTERM or SIGHUP. Python's default
for those is to die on the spot: no checkpoint, a temporary file left behind. While a command
runs, :func:`handled` turns them into :class:`Interrupted` (a KeyboardInterrupt), so training
saves its last whole epoch, atomic writes clean up, and the exit code is 128 + the signal
number (143 for SIGTERM, 129 for SIGHUP, 130 for Ctrl-C), as a shell reports a killed process.
"""

import contextlib
import signal

SIGNALS = tuple(getattr(signal, name) for name in ("SIGTERM", "SIGHUP") if hasattr(signal, name))


class Interrupted(KeyboardInterrupt):
    """A termination signal, raised where the program was, like Ctrl-C's KeyboardInterrupt."""

    def __init__(self, signum):
        super().__init__(signum)
        self.signum = signum


def _raise(signum, frame):
    raise Interrupted(signum)


def exit_code(exc):
    """128 + the signal number: 130 for Ctrl-C, 143 for SIGTERM, 129 for SIGHUP."""
    return 128 + int(getattr(exc, "signum", signal.SIGINT))


def name(exc):
    """'interrupted' (Ctrl-C), 'terminated (SIGTERM)', 'hung up (SIGHUP)'."""
    signum = getattr(exc, "signum", signal.SIGINT)
    if signum == signal.SIGINT:
        return "interrupted"
    words = "hung up" if signum == getattr(signal, "SIGHUP", None) else "terminated"
    return f"{words} ({signal.Signals(signum).name})"


@contextlib.contextmanager
def handled():
    """While inside, SIGTERM/SIGHUP raise Interrupted; the previous handlers come back after.
    Outside the main thread (signal handlers cannot be set there) this does nothing."""
    previous = {}
    try:
        for signum in SIGNALS:
            previous[signum] = signal.signal(signum, _raise)
    except ValueError:
        pass
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
