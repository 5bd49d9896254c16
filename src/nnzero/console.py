"""Text for a terminal: aligned tables, epoch lines that wrap at the terminal's width, and the
one style of tqdm progress bar that ``fit``, ``nnzero train`` and ``nnzero search`` draw.

tqdm is imported when a bar is first drawn (only on a terminal).
"""

import math
import shutil
import sys

BAR_FORMAT = "{desc} {bar} {n_fmt}/{total_fmt} {elapsed}<{remaining}{postfix}"


def terminal_width(default=80):
    return shutil.get_terminal_size((default, 24)).columns


def table(rows, right=None):
    """Rows of strings → aligned text, columns two spaces apart; the columns in ``right``
    (indices; default every one but the first) are right-aligned."""
    right = set(range(1, len(rows[0]))) if right is None else set(right)
    widths = [max(len(r[c]) for r in rows) for c in range(len(rows[0]))]
    return "\n".join("  ".join(v.rjust(w) if c in right else v.ljust(w)
                               for c, (v, w) in enumerate(zip(r, widths))).rstrip() for r in rows)


def wrap_parts(head, parts, width=None, sep="  "):
    """``head`` then ``parts`` joined by ``sep``; with a ``width``, wrapped between parts onto
    lines of at most ``width`` characters (a part is never cut), continuations indented."""
    if width is None:
        return sep.join([head, *parts])
    lines, line, indent = [], head, " " * min(len(head), 12)
    for part in parts:
        if len(line) + len(sep) + len(part) > width and line.strip():
            lines.append(line)
            line = indent + part
        else:
            line = line + sep + part if line.strip() else line + part
    return "\n".join([*lines, line])


def log_parts(logs):
    """An epoch's logs as ['loss 0.2360', 'accuracy 0.9312', ...]: the History's own names."""
    parts = []
    for key, fmt in (("loss", ".4f"), ("accuracy", ".4f"), ("val_loss", ".4f"), ("val_accuracy", ".4f"),
                     ("lr", ".2e"), ("time", ".1f")):
        v = logs.get(key)
        if v is not None and not (isinstance(v, float) and math.isnan(v)):
            parts.append(f"{key} {v:{fmt}}" + ("s" if key == "time" else ""))
    return parts


def format_logs(logs):
    return "  ".join(log_parts(logs))


def progress_bar(total, unit, desc, initial=0, leave=True):
    """A tqdm bar on stdout in nnzero's style: '<desc> <bar> n/total elapsed<remaining, postfix'."""
    from tqdm import tqdm

    return tqdm(total=total, initial=initial, desc=desc, unit=unit, leave=leave, dynamic_ncols=True,
                file=sys.stdout, bar_format=BAR_FORMAT)


class BatchProgress:
    """``fit``'s display. verbose=1: on a terminal, a live bar during each epoch, replaced at its
    end by the epoch's line (wrapped to the terminal's width, never cut); elsewhere one plain
    line per epoch. verbose=2: one plain line per epoch. An interrupted bar is erased."""

    def __init__(self, verbose, epochs, n_batches):
        self.verbose, self.epochs, self.n_batches = verbose, epochs, n_batches
        self.tty = sys.stdout.isatty()
        self.live = verbose == 1 and self.tty
        self.bar = None

    def epoch_begin(self, epoch):
        if self.live:
            self.bar = progress_bar(self.n_batches, "batch", f"epoch {epoch + 1}/{self.epochs}", leave=False)

    def batch_end(self, b, loss, acc):
        if self.bar is not None:
            self.bar.update(1)
            if b % 20 == 0 or b == self.n_batches - 1:
                text = f"loss {loss:.4f}" + ("" if math.isnan(acc) else f"  accuracy {acc:.4f}")
                self.bar.set_postfix_str(text, refresh=False)

    def epoch_end(self, epoch, logs):
        if not self.verbose:
            return
        self.close()
        head = f"epoch {epoch + 1}/{self.epochs}"
        width = terminal_width() if self.tty else None
        print(wrap_parts(head, log_parts(logs), width), flush=True)

    def close(self):
        if self.bar is not None:
            self.bar.close()          # leave=False: the bar is erased, not left half-drawn
            self.bar = None
