"""Checksummed, atomic downloads into nnzero's cache folder.

A download streams to ``<dest>.part-<random>`` in the destination folder, hashes as it goes,
and only a file whose checksum matches the pinned one is fsynced and renamed to ``dest``. Any
failure (network, timeout, size, checksum, Ctrl-C) deletes the temporary file, so nothing in the
cache ever looks complete without being so.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import os
import socket
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from ..errors import DownloadError
from .._atomic import fsync_dir, temp_path_for

USER_AGENT = "nnzero (+https://pypi.org/project/nnzero/)"
DEFAULT_TIMEOUT = 30.0  # seconds without progress (connect, or between two reads)
MAX_SECONDS = 900.0  # a whole file; a server trickling bytes cannot keep us forever
MAX_BYTES = 256 * 2**20  # no IDX dataset file we know is near this
_CHUNK = 1 << 20


def cache_dir() -> Path:
    """Where downloaded datasets live: ``$NNZERO_DATA`` if set, else the platform cache folder.

    Linux and other Unix: ``$XDG_CACHE_HOME/nnzero`` (default ``~/.cache/nnzero``);
    macOS: ``~/Library/Caches/nnzero``; Windows: ``%LOCALAPPDATA%\\nnzero\\Cache``.
    The folder is not created here; downloading creates it.
    """
    env = os.environ.get("NNZERO_DATA")
    if env:
        return Path(env).expanduser()
    if sys.platform == "win32":
        base = os.environ.get("LOCALAPPDATA") or str(Path.home() / "AppData" / "Local")
        return Path(base) / "nnzero" / "Cache"
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Caches" / "nnzero"
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg and os.path.isabs(os.path.expanduser(xdg)) else (
        Path.home() / ".cache")
    return base / "nnzero"


def file_digest(data_or_path, algorithm: str) -> str:
    """Hex digest of bytes, or of a file's contents read in chunks."""
    h = hashlib.new(algorithm)
    if isinstance(data_or_path, (bytes, bytearray, memoryview)):
        h.update(data_or_path)
        return h.hexdigest()
    with open(data_or_path, "rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def _pinned(md5: str | None, sha256: str | None) -> tuple[str, str]:
    """The strongest checksum given: ('sha256', hex) or ('md5', hex)."""
    if sha256:
        return "sha256", sha256.lower()
    if md5:
        return "md5", md5.lower()
    raise DownloadError("refusing to download without a pinned checksum (md5= or sha256=)")


def _copy(response, f, url, algorithm, max_bytes, start, max_seconds):
    """Copy the response body into ``f``: at most ``max_bytes``, until ``max_seconds`` after the
    monotonic ``start``; → (bytes received, their ``algorithm`` hex digest)."""
    h, received = hashlib.new(algorithm), 0
    while chunk := response.read(_CHUNK):
        received += len(chunk)
        if received > max_bytes:
            raise DownloadError(f"{url}: more than {max_bytes} bytes; stopped")
        if time.monotonic() - start > max_seconds:
            raise DownloadError(f"{url}: took longer than {max_seconds:.0f} s; stopped "
                                f"after {received} bytes")
        h.update(chunk)
        f.write(chunk)
    return received, h.hexdigest()


def download(url: str, dest, *, md5: str | None = None, sha256: str | None = None,
             timeout: float = DEFAULT_TIMEOUT, max_bytes: int = MAX_BYTES,
             max_seconds: float = MAX_SECONDS) -> Path:
    """Download ``url`` to ``dest`` atomically, verifying the pinned checksum.

    ``timeout`` bounds each network wait, ``max_seconds`` the whole transfer, ``max_bytes`` its
    size. Raises DownloadError naming the URL and the problem; on any failure ``dest`` is left as
    it was and no temporary file remains. Only http(s) URLs are accepted.
    """
    dest = Path(dest)
    algorithm, expected = _pinned(md5, sha256)
    scheme = url.split(":", 1)[0].lower()
    if scheme not in ("https", "http"):
        raise DownloadError(f"{url}: only http(s) URLs can be downloaded, got scheme {scheme!r}")
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise DownloadError(f"cannot create the folder {dest.parent}: {e}") from e
    tmp = temp_path_for(dest)
    start = time.monotonic()
    try:
        request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
        with urllib.request.urlopen(request, timeout=timeout) as response, open(tmp, "xb") as f:
            declared = response.headers.get("Content-Length")
            if declared is not None and declared.isdigit() and int(declared) > max_bytes:
                raise DownloadError(f"{url}: server announces {declared} bytes, over the "
                                    f"{max_bytes}-byte limit")
            received, actual = _copy(response, f, url, algorithm, max_bytes, start, max_seconds)
            if declared is not None and declared.isdigit() and received != int(declared):
                raise DownloadError(f"{url}: connection closed after {received} of {declared} "
                                    f"bytes (partial download discarded)")
            if actual != expected:
                raise DownloadError(f"{url}: checksum mismatch: expected {algorithm} {expected}, "
                                    f"got {actual} ({received} bytes); the file was discarded")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, dest)
    except BaseException as e:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(e, DownloadError):
            raise
        if isinstance(e, urllib.error.HTTPError):
            raise DownloadError(f"{url}: HTTP {e.code} {e.reason}") from e
        if isinstance(e, urllib.error.URLError):
            raise DownloadError(f"{url}: {e.reason}") from e
        if isinstance(e, (OSError, http.client.HTTPException, socket.timeout)):
            raise DownloadError(f"{url}: {type(e).__name__}: {e}") from e
        raise
    fsync_dir(dest.parent)
    return dest
