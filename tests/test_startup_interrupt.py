"""Ctrl-C (or SIGTERM) at any moment of `nnzero train`'s start-up is one line and 128 + the signal:
real processes, real signals, sent at several delays while the interpreter imports NumPy, reads
the data and builds the network.

The child runs with ``-X importtime``, which reports each import as it finishes, so the test
knows how far the child had got. Python's own start-up (the interpreter, ``site``, ``runpy``)
runs before any nnzero code and cannot be nnzero's to handle: a signal there ends the process
as it ends any Python program (killed by SIGINT, which a shell reports as 130 too, perhaps after
Python's own traceback). The package's lazy ``__init__`` and ``nnzero.cli``'s module level are a
few statements, then main() takes charge: from then on every Ctrl-C must be nnzero's one line,
and every SIGTERM once main() has set its handler (its first step).
"""

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import nnzero as nz

SRC = str(Path(nz.__file__).resolve().parents[1])
# Import lines that tell how far the child got: nnzero.cli.signals is imported first thing inside
# main()'s handling of Ctrl-C; nnzero.errors right after main() has set its SIGTERM handler.
OURS = re.compile(r"^import time:.*\| +nnzero\.cli\.signals$", re.M)
HANDLER = re.compile(r"^import time:.*\| +nnzero\.errors$", re.M)
IMPORT_LINE = re.compile(r"^import time:.*$\n?", re.M)


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    rng = np.random.default_rng(0)
    d = tmp_path_factory.mktemp("startup")
    np.savez(d / "data.npz", X=rng.normal(size=(20000, 40)).astype(np.float32), y=rng.integers(0, 4, 20000))
    return d / "data.npz"


def _start(data, out):
    # Many epochs: whenever the signal comes, the run has not finished.
    cmd = [sys.executable, "-X", "importtime", "-m", "nnzero", "train", "--data", str(data), "--out", str(out),
           "--hidden", "64", "--epochs", "1000", "--test-split", "0"]
    env = {**os.environ, "PYTHONPATH": SRC, "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)


def _finish(proc):
    try:
        _, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
    return proc.returncode, err.decode()


def _wait_for(proc, line=OURS):
    """Read the child's stderr until ``line`` (an import) appears; returns what was read."""
    seen = b""
    while not line.search(seen.decode(errors="replace")):
        chunk = os.read(proc.stderr.fileno(), 65536)     # unbuffered: communicate() reads the rest
        assert chunk, f"the child ended before importing nnzero.cli: {seen.decode()[-2000:]}"
        seen += chunk
    return seen.decode()


def _assert_one_quiet_line(code, err, signum):
    words = {signal.SIGINT: "interrupted", signal.SIGTERM: "terminated (SIGTERM)"}[signum]
    ours = IMPORT_LINE.sub("", err)
    assert "Traceback" not in err, err[-3000:]
    assert code == 128 + signum, (code, ours)
    assert ours.count("\n") == 1 and ours.startswith(f"nnzero: {words}"), ours


@pytest.mark.parametrize("delay", [0, 0.005, 0.02, 0.05, 0.1, 0.2, 0.35, 0.5])
def test_ctrl_c_once_main_runs_is_one_line_and_130(data, tmp_path, delay):
    proc = _start(data, tmp_path / "m.safetensors")
    try:
        early = _wait_for(proc)
        time.sleep(delay)
        proc.send_signal(signal.SIGINT)
    finally:
        code, err = _finish(proc)
    _assert_one_quiet_line(code, early + err, signal.SIGINT)


@pytest.mark.parametrize("delay", [0, 0.05, 0.3])
def test_sigterm_during_start_up_is_one_line_and_143(data, tmp_path, delay):
    proc = _start(data, tmp_path / "m.safetensors")
    try:
        early = _wait_for(proc, HANDLER)
        time.sleep(delay)
        proc.send_signal(signal.SIGTERM)
    finally:
        code, err = _finish(proc)
    _assert_one_quiet_line(code, early + err, signal.SIGTERM)


@pytest.mark.parametrize("delay", [0, 0.01, 0.03, 0.06, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5])
def test_ctrl_c_from_the_first_moment(data, tmp_path, delay):
    """Counted from the moment the process exists. Once main() runs: nnzero's one line, 130.
    Before (Python's own start-up, on a loaded machine hundreds of milliseconds): the process
    ends as any Python program does on Ctrl-C, never silently going on."""
    proc = _start(data, tmp_path / "m.safetensors")
    time.sleep(delay)
    proc.send_signal(signal.SIGINT)
    code, err = _finish(proc)
    if OURS.search(err):
        _assert_one_quiet_line(code, err, signal.SIGINT)
        return
    rest = IMPORT_LINE.sub("", err).strip()
    # Killed by the signal before Python set its handler (nothing printed), or Python's own
    # KeyboardInterrupt traceback (exit -2), or site's "Fatal Python error" (exit 1).
    assert code in (-signal.SIGINT, 1, 130), (code, rest[-3000:])
    assert not rest or rest.endswith("KeyboardInterrupt") or rest == "nnzero: interrupted", rest[-3000:]


def _main(argv, capsys):
    from nnzero.cli import main

    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def test_ctrl_c_that_a_c_extension_turns_into_an_import_error_is_still_an_interrupt(monkeypatch, capsys):
    # Seen for real: Ctrl-C while NumPy's _multiarray_umath initialises ends as NumPy's
    # "ImportError: ... PyCapsule_Import could not import module "datetime"".
    def numpy_import(*args, **kwargs):
        try:
            os.kill(os.getpid(), signal.SIGINT)         # the real signal, through the real handler
            time.sleep(5)
        except KeyboardInterrupt:
            raise ImportError('PyCapsule_Import could not import module "datetime"') from None
        raise AssertionError("the handler should have raised")

    previous = signal.getsignal(signal.SIGINT)
    monkeypatch.setattr("nnzero.cli.build_parser", numpy_import)
    assert _main(["train"], capsys) == (130, "", "nnzero: interrupted\n")
    assert signal.getsignal(signal.SIGINT) is previous               # Python's handler is back


def test_an_import_error_without_an_interrupt_is_not_called_one(monkeypatch, capsys):
    def broken(*args, **kwargs):
        raise ImportError("a real bug")

    monkeypatch.setattr("nnzero.cli.build_parser", broken)
    with pytest.raises(ImportError, match="a real bug"):
        _main(["train"], capsys)
