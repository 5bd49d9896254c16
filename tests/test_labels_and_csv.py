"""Labels are parsed exactly (never through float32); CSV is streamed in chunks with bounded
memory; --test-data labels outside the training classes are an error naming them."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import nnzero as nz
from nnzero.cli import main
from nnzero.datasets import csvfile, load_csv
from nnzero.errors import DataError

SRC = str(Path(nz.__file__).resolve().parents[1])


def write(tmp_path, text, name="d.csv"):
    path = tmp_path / name
    path.write_text(text)
    return path


@pytest.mark.parametrize("label", [16777217, 2147483647, 2**62 + 1, -9007199254740993])
def test_integer_labels_are_exact(tmp_path, label):
    X, y = load_csv(write(tmp_path, f"label,a,b\n{label},1,2\n7,3,4.5\n"))
    assert y.dtype == np.int64 and y.tolist() == [label, 7]
    X, y = load_csv(write(tmp_path, f"label,a,b\n{label},1,2\n7,3,4\n"))   # the all-integer fast path
    assert y.tolist() == [label, 7] and X.tolist() == [[1, 2], [3, 4]]


def test_labels_written_as_floats_must_be_whole_and_small(tmp_path):
    assert load_csv(write(tmp_path, "label,a\n3.0,1\n"))[1].tolist() == [3]
    with pytest.raises(DataError, match=r"line 2, column 1 \(label\): label 2.5 is not an integer"):
        load_csv(write(tmp_path, "label,a\n2.5,1\n"))
    with pytest.raises(DataError, match=r"label 1e39 is not an integer"):
        load_csv(write(tmp_path, "label,a\n1e39,1\n"))
    with pytest.raises(DataError, match=r"label 99999999999999999999 is not an integer"):
        load_csv(write(tmp_path, "label,a\n99999999999999999999,1\n"))


def test_a_value_too_large_for_float32_is_named_not_none(tmp_path):
    with pytest.raises(DataError, match=r"line 3, column 2 \(a\): 1e39 is too large for float32"):
        load_csv(write(tmp_path, "label,a\n1,2\n1,1e39\n"))
    X, _ = load_csv(write(tmp_path, "label,a\n1,2\n1,1e39\n"), dtype=np.float64)
    assert X[1, 0] == 1e39


def test_a_large_label_trains_without_becoming_another_class(tmp_path, capsys):
    rows = "\n".join(f"{16777217 if i % 2 else 16777216},{i % 2},{(i * 7) % 5}" for i in range(40))
    data = write(tmp_path, "label,a,b\n" + rows + "\n")
    out = tmp_path / "m.safetensors"
    assert main(["train", "--data", str(data), "--out", str(out), "--hidden", "4", "--epochs", "1",
                 "--test-split", "0", "--quiet"]) == 0
    assert nz.load(out).classes_.tolist() == [16777216, 16777217]


def test_chunks_give_the_same_table_as_one_piece(tmp_path, monkeypatch):
    rng = np.random.default_rng(0)
    y = rng.integers(0, 10, 500)
    X = rng.integers(0, 256, (500, 6))
    text = "label," + ",".join(f"p{i}" for i in range(6)) + "\n"
    text += "".join(f"{a}," + ",".join(map(str, r)) + "\n" + ("\n" if a == 3 else "") for a, r in zip(y, X))
    path = write(tmp_path, text)
    whole = load_csv(path)
    monkeypatch.setattr(csvfile, "CHUNK_BYTES", 100)                 # a few lines a chunk
    chunked = load_csv(path)
    assert all(np.array_equal(a, b) for a, b in zip(whole, chunked))
    assert chunked[0].tolist() == X.tolist() and chunked[1].tolist() == y.tolist()
    floats = write(tmp_path, text.replace(",1,", ",1.5,"), "f.csv")
    np.testing.assert_array_equal(load_csv(floats)[1], y)


PROBE = r"""
import json, resource, sys
import nnzero
from nnzero.datasets import load_csv
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
try:
    X, y = load_csv(sys.argv[1])
    error, shape = None, list(X.shape)
except nnzero.NnzeroError as exc:
    error, shape = str(exc), None
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"error": error, "shape": shape, "extra_mb": (after - before) / 1024}))
"""


def probe(path, max_bytes=None):
    env = {**os.environ, "PYTHONPATH": SRC}
    env.pop("NNZERO_MAX_BYTES", None)
    if max_bytes:
        env["NNZERO_MAX_BYTES"] = str(max_bytes)
    r = subprocess.run([sys.executable, "-c", PROBE, str(path)], capture_output=True, text=True, env=env,
                       timeout=300)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout.splitlines()[-1])


def test_a_sparse_csv_is_streamed_with_bounded_memory(tmp_path):
    """60 MB of '0,0,0,...' text: the result is 120 MB of float32; the reading costs ~2 chunks more."""
    path = tmp_path / "sparse.csv"
    row = "0," * 999 + "0\n"
    with open(path, "w") as f:
        f.write(",".join(f"c{i}" for i in range(1000)) + "\n")
        for _ in range(30):
            f.write(row * 1000)
    result = probe(path)
    assert result["error"] is None and result["shape"] == [30000, 1000]
    assert result["extra_mb"] < 120 + 100, result             # X itself + a few chunks
    result = probe(path, max_bytes=50 * 10**6)
    assert "30000 rows × 1000 columns of float32 would need 120 MB of memory, over the 50 MB budget" in result["error"]
    assert result["extra_mb"] < 30, result


def test_test_data_labels_outside_the_training_classes_are_an_error(tmp_path, capsys):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 3)).astype(np.float32)
    np.savez(tmp_path / "train.npz", X=X, y=np.arange(40) % 3)
    np.savez(tmp_path / "test.npz", X=X[:10], y=np.array([0, 1, 2, 7, 9, 0, 1, 2, 0, 1]))
    code = main(["train", "--data", str(tmp_path / "train.npz"), "--test-data", str(tmp_path / "test.npz"),
                 "--out", str(tmp_path / "m.safetensors"), "--hidden", "4", "--epochs", "1", "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and "has 2 label(s) that the training data never have: 7, 9" in err, err
    assert not (tmp_path / "m.safetensors").exists()
