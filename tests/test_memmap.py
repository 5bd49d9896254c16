"""Data bigger than memory: fit, evaluate, predict and the CLI on a NumPy memory map give exactly
the in-memory results, validate in chunks, and keep the process's peak RSS far below the data."""

import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import nnzero as nz
from nnzero import rows
from nnzero.cli import main
from nnzero.datasets import dataset_checksum
from nnzero.errors import DataError

SRC = str(Path(nz.__file__).resolve().parents[1])


def _mapped(tmp_path, X, name="X.npy"):
    np.save(tmp_path / name, X)
    return np.load(tmp_path / name, mmap_mode="r")


def _train(X, y, **kw):
    model = nz.mlp(X.shape[1], [16], 3, dropout=0.1)
    model.fit(X, y, epochs=3, seed=4, **{"batch_size": 32, **kw})
    return model


@pytest.mark.parametrize("kw", [{"validation_split": 0.2}, {"batch_size": None}, {"shuffle": False}])
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.uint8])
def test_fit_on_memmap_equals_fit_in_memory(tmp_path, rng, kw, dtype):
    X = (rng.random((300, 12)) * 4).astype(dtype)
    y = rng.integers(0, 3, 300)
    a, b = _train(X, y, **kw), _train(_mapped(tmp_path, X), y, **kw)
    for k in a.params:
        np.testing.assert_array_equal(a.params[k], b.params[k])
    for key in ("loss", "accuracy", "val_loss", "val_accuracy"):
        np.testing.assert_array_equal(np.asarray(a.history[key], float), np.asarray(b.history[key], float))


def test_evaluate_and_predict_on_memmap(tmp_path, rng):
    X = rng.normal(size=(500, 8)).astype(np.float32)
    y = rng.integers(0, 3, 500)
    model = _train(X, y)
    M = _mapped(tmp_path, X)
    assert model.evaluate(M, y) == model.evaluate(X, y)
    np.testing.assert_array_equal(model.predict(M), model.predict(X))
    np.testing.assert_array_equal(model.predict_proba(M), model.predict_proba(X))


def test_memmap_is_not_loaded_but_wrapped(tmp_path, rng):
    model = nz.mlp(8, [4], 2)
    checked = model.check_X(_mapped(tmp_path, rng.normal(size=(50, 8))))
    assert isinstance(checked, rows.LazyRows) and checked.dtype == np.float32 and checked.shape == (50, 8)
    sub = checked[np.array([3, 1, 4])]
    assert isinstance(sub, rows.LazyRows) and len(sub) == 3
    np.testing.assert_array_equal(sub[0:3], np.asarray(checked[0:50])[[3, 1, 4]])
    out = np.empty((2, 8), np.float32)
    assert np.take(sub, [2, 0], axis=0, out=out) is out
    np.testing.assert_array_equal(out, checked[0:50][[4, 3]])


def test_non_finite_memmap_named_with_its_row(tmp_path, rng, monkeypatch):
    X = rng.normal(size=(400, 5))
    X[333, 2] = np.nan
    monkeypatch.setattr(rows, "CHUNK_BYTES", 5 * 8 * 64)      # many chunks: the check streams
    with pytest.raises(DataError, match="NaN or infinite values .first at row 333"):
        nz.mlp(5, [4], 2).fit(_mapped(tmp_path, X), rng.integers(0, 2, 400), epochs=1)


def test_float64_overflow_to_float32_is_caught_per_chunk(tmp_path, rng):
    X = rng.normal(size=(40, 3))
    X[7, 0] = 1e300                     # finite in float64, inf as float32
    with pytest.raises(DataError, match="row 7"):
        nz.mlp(3, [4], 2).fit(_mapped(tmp_path, X), np.zeros(40, int), epochs=1)


def test_checksum_of_memmap_equals_in_memory(tmp_path, rng, monkeypatch):
    X = rng.normal(size=(300, 7)).astype(np.float32)
    y = rng.integers(0, 3, 300)
    expected = dataset_checksum(X, y)
    monkeypatch.setattr(rows, "CHUNK_BYTES", 7 * 4 * 16)
    assert dataset_checksum(_mapped(tmp_path, X), y) == expected


def test_cli_train_and_evaluate_on_npy_with_labels(tmp_path, rng, capsys):
    X = (rng.random((600, 20)) * 255).astype(np.uint8)
    y = (X[:, 0] > X[:, 1]).astype(np.int64)
    np.save(tmp_path / "X.npy", X)
    np.save(tmp_path / "y.npy", y)
    np.savez(tmp_path / "d.npz", X=X, y=y)
    common = ["--hidden", "8", "--epochs", "2", "--validation-split", "0.1", "--quiet"]
    assert main(["train", "--data", str(tmp_path / "X.npy"), "--labels", str(tmp_path / "y.npy"),
                 "--out", str(tmp_path / "a.safetensors"), *common]) == 0
    assert main(["train", "--data", str(tmp_path / "d.npz"), "--out", str(tmp_path / "b.safetensors"), *common]) == 0
    a, b = nz.load(tmp_path / "a.safetensors"), nz.load(tmp_path / "b.safetensors")
    for k in a.params:
        np.testing.assert_array_equal(a.params[k], b.params[k])
    assert a.metadata["dataset"]["sha256"] == b.metadata["dataset"]["sha256"]
    capsys.readouterr()
    assert main(["evaluate", str(tmp_path / "a.safetensors"), "--data", str(tmp_path / "X.npy"),
                 "--labels", str(tmp_path / "y.npy"), "--json"]) == 0
    mapped = capsys.readouterr().out
    assert main(["evaluate", str(tmp_path / "a.safetensors"), "--data", str(tmp_path / "d.npz"), "--json"]) == 0
    in_memory = capsys.readouterr().out
    assert mapped.replace("X.npy", "d.npz") == in_memory


def test_cli_non_finite_memmap_is_one_line_naming_the_row(tmp_path, rng, capsys):
    X = rng.random((60, 4))
    X[41, 1] = np.inf
    np.save(tmp_path / "X.npy", X)
    np.save(tmp_path / "y.npy", np.arange(60) % 2)
    code = main(["train", "--data", str(tmp_path / "X.npy"), "--labels", str(tmp_path / "y.npy"),
                 "--preprocessing", "none", "--epochs", "1", "--out", str(tmp_path / "m.safetensors")])
    err = capsys.readouterr().err
    assert code == 2 and "row 41" in err and len(err.strip().splitlines()) == 1


def test_streamed_preprocessing_choice_matches_in_memory(tmp_path, rng):
    pixels = rng.integers(0, 256, (300, 784)).astype(np.uint8)
    table = rng.normal(5, 3, (300, 6))
    assert rows.choose(rows.LazyRows(_mapped(tmp_path, pixels)))[0] == nz.preprocessing.SCALE_255
    spec, reason = rows.choose(rows.LazyRows(_mapped(tmp_path, table, "t.npy")))
    expected, expected_reason = nz.preprocessing.choose(table)
    assert spec["kind"] == "standardize" and reason == expected_reason
    np.testing.assert_allclose(spec["mean"], expected["mean"], rtol=1e-12)
    np.testing.assert_allclose(spec["std"], expected["std"], rtol=1e-12)


# Peak RSS of the child's own address space: VmHWM. (getrusage's ru_maxrss would also do, but
# after a vfork+exec it starts at the parent's peak, here the whole pytest process.)
CHILD = textwrap.dedent("""
    import sys
    import numpy as np
    import nnzero as nz

    def peak_rss():
        with open("/proc/self/status") as f:
            return next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmHWM"))

    X = np.load(sys.argv[1], mmap_mode="r")
    y = np.load(sys.argv[2])
    before = peak_rss()
    model = nz.mlp(X.shape[1], [32], 10)
    model.fit(X, y, epochs=1, batch_size=256, validation_split=0.1, seed=0)
    result = model.evaluate(X, y)
    print(before, peak_rss(), result["accuracy"])
""")


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads VmHWM from /proc (Linux)")
def test_memmap_training_peak_rss_stays_far_below_the_data(tmp_path):
    """300 MB of float32 rows: one epoch with a validation split, then evaluate, in a child
    process whose peak RSS (which counts the touched pages of a memory map) must stay below half
    the data's size (about 95 MB was seen, 44 of them before training); in memory it would exceed the data."""
    n, d = 100_000, 784
    X = np.lib.format.open_memmap(tmp_path / "X.npy", mode="w+", dtype=np.float32, shape=(n, d))
    gen = np.random.default_rng(0)
    for start in range(0, n, 10_000):
        X[start:start + 10_000] = gen.random((10_000, d), dtype=np.float32)
    X.flush()
    del X
    np.save(tmp_path / "y.npy", gen.integers(0, 10, n))
    out = subprocess.run([sys.executable, "-c", CHILD, str(tmp_path / "X.npy"), str(tmp_path / "y.npy")],
                         capture_output=True, text=True, timeout=300,
                         env={"PYTHONPATH": SRC, "PATH": "/usr/bin:/bin", "OMP_NUM_THREADS": "1"})
    assert out.returncode == 0, out.stderr
    before, peak, acc = out.stdout.split()
    size = n * d * 4
    assert int(peak) < size / 2, f"peak RSS {int(peak) / 2**20:.0f} MB for {size / 2**20:.0f} MB of data"
    assert 0 <= float(acc) <= 1


def test_divergence_on_memmap_is_reported(tmp_path, rng):
    X = rng.normal(size=(200, 4)) * 1e4
    with pytest.raises(nz.errors.TrainingDivergedError, match="training diverged"):
        nz.mlp(4, [8], 2).fit(_mapped(tmp_path, X), rng.integers(0, 2, 200), epochs=20,
                              optimizer=nz.SGD(10.0), seed=0)
