"""A run interrupted by the studio server's shutdown resumes from the page after a restart: two
real ``nnzero studio`` processes in one folder, a Ctrl-C (SIGINT) between them, and the resumed
model's weights equal, tensor for tensor, those of an uninterrupted ``nnzero train``."""

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

httpx = pytest.importorskip("httpx")
pytest.importorskip("starlette")
pytest.importorskip("uvicorn")

import nnzero as nz  # noqa: E402
from nnzero.cli import main  # noqa: E402

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(sys.platform == "win32", reason="sends SIGINT to the server process")]

# 1,080 training rows in batches of 32: a few hundredths of a second an epoch on a quiet machine,
# so 40 epochs leave time to interrupt the run between its first and last epoch.
FORM = {"hidden": "24", "epochs": "40", "batch_size": "32", "seed": "5", "validation_split": "0.1"}


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """``nnzero studio --no-browser`` in ``folder``, as a separate process."""

    def __init__(self, folder, tmp_path):
        self.port = _free_port()
        src = str(Path(nz.__file__).resolve().parents[1])
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([src, os.environ.get("PYTHONPATH", "")]),
               "NNZERO_DATA": str(tmp_path / "cache"),       # no cached default model
               "PYTHONUNBUFFERED": "1"}
        self.log = open(tmp_path / f"server-{self.port}.log", "w")
        self.proc = subprocess.Popen([sys.executable, "-m", "nnzero", "studio", "--no-browser",
                                      "--port", str(self.port)], cwd=folder, env=env,
                                     stdout=self.log, stderr=subprocess.STDOUT)
        self.client = httpx.Client(base_url=f"http://127.0.0.1:{self.port}", timeout=30)
        deadline = time.monotonic() + 90
        while True:
            assert self.proc.poll() is None, self.output()
            try:
                self.client.get("/api/status")
                return
            except httpx.TransportError:
                assert time.monotonic() < deadline, "the studio did not start: " + self.output()
                time.sleep(0.1)

    def output(self):
        self.log.flush()
        return Path(self.log.name).read_text()

    def train(self):
        return self.client.get("/api/train").json()

    def wait(self, done, every=0.05, timeout=240):
        deadline = time.monotonic() + timeout
        while not done(state := self.train()):
            assert time.monotonic() < deadline, f"gave up waiting; last state {state}"
            time.sleep(every)
        return state

    def interrupt(self):
        """Ctrl-C, as in the terminal that runs ``nnzero studio``."""
        self.client.close()
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(90)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
            self.log.close()


def test_a_run_cut_by_the_servers_shutdown_resumes_after_a_restart(tmp_path):
    (X, y), _ = nz.datasets.load_dataset("mnist")
    data = tmp_path / "small.npz"
    np.savez(data, X=X[:1200], y=y[:1200])
    folder = tmp_path / "studio"
    folder.mkdir()

    first = Server(folder, tmp_path)
    try:
        r = first.client.post("/api/train/start", json={"settings": {**FORM, "data": str(data)}})
        assert r.status_code == 200, r.text
        first.wait(lambda s: s["epoch"] >= 2 or s["state"] != "running")
    finally:
        first.interrupt()
    ckpt, model = folder / "studio-model.ckpt.safetensors", folder / "studio-model.safetensors"
    assert ckpt.exists() and not model.exists(), first.output()

    second = Server(folder, tmp_path)
    try:
        info = second.train()
        assert info["state"] == "idle" and info["folder"] == str(folder.resolve())
        (entry,) = info["resumable"]
        assert entry["checkpoint"] == ckpt.name and 2 <= entry["epoch"] < 40 and entry["epochs"] == 40
        assert entry["settings"]["hidden"] == [24] and entry["settings"]["seed"] == 5
        assert entry["settings"]["batch_size"] == 32 and entry["data"] == "small.npz"
        assert entry["form"]["hidden"] == "24" and entry["form"]["data"] == str(data.resolve())
        for bad, status, words in [({"checkpoint": "other.ckpt.safetensors"}, 400, "no resumable checkpoint"),
                                   ({"checkpoint": 3}, 400, "checkpoint must be a file name")]:
            r = second.client.post("/api/train/resume", json=bad)
            assert r.status_code == status and words in r.json()["error"]
        r = second.client.post("/api/train/resume", json={"checkpoint": ckpt.name})
        assert r.status_code == 200, r.text
        started = r.json()
        assert started["resumed_from"] == entry["epoch"] and started["command"].startswith("nnzero train --resume ")
        # The page's stream starts with the checkpoint's epochs, then the resumed ones.
        events = second.client.get("/api/train/events?once=1").text
        assert '"type": "reset"' in events and '"epoch": 0, "epochs": 40' in events
        done = second.wait(lambda s: s["state"] not in ("running", "stopping"), every=0.5)
        assert done["state"] == "done", done["message"]
        assert done["resumable"] == [] and second.client.get("/api/model").json()["path"] == "studio-model.safetensors"
    finally:
        second.interrupt()

    argv = ["train", "--data", str(data), "--out", str(tmp_path / "cli.safetensors"), "--quiet"]
    for field, value in FORM.items():
        argv += ["--" + field.replace("_", "-"), value]
    assert main(argv) == 0
    expected, got = nz.load(tmp_path / "cli.safetensors").params, nz.load(model).params
    assert set(got) == set(expected)
    for k, v in expected.items():
        assert np.array_equal(got[k], v), k
