"""Downloads, against a local HTTP server on 127.0.0.1: these tests never touch the network."""

import dataclasses
import gzip
import hashlib
import http.server
import socket
import threading

import numpy as np
import pytest

from nnzero import datasets
from nnzero.datasets import DATASETS, download, load_dataset
from nnzero.errors import DataError, DownloadError


class Server:
    """A loopback HTTP server: ``routes`` maps a path to bytes, or to ("truncate", bytes)."""

    def __init__(self):
        self.routes, self.requests = {}, []
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            timeout = 10

            def do_GET(self):
                outer.requests.append(self.path)
                body = outer.routes.get(self.path)
                if body is None:
                    self.send_error(404)
                    return
                truncate = isinstance(body, tuple)
                body = body[1] if truncate else body
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                # "truncate": promise the whole body, send half, hang up.
                self.wfile.write(body[: len(body) // 2] if truncate else body)
                if truncate:
                    self.close_connection = True

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(5)


@pytest.fixture
def server():
    s = Server()
    yield s
    s.close()


@pytest.fixture
def dead_url():
    """A loopback URL nobody listens on: connections are refused at once."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"


@pytest.fixture(autouse=True)
def offline_env(monkeypatch, tmp_path):
    """Cache in tmp_path, no proxies, and no way to reach the official mirrors by accident."""
    monkeypatch.setenv("NNZERO_DATA", str(tmp_path / "cache"))
    monkeypatch.setenv("NNZERO_MIRROR", "http://127.0.0.1:9/unset-mirror")
    for var in ("http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("no_proxy", "*")
    monkeypatch.setenv("NO_PROXY", "*")


def md5(data):
    return hashlib.md5(data).hexdigest()


def leftovers(folder):
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


# --- download() ------------------------------------------------------------------------------

def test_good_file(server, tmp_path):
    body = bytes(range(256)) * 4000
    server.routes["/f.gz"] = body
    dest = tmp_path / "out" / "f.gz"
    assert download(server.url + "/f.gz", dest, md5=md5(body), timeout=5) == dest
    assert dest.read_bytes() == body
    assert leftovers(dest.parent) == ["f.gz"]
    dest2 = tmp_path / "out" / "g.gz"
    download(server.url + "/f.gz", dest2, sha256=hashlib.sha256(body).hexdigest(), timeout=5)
    assert dest2.read_bytes() == body


def test_wrong_checksum_leaves_nothing(server, tmp_path):
    server.routes["/f.gz"] = b"tampered"
    dest = tmp_path / "out" / "f.gz"
    with pytest.raises(DownloadError, match=r"/f.gz: checksum mismatch: expected md5 0{32}, got"):
        download(server.url + "/f.gz", dest, md5="0" * 32, timeout=5)
    assert leftovers(dest.parent) == []


def test_failure_keeps_an_existing_file(server, tmp_path):
    dest = tmp_path / "f.gz"
    dest.write_bytes(b"old")
    server.routes["/f.gz"] = ("truncate", b"x" * 10000)
    with pytest.raises(DownloadError, match="(5000 of 10000 bytes|IncompleteRead)"):
        download(server.url + "/f.gz", dest, md5=md5(b"x" * 10000), timeout=5)
    assert dest.read_bytes() == b"old" and leftovers(tmp_path) == ["f.gz"]


def test_server_down_and_http_errors(server, dead_url, tmp_path):
    with pytest.raises(DownloadError, match=f"{dead_url}/f.gz: .*refused"):
        download(dead_url + "/f.gz", tmp_path / "f.gz", md5="0" * 32, timeout=5)
    with pytest.raises(DownloadError, match="HTTP 404"):
        download(server.url + "/missing.gz", tmp_path / "f.gz", md5="0" * 32, timeout=5)
    assert leftovers(tmp_path) == []


def test_size_limit_scheme_and_missing_checksum(server, tmp_path):
    server.routes["/big"] = b"y" * 5000
    with pytest.raises(DownloadError, match="over the 1000-byte limit"):
        download(server.url + "/big", tmp_path / "big", md5="0" * 32, max_bytes=1000, timeout=5)
    with pytest.raises(DownloadError, match="only http"):
        download("file:///etc/passwd", tmp_path / "p", md5="0" * 32)
    with pytest.raises(DownloadError, match="pinned checksum"):
        download(server.url + "/big", tmp_path / "big")
    assert leftovers(tmp_path) == []


# --- load_dataset with downloads -------------------------------------------------------------

def fake_release(seed=0):
    """A tiny MNIST-layout release: file name -> gzip bytes."""
    rng = np.random.default_rng(seed)
    arrays = {"train-images-idx3-ubyte.gz": rng.integers(0, 256, (5, 28, 28), dtype=np.uint8),
              "train-labels-idx1-ubyte.gz": rng.integers(0, 10, 5, dtype=np.uint8),
              "t10k-images-idx3-ubyte.gz": rng.integers(0, 256, (3, 28, 28), dtype=np.uint8),
              "t10k-labels-idx1-ubyte.gz": rng.integers(0, 10, 3, dtype=np.uint8)}
    files = {}
    for name, arr in arrays.items():
        raw = bytes([0, 0, 0x08, arr.ndim]) + np.asarray(arr.shape, ">u4").tobytes() + arr.tobytes()
        files[name] = gzip.compress(raw, mtime=0)
    return files, arrays


@pytest.fixture(params=["fashion-mnist", "kmnist"])
def published(request, server, monkeypatch):
    """The dataset's spec pinned to a fake release that the loopback server serves."""
    name = request.param
    files, arrays = fake_release()
    monkeypatch.setitem(DATASETS, name, dataclasses.replace(
        DATASETS[name], md5={f: md5(b) for f, b in files.items()}))
    for f, b in files.items():
        server.routes[f"/{name}/{f}"] = b
    monkeypatch.setenv("NNZERO_MIRROR", server.url)
    return name, files, arrays


def test_download_then_offline_from_cache(published, server, tmp_path):
    name, files, arrays = published
    (X, y), (Xt, yt) = load_dataset(name, timeout=5)
    np.testing.assert_array_equal(X, arrays["train-images-idx3-ubyte.gz"].reshape(5, 784))
    np.testing.assert_array_equal(yt, arrays["t10k-labels-idx1-ubyte.gz"])
    folder = tmp_path / "cache" / name
    assert leftovers(folder) == sorted(files)
    assert len(server.requests) == 4
    server.close()  # now offline: the cache is enough
    (X2, _), _ = load_dataset(name, normalize=True, download=False)
    assert X2.dtype == np.float32 and len(server.requests) == 4


def test_wrong_checksum_from_mirror_leaves_cache_empty(published, server, tmp_path):
    name, files, _ = published
    server.routes[f"/{name}/t10k-images-idx3-ubyte.gz"] = b"\x1f\x8b not the real thing"
    with pytest.raises(DownloadError, match="checksum mismatch"):
        load_dataset(name, timeout=5)
    folder = tmp_path / "cache" / name
    assert "t10k-images-idx3-ubyte.gz" not in leftovers(folder)
    assert not any(".part-" in p for p in leftovers(folder))


def test_corrupted_cache_entry(published, tmp_path):
    name, files, _ = published
    load_dataset(name, timeout=5)
    path = tmp_path / "cache" / name / "train-labels-idx1-ubyte.gz"
    path.write_bytes(b"bit rot")
    with pytest.raises(DataError, match="train-labels-idx1-ubyte.gz: checksum mismatch.*delete"):
        load_dataset(name, download=False)
    load_dataset(name, timeout=5)  # downloads a good copy over the bad one
    assert path.read_bytes() == files["train-labels-idx1-ubyte.gz"]


def test_offline_error_says_what_to_put_where(dead_url, monkeypatch, tmp_path):
    monkeypatch.setenv("NNZERO_MIRROR", dead_url)
    with pytest.raises(DownloadError) as err:
        datasets.load_fashion_mnist(timeout=5)
    msg = str(err.value)
    folder = tmp_path / "cache" / "fashion-mnist"
    assert "could not download Fashion-MNIST" in msg
    assert f"{dead_url}/fashion-mnist/train-images-idx3-ubyte.gz" in msg  # the URL tried
    assert f"put them in {folder}" in msg
    for fname, digest in DATASETS["fashion-mnist"].md5.items():
        assert f"{fname}  (md5 {digest})" in msg
    assert "--data-dir" in msg
    assert leftovers(folder) == []


def test_download_false_names_missing_files(tmp_path):
    with pytest.raises(DataError, match=r"(?s)Kuzushiji-MNIST is not in the cache.*t10k-labels-idx1-ubyte\.gz"
                                        r".*--data-dir") as err:
        datasets.load_kmnist(download=False)
    assert not isinstance(err.value, DownloadError)


def test_mirror_argument_overrides_environment(published, server, monkeypatch):
    name, _, _ = published
    monkeypatch.setenv("NNZERO_MIRROR", "http://127.0.0.1:9/nowhere")
    (X, _), _ = load_dataset(name, mirror=server.url + "/", timeout=5)
    assert X.shape == (5, 784)
