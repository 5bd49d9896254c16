"""Messages on stderr that fit the terminal they are shown on.

A terminal breaks an over-long line at its last column, inside a word or a file name
(``...c80.ckpt.safetenso`` / ``rs; continue with...``). On a terminal, a message is wrapped between
words at its width instead; a word longer than the width (a long path) stands whole on its own
line. Written to a file or a pipe, a message stays one line, for logs and ``grep``.
"""

import os
import sys

INDENT = "    "        # continuation lines, so a wrapped message reads as one


def width_of(stream):
    """The columns of the terminal ``stream`` writes to (``$COLUMNS`` first, as shutil does),
    or None when it is not a terminal."""
    try:
        if not stream.isatty():
            return None
        columns = os.environ.get("COLUMNS", "")
        return int(columns) if columns.isdigit() and int(columns) > 0 else os.get_terminal_size(stream.fileno()).columns
    except (AttributeError, OSError, ValueError):
        return None


def fit(text, stream):
    """``text`` wrapped between words to the width of the terminal ``stream`` writes to; as it
    is when ``stream`` is not a terminal."""
    width = width_of(stream)
    if width is None:
        return text
    import textwrap

    return textwrap.fill(text, width, subsequent_indent=INDENT, break_long_words=False, break_on_hyphens=False)


def say(text, stream=None):
    """One message on stderr (or ``stream``), fitted to the terminal; dropped when the terminal
    has gone (SIGHUP closes it)."""
    stream = sys.stderr if stream is None else stream
    try:
        print(fit(text, stream), file=stream, flush=True)
    except (OSError, ValueError):
        pass
