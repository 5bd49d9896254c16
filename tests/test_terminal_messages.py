"""Messages on stderr fit the terminal: wrapped between words at its width, never inside a word
or a path; one line when stderr is a file or a pipe (logs, grep)."""

import fcntl
import io
import os
import pty
import signal
import struct
import subprocess
import sys
import termios
from pathlib import Path

import numpy as np
import pytest

import nnzero as nz
from nnzero.cli import terminal

SRC = str(Path(nz.__file__).resolve().parents[1])
MESSAGE = ("nnzero: interrupted; saved a checkpoint after epoch 1 of 3 to c80.ckpt.safetensors; "
           "continue with: nnzero train --resume c80.ckpt.safetensors")


class _Tty(io.StringIO):
    def isatty(self):
        return True


def _assert_wrapped_between_words(text, message, width):
    lines = text.splitlines()
    assert len(lines) > 1
    assert text.split() == message.split()                 # every word (path) whole, in order
    for line in lines:
        assert len(line) <= width or len(line.split()) == 1, line     # only a long path may overrun


@pytest.mark.parametrize("width", [80, 60, 40])
def test_a_message_wraps_between_words_at_the_terminal_width(monkeypatch, width):
    monkeypatch.setenv("COLUMNS", str(width))
    text = terminal.fit(MESSAGE, _Tty())
    _assert_wrapped_between_words(text, MESSAGE, width)
    if width == 80:      # the case seen: '...to c80.ckpt.safetenso' / 'rs; continue with...'
        assert text.splitlines() == ["nnzero: interrupted; saved a checkpoint after epoch 1 of 3 to",
                                     "    c80.ckpt.safetensors; continue with: nnzero train --resume",
                                     "    c80.ckpt.safetensors"]


def test_a_path_longer_than_the_terminal_stands_whole_on_its_own_line(monkeypatch):
    monkeypatch.setenv("COLUMNS", "40")
    path = "/tmp/" + "a-very-long-folder-name/" * 3 + "model.ckpt.safetensors"
    message = f"nnzero: interrupted; saved a checkpoint to {path}; continue with: nnzero train --resume {path}"
    text = terminal.fit(message, _Tty())
    assert text.split() == message.split()
    assert [line.strip() for line in text.splitlines()].count(f"{path};") == 1


def test_not_a_terminal_keeps_one_line(monkeypatch):
    monkeypatch.setenv("COLUMNS", "40")
    assert terminal.fit(MESSAGE, io.StringIO()) == MESSAGE


def test_ctrl_c_in_a_real_80_column_terminal(tmp_path):
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(4, 40)) * 2
    y = rng.integers(0, 4, 8000)
    np.savez(tmp_path / "d.npz", X=(centres[y] + rng.normal(size=(8000, 40))).astype(np.float32), y=y)
    out = tmp_path / "c80.safetensors"
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    cmd = [sys.executable, "-m", "nnzero", "train", "--data", str(tmp_path / "d.npz"), "--out", str(out),
           "--hidden", "64", "--batch-size", "16", "--epochs", "50", "--test-split", "0"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=slave, text=True,
                            env={**env, "PYTHONPATH": SRC, "PYTHONUNBUFFERED": "1"})
    os.close(slave)
    try:
        for line in proc.stdout:                       # stdout is a pipe: a line per epoch
            if line.startswith("epoch 1/"):
                break
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=120)
    finally:
        proc.kill()
    shown = b""
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:                                # EIO: the child closed the terminal
            break
        if not chunk:
            break
        shown += chunk
    os.close(master)
    text = shown.decode().replace("\r\n", "\n").strip()
    ckpt = tmp_path / "c80.ckpt.safetensors"
    assert proc.returncode == 130
    expected = (f"nnzero: interrupted; saved a checkpoint after epoch {text.split()[7]} of 50 to {ckpt}; "
                f"continue with: nnzero train --resume {ckpt}")
    assert "Traceback" not in text
    _assert_wrapped_between_words(text, expected, 80)
