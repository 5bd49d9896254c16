"""Atomic file writes: a temporary file in the same folder, fsync, then ``os.replace``.

A reader never sees a half-written file under the final name, and a failed write leaves nothing
behind but the old file (if any).
"""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path


def _name_max(folder: Path) -> int:
    try:
        return os.pathconf(folder, "PC_NAME_MAX")
    except (OSError, ValueError, AttributeError):
        return 255


def temp_path_for(path: Path) -> Path:
    """A fresh, unguessable sibling name for ``path``: ``<name>.part-<random hex>``, with the
    name shortened so the whole stays within the file system's name limit (NAME_MAX bytes):
    a legal 250-byte output name must not fail because its temporary name is longer."""
    suffix = f".part-{secrets.token_hex(8)}"
    room = _name_max(path.parent if str(path.parent) else Path(".")) - len(suffix)
    name = os.fsencode(path.name)[:max(room, 1)]
    return path.with_name(os.fsdecode(name) + suffix)


def fsync_dir(folder: Path) -> None:
    """Make a rename in ``folder`` durable (POSIX); a no-op where directories cannot be opened."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_write(path):
    """Open a temp file next to ``path`` for binary writing; on success rename it over ``path``.

    On any exception (including KeyboardInterrupt) the temp file is deleted and ``path`` is left
    untouched. A symbolic link is written through: the file it points to gets the content, and
    the link stays a link.
    """
    path = Path(path)
    if os.path.islink(path):
        path = Path(os.path.realpath(path))
    tmp = temp_path_for(path)
    f = open(tmp, "xb")
    try:
        with f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    fsync_dir(path.parent)
