"""SIGTERM and SIGHUP end a command the way Ctrl-C does.

``docker stop``, systemd, Slurm and a closed terminal send SIGTERM or SIGHUP. Python's default
for those is to die on the spot: no checkpoint, a temporary file left behind. While a command
runs, :func:`handled` turns them into :class:`Interrupted` (a KeyboardInterrupt), so training
saves its last whole epoch, atomic writes clean up, and the exit code is 128 + the signal
number (143 for SIGTERM, 129 for SIGHUP, 130 for Ctrl-C), as a shell reports a killed process.

Ctrl-C goes through the same handler (raising Interrupted(SIGINT), a KeyboardInterrupt), which
also records that it came: an interrupt while a C extension initialises (NumPy's import) can
surface as an ImportError instead, and :data:`received` tells the command line it was Ctrl-C.
"""

import contextlib
import signal

SIGNALS = tuple(getattr(signal, name) for name in ("SIGTERM", "SIGHUP") if hasattr(signal, name))

#: The number of the last signal the handler turned into Interrupted (None: none yet).
received = None


class Interrupted(KeyboardInterrupt):
    """A termination signal, raised where the program was, like Ctrl-C's KeyboardInterrupt."""

    def __init__(self, signum):
        super().__init__(signum)
        self.signum = signum


def _raise(signum, frame):
    global received
    received = signum
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
    """While inside, SIGTERM/SIGHUP (and Ctrl-C, unless it is ignored, as under nohup) raise
    Interrupted; the previous handlers come back after. Outside the main thread (signal handlers
    cannot be set there) this does nothing."""
    global received
    received = None
    previous = {}
    ours = SIGNALS + ((signal.SIGINT,) if signal.getsignal(signal.SIGINT) is signal.default_int_handler else ())
    try:
        for signum in ours:
            previous[signum] = signal.signal(signum, _raise)
    except ValueError:
        pass
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
