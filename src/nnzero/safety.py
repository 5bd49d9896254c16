"""Paths checked before any work starts: inputs that can be read, outputs that can be written.

Every command that writes calls :func:`check_output` for each output **before** it loads data or
trains, so a run never ends with its result thrown away, and never writes over one of its own
inputs, a device, a FIFO or a directory. Every reader calls :func:`check_input` before it opens a
path, so a FIFO never hangs a read and a directory or device is named as what it is.

Writing through a symbolic link writes the file it points to (see :func:`write_target`); the link
itself is never replaced.
"""

from __future__ import annotations

import os
import secrets
import stat
from pathlib import Path

from .errors import ConfigError, DataError

#: The first bytes of an nnzero model or checkpoint file: a safetensors header length (8 bytes),
#: then the JSON header, whose ``__metadata__`` holds the ``nnzero`` document.
_SNIFF_BYTES = 1 << 16


def describe_mode(mode: int) -> str:
    """'a directory', 'a FIFO (named pipe)', 'a character device', ... for an ``st_mode``."""
    for test, words in ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO (named pipe)"),
                        (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
                        (stat.S_ISSOCK, "a socket"), (stat.S_ISREG, "a regular file")):
        if test(mode):
            return words
    return "not a regular file"


def check_input(path, what="", error=DataError) -> Path:
    """``path`` must name an existing regular file (symlinks followed); checked with ``stat``
    before anything opens it, so a FIFO cannot block the read. Raises ``error`` naming the path
    (after ``what``, e.g. '--data', when given)."""
    path = Path(path)
    name = f"{what} {path}" if what else str(path)
    try:
        st = os.stat(path)
    except FileNotFoundError:
        if os.path.islink(path):
            raise error(f"{name}: is a symbolic link to {os.readlink(path)}, which does not exist") from None
        raise error(f"{name}: no such file") from None
    except NotADirectoryError:
        raise error(f"{name}: no such file (a part of the path is not a folder)") from None
    except OSError as exc:
        raise error(f"{name}: cannot read: {exc.strerror or exc}") from None
    if not stat.S_ISREG(st.st_mode):
        link = f" (a symbolic link to {os.path.realpath(path)})" if os.path.islink(path) else ""
        raise error(f"{name}: is {describe_mode(st.st_mode)}{link}, not a regular file")
    return path


def write_target(path) -> Path:
    """The file a write to ``path`` really changes: the end of its chain of symbolic links
    (``path`` itself when it is not a link). Atomic writes rename onto this path, so the link
    stays a link and the file it points to gets the new content."""
    path = Path(path)
    return Path(os.path.realpath(path)) if os.path.islink(path) else path


def sniff_kind(path) -> str | None:
    """'model' or 'checkpoint' for an nnzero file, None for anything else (read: 64 KiB at most)."""
    try:
        with open(path, "rb") as f:
            head = f.read(_SNIFF_BYTES)
    except OSError:
        return None
    if len(head) < 8 or b'"nnzero"' not in head[8:]:
        return None
    for kind in ("checkpoint", "model"):
        if f'\\"kind\\":\\"{kind}\\"'.encode() in head:
            return kind
    return None


def check_output(path, what="--out", *, inputs=(), writes="file", force=False) -> Path:
    """Refuse, before any work, an output that cannot or must not be written; → the write target.

    Refused (ConfigError naming ``what``): an existing path that is not a regular file (directory,
    device, FIFO, socket); the same file as one of ``inputs`` (``os.path.samefile``); a folder that
    does not exist or cannot be written; an existing nnzero model or checkpoint file that would be
    replaced by other content (``writes``: 'model', 'checkpoint' or 'file'), or a model file
    replaced by a new model, unless ``force``. A symbolic link is checked (and written) through.
    """
    path = Path(path)
    target = write_target(path)
    shown = str(path) if target == path else f"{path} (a link to {target})"
    try:
        st = os.stat(target)
    except (FileNotFoundError, NotADirectoryError):
        st = None                       # the folder check below names the problem
    except OSError as exc:
        raise ConfigError(f"{what} {shown}: cannot use it: {exc.strerror or exc}") from None
    if st is not None and not stat.S_ISREG(st.st_mode):
        raise ConfigError(f"{what} {shown}: is {describe_mode(st.st_mode)}; expected a file name to write")
    if st is not None:
        for name, source in inputs:
            if source is not None and _same_file(target, source):
                raise ConfigError(f"{what} {shown} is the same file as {name} {source}; writing it would "
                                  "destroy the input, so give another output path")
        kind = sniff_kind(target)
        if kind is not None and not force and (kind != writes or kind == "model"):
            new = {"model": "a new model", "checkpoint": "a checkpoint"}.get(writes, "other content")
            raise ConfigError(f"{what} {shown} is an existing nnzero {kind} file; add --force to replace it "
                              f"with {new}, or give another path")
    check_folder(target.parent, what, shown)
    return target


def check_folder(folder, what, shown) -> None:
    """The folder must exist, be a folder, and accept a new file (probed: as root, or on a
    read-only file system, permission bits alone do not tell)."""
    folder = Path(folder) if str(folder) else Path(".")
    if not folder.exists():
        raise ConfigError(f"{what} {shown}: the folder {folder} does not exist")
    if not folder.is_dir():
        raise ConfigError(f"{what} {shown}: {folder} is not a folder")
    probe = folder / f".nnzero-probe-{secrets.token_hex(4)}"
    try:
        fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError as exc:
        raise ConfigError(f"{what} {shown}: cannot write in the folder {folder}: {exc.strerror or exc}") from None
    os.close(fd)
    os.unlink(probe)


def check_output_folder(path, what="--out", *, inputs=(), files=()) -> Path:
    """A folder to write ``files`` into (created, with its parents, if missing): refused if it
    exists as something else, is one of ``inputs``, holds one of ``files`` as a non-regular file
    (a FIFO, a device, a folder), or the nearest existing folder above it cannot be written."""
    path = Path(path)
    try:
        st = os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        st = None
    if st is not None and not stat.S_ISDIR(st.st_mode):
        raise ConfigError(f"{what} {path}: is {describe_mode(st.st_mode)}; expected a folder")
    for name, source in inputs:
        if source is not None and st is not None and _same_file(path, source):
            raise ConfigError(f"{what} {path} is the same as {name} {source}; give another folder")
    for name in files:
        target = write_target(path / name)
        if target.exists() and not target.is_file():
            raise ConfigError(f"{what} {path}: {name} there is {describe_mode(os.stat(target).st_mode)}; "
                              "expected a file it can replace")
    existing = path
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    check_folder(existing, what, str(path))
    return path


def _same_file(a, b) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def check_distinct(outputs) -> None:
    """No two outputs ({flag: path}) may be the same file (compared as resolved paths)."""
    seen = {}
    for flag, path in outputs.items():
        key = os.path.realpath(path)
        if key in seen:
            raise ConfigError(f"{seen[key]} and {flag} are the same file {path}; give two different paths")
        seen[key] = flag
