"""How much memory a reader may allocate for one input: the byte budget.

Every reader compares the size an input *declares* (an IDX or NPY header, a zip directory, an
image's width × height, a CSV's row and column count) with this budget before it allocates, so a
small hostile file (a 3 MB NPZ of deflated zeros, a 97 KB PNG of 20000 × 10000 pixels) is a clear
error instead of gigabytes and a crash. The default is 4 GB; ``NNZERO_MAX_BYTES`` raises or lowers
it (a number of bytes, optionally with a unit: ``NNZERO_MAX_BYTES=16G``).
"""

from __future__ import annotations

import os
import re

from .errors import ConfigError, DataError

DEFAULT_MAX_BYTES = 4 * 10**9
ENV = "NNZERO_MAX_BYTES"
_UNITS = {"": 1, "k": 10**3, "m": 10**6, "g": 10**9, "t": 10**12,
          "ki": 2**10, "mi": 2**20, "gi": 2**30, "ti": 2**40}
_PATTERN = re.compile(r"\s*([0-9]+(?:\.[0-9]*)?(?:e[0-9]+)?)\s*([kmgt]i?)?b?\s*", re.IGNORECASE)


def max_bytes() -> int:
    """The budget in bytes: ``$NNZERO_MAX_BYTES`` if set (e.g. '8000000000', '8G', '512MiB'),
    else 4 GB."""
    text = os.environ.get(ENV)
    if text is None or not text.strip():
        return DEFAULT_MAX_BYTES
    m = _PATTERN.fullmatch(text)
    if m is None:
        raise ConfigError(f"{ENV}={text!r} is not a size; expected bytes like 8000000000 or 8G")
    value = int(float(m.group(1)) * _UNITS[(m.group(2) or "").lower()])
    if value < 1:
        raise ConfigError(f"{ENV}={text!r} must be at least 1 byte")
    return value


def human(n: int) -> str:
    """Bytes for a person: '6.8 GB', '512 MB', '97 kB'."""
    for unit, size in (("TB", 10**12), ("GB", 10**9), ("MB", 10**6), ("kB", 10**3)):
        if n >= size:
            return f"{n / size:.3g} {unit}"
    return f"{n} bytes"


def check(nbytes: int, what: str) -> None:
    """Raise DataError if ``nbytes`` (what ``what`` would need in memory) exceeds the budget."""
    limit = max_bytes()
    if nbytes > limit:
        need = max(nbytes, 1)
        suggest = f"{-(-need // 10**9)}G" if need >= 10**9 else f"{-(-need // 10**6)}M"
        raise DataError(f"{what} would need {human(nbytes)} of memory, over the {human(limit)} budget for "
                        f"one input; if that is really meant, raise it with {ENV}={suggest}")
