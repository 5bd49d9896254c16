"""A newcomer's own data from the command line: headerless CSVs, class names in any column, NPY
pairs, preprocessing chosen from the data and stored in the model file, warm starts, and no
model overwritten by surprise."""

import json

import numpy as np
import pytest

import nnzero as nz
from nnzero.cli import main


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """scikit-learn's digits (8×8 images, values 0..16) as the files people have."""
    datasets = pytest.importorskip("sklearn.datasets")
    digits = datasets.load_digits()
    X, y = digits.data.astype(np.int64), digits.target
    d = tmp_path_factory.mktemp("files")
    np.savetxt(d / "digits.csv", np.column_stack([y, X]), fmt="%d", delimiter=",")       # label first, no header
    np.savetxt(d / "pixels.csv", X[:6], fmt="%d", delimiter=",")                        # features only
    np.save(d / "X.npy", X)
    np.save(d / "y.npy", y)
    names = np.array(["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"])
    with open(d / "named.csv", "w") as f:                                                # class names, middle column
        f.write(",".join([*(f"f{i}" for i in range(32)), "digit", *(f"f{i}" for i in range(32, 64))]) + "\n")
        for row, label in zip(X, names[y]):
            f.write(",".join([*map(str, row[:32]), label, *map(str, row[32:])]) + "\n")
    return d, X, y


def test_headerless_csv_needs_and_takes_a_label_column(files, tmp_path, cli):
    d, X, y = files
    code, _, err = cli(["train", "--data", d / "digits.csv", "--out", tmp_path / "m.safetensors"])
    assert code == 2 and "has no header row" in err and "--label-column 0" in err and err.count("\n") == 1
    out = tmp_path / "m.safetensors"
    code, stdout, err = cli(["train", "--data", d / "digits.csv", "--label-column", "0", "--hidden", "32",
                             "--epochs", "30", "--out", out])
    assert code == 0, err
    # Values 0..16 are not pixels: the run standardizes them, and says so in its start lines.
    assert "preprocessing standardize" in stdout and "64 columns of values in [0, 16]" in stdout
    doc = nz.load(out).metadata
    spec = doc["preprocessing"]
    assert spec["kind"] == "standardize" and len(spec["mean"]) == 64 == len(spec["std"])
    assert doc["dataset"]["label_column"] == 0
    test_accuracy = doc["training"]["test_accuracy"]
    assert test_accuracy > 0.9                # /255 on these values gave 81 % in the report

    # evaluate applies the stored preprocessing: its accuracy is the model's on standardized rows
    code, stdout, _ = cli(["evaluate", out, "--data", d / "digits.csv", "--label-column", "0", "--json"])
    report = json.loads(stdout)
    model = nz.load(out)
    Z = (X - np.array(spec["mean"])) / np.array(spec["std"])
    assert report["accuracy"] == pytest.approx(np.mean(model.predict(Z.astype(np.float32)) == y))

    # predict takes the features-only file as it is
    code, stdout, _ = cli(["predict", out, "--data", d / "pixels.csv"])
    assert code == 0
    labels = [int(line.split(",")[1]) for line in stdout.splitlines()[1:]]
    assert labels == model.predict(Z[:6].astype(np.float32)).tolist()
    # ... and the labelled one with --label-column, or says how when it is not given
    code, stdout, _ = cli(["predict", out, "--data", d / "digits.csv", "--label-column", "0"])
    assert code == 0 and len(stdout.splitlines()) == len(X) + 1
    code, _, err = cli(["predict", out, "--data", d / "digits.csv"])
    assert code == 2 and "65 features per row" in err and "--label-column INDEX" in err


def test_class_names_in_any_column(files, tmp_path, cli):
    d, X, y = files
    out = tmp_path / "named.safetensors"
    code, stdout, err = cli(["train", "--data", d / "named.csv", "--label-column", "digit", "--hidden", "32",
                             "--epochs", "3", "--out", out, "--quiet"])
    assert code == 0, err
    model = nz.load(out)
    assert sorted(model.classes_.tolist()) == sorted(["zero", "one", "two", "three", "four", "five", "six",
                                                      "seven", "eight", "nine"])
    code, stdout, _ = cli(["evaluate", out, "--data", d / "named.csv", "--label-column", "32"])
    assert code == 0 and "seven" in stdout and "(1797 rows)" in stdout
    code, stdout, _ = cli(["predict", out, "--data", d / "named.csv"])   # 'digit' is not 'label'
    assert code == 2 or "prob_eight" in stdout


def test_a_bad_cell_is_named_by_file_line_and_column(tmp_path, cli):
    path = tmp_path / "bad.csv"
    path.write_text("a,b,kind\n1,2,cat\n3,?,dog\n")
    code, _, err = cli(["train", "--data", path, "--label-column", "kind"])
    assert code == 2 and err == f"nnzero: error: {path}: line 3, column 2 (b): '?' is not a number\n"


def test_npy_pair(files, tmp_path, cli):
    d, X, y = files
    out = tmp_path / "npy.safetensors"
    code, _, err = cli(["train", "--data", d / "X.npy", "--out", out])
    assert code == 2 and "X.npy: has no labels" in err and "--labels FILE.npy" in err
    code, _, err = cli(["train", "--data", d / "X.npy", "--labels", d / "y.npy", "--hidden", "16",
                        "--epochs", "2", "--out", out, "--quiet"])
    assert code == 0, err
    assert nz.load(out).metadata["dataset"]["labels"] == str(d / "y.npy")
    code, stdout, _ = cli(["evaluate", out, "--data", d / "X.npy", "--labels", d / "y.npy"])
    assert code == 0 and "(1797 rows)" in stdout
    np.save(tmp_path / "short.npy", y[:5])
    code, _, err = cli(["evaluate", out, "--data", d / "X.npy", "--labels", tmp_path / "short.npy"])
    assert code == 2 and "5 labels for the 1797 rows" in err


def test_explicit_preprocessing_and_pixels_default(files, tmp_path, cli):
    d, X, y = files
    out = tmp_path / "p.safetensors"
    code, stdout, _ = cli(["train", "--data", d / "digits.csv", "--label-column", "0", "--preprocessing",
                           "scale255", "--hidden", "8", "--epochs", "1", "--diagnostics", "--out", out])
    assert code == 0 and "preprocessing scale255" in stdout and "; set by --preprocessing scale255" in stdout
    model = nz.load(out)
    assert model.metadata["preprocessing"] == {"kind": "scale", "factor": 1 / 255}
    assert [layer["units"] for layer in model.history.diagnostics[0]["layers"]] == [8, 10]   # --diagnostics


def test_existing_model_needs_force_and_init_from_warm_starts(files, tmp_path, cli):
    d, X, y = files
    out = tmp_path / "m.safetensors"
    args = ["train", "--data", d / "digits.csv", "--label-column", "0", "--hidden", "16", "--epochs", "2",
            "--quiet"]
    assert cli([*args, "--out", out])[0] == 0
    before = out.read_bytes()
    code, _, err = cli([*args, "--out", out])
    assert code == 2 and "existing nnzero model file; add --force" in err and out.read_bytes() == before
    first = nz.load(out)

    second = tmp_path / "more.safetensors"
    code, stdout, err = cli(["train", "--data", d / "digits.csv", "--label-column", "0", "--epochs", "2",
                             "--init-from", out, "--out", second])
    assert code == 0, err
    assert f"starting from the weights of {out}" in stdout
    model = nz.load(second)
    init = model.metadata["training"]["init_from"]
    assert init["path"] == str(out) and len(init["sha256"]) == 64
    assert init["test_accuracy"] == first.metadata["training"]["test_accuracy"]
    assert model.metadata["preprocessing"] == first.metadata["preprocessing"]
    assert model.metadata["training"]["hidden"] == [16]
    # it continued: the first epoch's loss is the trained model's, far below a fresh start's
    assert model.history["loss"][0] < first.history["loss"][0]
    code, _, err = cli(["train", "--data", d / "digits.csv", "--label-column", "0", "--init-from", out,
                        "--hidden", "64", "--out", tmp_path / "x.safetensors"])
    assert code == 2 and "--hidden cannot change the network of --init-from" in err
    assert cli([*args, "--out", out, "--force"])[0] == 0


def test_help_fits_80_columns(monkeypatch, capsys):
    from nnzero.cli import COMMANDS

    monkeypatch.setenv("COLUMNS", "80")
    for name in ("train", "evaluate", "predict", "inspect", "explain", "report", "gradcheck"):
        assert name in COMMANDS or name == "inspect"
        with pytest.raises(SystemExit):
            main([name, "--help"])
        text = capsys.readouterr().out
        long = [line for line in text.splitlines() if len(line) > 80]
        assert not long, (name, long)
        assert "'--\n" not in text                      # flags are never split at their hyphens


def test_epoch_lines_wrap_between_numbers_never_inside():
    from nnzero.console import log_parts, wrap_parts

    logs = {"loss": 0.236, "accuracy": 0.93121, "val_loss": 0.2, "val_accuracy": 0.94, "lr": 1e-3, "time": 1.25}
    text = wrap_parts("epoch 10/15", log_parts(logs), width=80)
    lines = text.splitlines()
    assert all(len(line) <= 80 for line in lines) and len(lines) == 2
    assert lines[0] == "epoch 10/15  loss 0.2360  accuracy 0.9312  val_loss 0.2000  val_accuracy 0.9400"
    assert lines[1] == "           lr 1.00e-03  time 1.2s"
    # in a log file (no width) one line per epoch, the History's names
    assert wrap_parts("epoch 10/15", log_parts(logs)).count("\n") == 0
