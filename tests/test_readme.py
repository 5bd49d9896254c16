"""The README's snippets, executed as written: the Python API block and every `$ nnzero ...`
command line, in order, in a fresh folder. MNIST is swapped for a small subset of itself (and
the README's own files, train.csv, iris.csv, ..., are made up from it) so each takes seconds;
the code and the commands are the README's, word for word."""

import re
import shlex
from pathlib import Path

import numpy as np
import pytest

import nnzero as nz
from nnzero.cli import main

README = Path(__file__).resolve().parents[1] / "README.md"


def _blocks(language):
    return re.findall(rf"```{language}\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.S)


@pytest.fixture
def small_mnist(monkeypatch):
    """Every MNIST load returns 100 training and 50 test digits (the first ones)."""
    (X, y), (Xt, yt) = nz.datasets.load_mnist()
    small = ((X[:100], y[:100]), (Xt[:50], yt[:50]))

    def load_mnist(normalize=False, data_dir=None):
        if normalize:
            return tuple((a.astype(np.float32) / np.float32(255), b) for a, b in small)
        return small

    def load_dataset(name, normalize=False, data_dir=None, **kwargs):
        assert name in ("mnist", "MNIST"), name
        return load_mnist(normalize)

    monkeypatch.setattr(nz.datasets, "load_mnist", load_mnist)
    monkeypatch.setattr(nz.datasets, "load_dataset", load_dataset)
    return small


def test_the_python_api_snippet_runs(small_mnist, tmp_path, monkeypatch, capsys):
    code = next(b for b in _blocks("python") if "load_mnist" in b)
    monkeypatch.chdir(tmp_path)
    namespace = {}
    exec(compile(code, str(README) + " (python block)", "exec"), namespace)
    model = namespace["model"]
    assert (tmp_path / "mnist.safetensors").is_file() and model.classes_.tolist() == list(range(10))
    assert "total parameters: 203,530" in capsys.readouterr().out        # model.summary() printed it
    loss = namespace["history"]["loss"]
    assert loss[-1] < loss[0]


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_the_use_elsewhere_snippet_runs_after_the_api_snippet(small_mnist, tmp_path, monkeypatch, capsys):
    pytest.importorskip("onnx"), pytest.importorskip("skl2onnx"), pytest.importorskip("torch")
    api, elsewhere = (next(b for b in _blocks("python") if key in b) for key in ("load_mnist", "export_onnx"))
    monkeypatch.chdir(tmp_path)
    namespace = {}
    for i, code in enumerate((api, elsewhere)):
        exec(compile(code, f"{README} (python block {i})", "exec"), namespace)
    X = namespace["X"]
    assert (tmp_path / "mnist.onnx").is_file()
    assert namespace["est"].predict(X[:20]).tolist() == nz.load("mnist.safetensors").predict(X[:20]).tolist()
    torch = namespace["torch"]
    with torch.no_grad():
        expected = torch.softmax(namespace["net"](torch.from_numpy(X[:20])), 1).numpy()
    np.testing.assert_allclose(namespace["model"].predict_proba(X[:20]), expected, atol=1e-5)
    assert [o.name for o in namespace["onx"].graph.output]


def _files(folder, small):
    """The files the README's commands name, made from the MNIST subset and scikit-learn's iris."""
    (X, y), (Xt, _) = small
    header = "label," + ",".join(f"pixel{i}" for i in range(784))
    np.savetxt(folder / "train.csv", np.column_stack([y, X]), fmt="%d", delimiter=",", header=header,
               comments="")
    np.savetxt(folder / "mnist_train.csv", np.column_stack([y, X]), fmt="%d", delimiter=",")
    np.savetxt(folder / "rows.csv", Xt[:5], fmt="%d", delimiter=",")
    np.save(folder / "X.npy", X)
    np.save(folder / "y.npy", y)
    iris = pytest.importorskip("sklearn.datasets").load_iris()
    with open(folder / "iris.csv", "w") as f:
        f.write("sepal_length,sepal_width,petal_length,petal_width,species\n")
        for row, k in zip(iris.data, iris.target):
            f.write(",".join(map(str, row)) + f",{iris.target_names[k]}\n")
    pil = pytest.importorskip("PIL.Image")
    pil.fromarray(255 - Xt[0].reshape(28, 28)).save(folder / "my_digit.png")   # dark ink on paper


@pytest.mark.slow
@pytest.mark.timeout(900)     # two dozen commands in one test (each a few seconds on an idle machine)
def test_every_command_line_runs_in_order(small_mnist, tmp_path, monkeypatch, capsys):
    text = next(b for b in _blocks("text") if b.startswith("$ nnzero train"))
    lines = [line[2:].split("  #")[0].strip() for line in text.splitlines() if line.startswith("$ ")]
    # The one line a test cannot run: it names a placeholder Dask scheduler (tests/test_dask.py
    # runs the same search on a real local cluster).
    placeholder = [line for line in lines if "tcp://HOST" in line]
    assert len(placeholder) == 1
    lines = [line for line in lines if line not in placeholder]
    assert len(lines) >= 20
    _files(tmp_path, small_mnist)
    monkeypatch.chdir(tmp_path)
    for line in lines:
        argv = shlex.split(line)
        assert argv[0] == "nnzero"
        code = main(argv[1:])
        out, err = capsys.readouterr()
        assert code == 0, (line, err)
    assert (tmp_path / "report" / "index.html").is_file() and (tmp_path / "predictions.csv").is_file()
    assert nz.load(tmp_path / "iris.safetensors").classes_.tolist() == ["setosa", "versicolor", "virginica"]
    assert nz.load(tmp_path / "more.safetensors").metadata["training"]["init_from"]["path"].endswith(
        "model.safetensors")
