"""The nnzero command end to end on small MNIST subsets: train → file → evaluate/predict/inspect,
and one clear line with exit code 2 for every kind of bad input."""

import json
import os
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

import nnzero as nz
from nnzero.cli import main

SRC = str(Path(nz.__file__).resolve().parents[1])


@pytest.fixture(scope="module")
def data(mnist_small, tmp_path_factory):
    """Raw uint8 MNIST subsets as files: train.npz (1200 rows), test.npz (300), rows.npy, test.csv."""
    (X, y), (Xt, yt) = mnist_small
    X, Xt = (np.round(a * 255).astype(np.uint8) for a in (X[:1200], Xt[:300]))
    d = tmp_path_factory.mktemp("data")
    np.savez(d / "train.npz", X=X, y=y[:1200])
    np.savez(d / "test.npz", X=Xt, y=yt[:300])
    np.save(d / "rows.npy", Xt[:7])
    np.save(d / "narrow.npy", Xt[:7, :783])
    np.savez(d / "unlabelled.npz", X=X)
    header = "label," + ",".join(f"pixel{i}" for i in range(784))
    np.savetxt(d / "test.csv", np.column_stack([yt[:40], Xt[:40]]), fmt="%d", delimiter=",", header=header,
               comments="")
    return d


@pytest.fixture(scope="module")
def trained(data, tmp_path_factory):
    """A model trained by `nnzero train` on train.npz (5 epochs, 64 hidden units)."""
    out = tmp_path_factory.mktemp("model") / "m.safetensors"
    code = main(["train", "--data", str(data / "train.npz"), "--test-data", str(data / "test.npz"),
                 "--hidden", "64", "--epochs", "5", "--out", str(out), "--quiet"])
    assert code == 0
    return out


def test_train_writes_a_complete_model_file(data, tmp_path, cli):
    out = tmp_path / "m.safetensors"
    code, stdout, err = cli(["train", "--data", data / "train.npz", "--hidden", "32", "--epochs", "3",
                             "--batch-size", "64", "--validation-split", "0.2", "--out", out])
    assert code == 0 and err == ""
    lines = stdout.splitlines()
    # 1081 training rows, of which round(0.2 · n_c) of each class c (217 in all) are validation rows
    assert lines[0] == "training 784-32-10 (relu) on train.npz: 864 train / 217 validation / 119 test rows"
    assert lines[1].startswith("adam lr 0.002 cosine, 3 epochs, batch 64, seed 0")
    assert lines[2].startswith("preprocessing scale255 (x · 1/255: pixels to [0, 1]); chosen as the data "
                               "have 784 integer columns in 0..255 (pixels)")
    assert [ln.split()[0:2] for ln in lines[3:6]] == [["epoch", "1/3"], ["epoch", "2/3"], ["epoch", "3/3"]]
    assert "val_accuracy" in lines[3]                       # no tqdm control characters in a pipe
    assert lines[-2].startswith("test accuracy ") and lines[-1] == f"saved {out}"
    model = nz.load(out)
    doc = model.metadata
    assert doc["training"]["hidden"] == [32] and doc["training"]["batch_size"] == 64
    assert doc["preprocessing"] == {"kind": "scale", "factor": 1 / 255}
    assert doc["dataset"]["name"] == "train.npz" and len(doc["dataset"]["sha256"]) == 64
    assert doc["seed"] == 0 and len(model.history) == 3
    assert doc["training"]["test_accuracy"] == pytest.approx(float(lines[-2].split()[2].rstrip("%")) / 100,
                                                             abs=5e-5)
    assert model.classes_.dtype == np.uint8 and model.classes_.tolist() == list(range(10))


def test_seed_recipe(data, tmp_path, cli):
    out = tmp_path / "seed.safetensors"
    code, stdout, _ = cli(["train", "--recipe", "seed", "--data", data / "train.npz", "--epochs", "40",
                           "--out", out])
    assert code == 0
    # 40 full-batch steps: one line per 2 epochs (every ~5 %), not 40 one-batch bars.
    assert sum(ln.startswith("epoch ") for ln in stdout.splitlines()) == 20
    doc = nz.load(out).metadata
    assert doc["preprocessing"] == {"kind": "binarize", "threshold": 0.0}
    assert doc["training"]["batch_size"] is None and doc["training"]["init"] == "seed"
    assert [layer["type"] for layer in doc["model"]["layers"]] == ["Dense", "ReLU", "Dense", "Softmax"]
    code, stdout, _ = cli(["inspect", out])
    table = stdout.split("history (a row every 2 epochs of 40; --json has all)\n")[1].splitlines()
    assert [row.split()[0] for row in table] == ["epoch", *map(str, range(2, 41, 2))]


def test_evaluate(trained, data, cli):
    code, stdout, _ = cli(["evaluate", trained, "--data", data / "test.npz"])
    assert code == 0
    model = nz.load(trained)
    with np.load(data / "test.npz") as f:
        Xt, yt = f["X"], f["y"]
    acc = float(np.mean(model.predict(Xt / np.float32(255)) == yt))
    assert f"accuracy  {100 * acc:.2f}%" in stdout
    assert "confusion matrix" in stdout and "macro avg" in stdout
    code, stdout, _ = cli(["evaluate", trained, "--data", data / "test.npz", "--json"])
    report = json.loads(stdout)
    cm = np.array(report["confusion_matrix"])
    assert cm.shape == (10, 10) and cm.sum() == 300 and np.trace(cm) == round(acc * 300)
    assert report["accuracy"] == pytest.approx(acc) and len(report["recall"]) == 10
    code, stdout, _ = cli(["evaluate", trained, "--data", data / "test.csv"])
    assert code == 0 and "(40 rows)" in stdout


def test_evaluate_on_the_bundled_dataset(trained, cli):
    code, stdout, _ = cli(["evaluate", trained, "--dataset", "mnist"])
    assert code == 0 and "mnist test set (10000 rows)" in stdout


def test_predict_rows(trained, data, tmp_path, cli):
    code, stdout, _ = cli(["predict", trained, "--data", data / "rows.npy"])
    assert code == 0
    lines = stdout.splitlines()
    assert lines[0] == "row,label," + ",".join(f"prob_{c}" for c in range(10))
    model = nz.load(trained)
    X = np.load(data / "rows.npy")
    expected = model.predict(X / np.float32(255))
    rows = [ln.split(",") for ln in lines[1:]]
    assert [int(r[1]) for r in rows] == expected.tolist()
    probs = np.array([[float(p) for p in r[2:]] for r in rows])
    assert np.allclose(probs.sum(axis=1), 1, atol=1e-5)
    out = tmp_path / "pred.csv"
    code, stdout, _ = cli(["predict", trained, "--data", data / "test.csv", "--out", out])
    assert code == 0 and stdout == f"wrote 40 predictions to {out}\n"
    assert len(out.read_text().splitlines()) == 41


def test_predict_images(trained, data, tmp_path, cli):
    pil = pytest.importorskip("PIL.Image")
    pytest.importorskip("nnzero.images")
    X = np.load(data / "rows.npy")
    paths = []
    for i in range(3):                  # dark ink on white paper, twice the size: as photographed
        path = tmp_path / f"digit{i}.png"
        pil.fromarray(255 - np.kron(X[i].reshape(28, 28), np.ones((2, 2), np.uint8))).save(path)
        paths.append(path)
    code, stdout, _ = cli(["predict", trained, *paths, "--top", "2"])
    assert code == 0
    lines = stdout.splitlines()
    assert [ln.split(":")[0] for ln in lines] == [str(p) for p in paths]
    for line in lines:
        shares = [float(part.split("(")[1].rstrip("%)")) for part in line.split(": ")[1].split(", ")]
        assert len(shares) == 2 and shares[0] >= shares[1]


def test_inspect(trained, cli):
    code, stdout, _ = cli(["inspect", trained])
    assert code == 0
    for text in ("nnzero model file, format 1", "total parameters: 50,890", "classes        0 1 2 3 4 5 6 7 8 9",
                 "x · 1/255", "sha256", "numpy " + np.__version__, "hidden           64", "history"):
        assert text in stdout
    assert len([ln for ln in stdout.split("history\n")[1].splitlines()]) == 6   # header + 5 epochs
    code, stdout, _ = cli(["inspect", trained, "--json"])
    assert json.loads(stdout)["training"]["epochs"] == 5


def test_help_and_version(cli):
    code, stdout, _ = cli(["--version"])
    assert code == 0 and stdout.startswith(f"nnzero {nz.__version__}")
    code, stdout, _ = cli(["--help"])
    assert code == 0 and all(c in stdout for c in ("train", "evaluate", "predict", "inspect"))
    for command, text in (("train", "--early-stopping PATIENCE"), ("evaluate", "confusion matrix"),
                          ("predict", "prob_<class>"), ("inspect", "checkpoint")):
        code, stdout, _ = cli([command, "--help"])
        assert code == 0 and text in stdout and "examples:" in stdout
    assert cli([])[:2] == (0, cli(["--help"])[1])


def test_python_dash_m():
    result = subprocess.run([sys.executable, "-m", "nnzero", "--version"], capture_output=True, text=True,
                            env={**os.environ, "PYTHONPATH": SRC})
    assert result.returncode == 0 and result.stdout.startswith("nnzero ")


def _bad_inputs(data, trained, tmp_path):
    corrupt = tmp_path / "corrupt.safetensors"
    corrupt.write_bytes(trained.read_bytes()[:-10])
    d, m = data, trained
    return [
        (["train", "--epochs", "0"], "argument --epochs: expected a positive integer, got '0'"),
        (["train", "--lr", "fast"], "argument --lr: expected a number, got 'fast'"),
        (["train", "--hidden", "64,x"], "argument --hidden: expected comma-separated positive layer sizes"),
        (["train", "--dropout", "1.5"], "argument --dropout: expected a number in [0, 1)"),
        (["train", "--optimizer", "rmsprop"], "argument --optimizer: invalid choice: 'rmsprop'"),
        (["train", "--momentum", "0.9"], "--momentum applies to --optimizer sgd, not adam"),
        (["train", "--dataset", "cifar"], "unknown dataset 'cifar'"),
        (["train", "--data", d / "missing.npz"], "missing.npz: no such file"),
        (["train", "--data", d / "unlabelled.npz"], "unlabelled.npz: has no labels"),
        (["train", "--data", d / "train.npz", "--dataset", "mnist"], "give --data FILE or --dataset"),
        (["train", "--data", d / "train.npz", "--test-data", d / "narrow.npy"], "narrow.npy: has no labels"),
        (["train", "--resume", m], "is a model file, not a checkpoint"),
        (["train", "--data", d / "train.npz", "--out", tmp_path / "no" / "such" / "dir" / "m.safetensors",
          "--epochs", "1", "--hidden", "4"], "the folder " + str(tmp_path / "no" / "such" / "dir") + " does not exist"),
        (["evaluate", d / "missing.safetensors"], "missing.safetensors: no such file"),
        (["evaluate", corrupt, "--data", d / "test.npz"], "corrupt.safetensors: tensors need"),
        (["evaluate", d / "rows.npy"], "rows.npy: not an nnzero model file"),
        (["evaluate", m], "was not trained on a named dataset; give --data FILE"),
        (["evaluate", m, "--data", d / "rows.npy"], "rows.npy: has no labels (--data needs them: give them "
                                                    "with --labels FILE.npy)"),
        (["train", "--data", d / "train.npz", "--out", m], "existing nnzero model file; add --force"),
        (["train", "--data", d / "train.npz", "--label-column", "0"], "--label-column applies to CSV files"),
        (["predict", m, "--data", d / "narrow.npy"], "the data have 783 features per row, but the model expects 784"),
        (["predict", m], "give either --data FILE or image paths"),
        (["predict", m, "--data", d / "rows.npy", "--top", "-1"], "argument --top: expected a positive integer"),
        (["inspect", corrupt], "corrupt.safetensors"),
        (["frobnicate"], "invalid choice: 'frobnicate'"),
    ]


def test_bad_input_is_one_line_and_exit_code_2(data, trained, tmp_path, cli):
    for argv, message in _bad_inputs(data, trained, tmp_path):
        code, _, err = cli(argv)
        assert code == 2, (argv, err)
        assert err.count("\n") == 1 and "error: " in err and message in err, (argv, err)
        assert "Traceback" not in err


def test_divergence_is_an_error_and_keeps_the_old_files(data, tmp_path, cli):
    out, ckpt = tmp_path / "m.safetensors", tmp_path / "m.ckpt.safetensors"
    out.write_bytes(b"the previous good model")
    ckpt.write_bytes(b"the previous good checkpoint")
    with warnings.catch_warnings():
        warnings.simplefilter("error")             # NumPy overflow warnings would be stderr noise
        code, _, err = cli(["train", "--data", data / "train.npz", "--optimizer", "sgd", "--lr", "1e38",
                            "--schedule", "constant", "--hidden", "none", "--epochs", "3", "--checkpoint-every",
                            "1", "--out", out, "--quiet", "--force"])
    assert code == 2 and err.startswith("nnzero: error: training diverged at epoch 1, batch 2")
    assert "Lower the learning rate" in err and err.count("\n") == 1
    assert out.read_bytes() == b"the previous good model"
    assert ckpt.read_bytes() == b"the previous good checkpoint"


def test_early_stopping_holds_out_validation_rows(data, tmp_path, cli):
    out = tmp_path / "m.safetensors"
    code, stdout, _ = cli(["train", "--data", data / "train.npz", "--hidden", "16", "--epochs", "4",
                           "--early-stopping", "2", "--out", out, "--quiet"])
    assert code == 0 and stdout.startswith("test accuracy")
    training = nz.load(out).metadata["training"]
    assert training["validation_split"] == 0.1 and training["early_stopping"] == 2
