"""`nnzero predict` and `nnzero evaluate`, output by output, against references computed here:
the softmax of hand-set weights written out in NumPy, the confusion matrix counted pair by pair,
precision/recall/F1 from their definitions. Small models with set weights, no training, so the
file runs in seconds (it is also the fast selection for mutation testing of the two commands)."""

import csv
import io
import json

import numpy as np
import pytest

import nnzero as nz

# Dense(2 → 3) logits: x0 favours the first class, x1 the second, and a bias the third.
W = np.array([[2.0, -1.0, 0.0], [-1.0, 2.0, 0.0]], np.float32)
B = np.array([0.0, 0.0, 0.5], np.float32)
X = np.array([[3, 0], [0, 3], [0, 0], [2, 1], [1, 2], [-1, -1], [4, 4], [1, 0]], np.float32)


def softmax_reference(X):
    z = X.astype(np.float64) @ W.astype(np.float64) + B
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def set_model(classes, preprocessing=None, n_in=2, weights=None):
    model = nz.Sequential([nz.Dense(n_in, 3), nz.Softmax()]).build(seed=0)
    model.set_weights(weights or {"0.W": W, "0.b": B})
    model.set_classes(None, classes=classes)
    return model


@pytest.fixture
def files(tmp_path):
    np.save(tmp_path / "rows.npy", X)
    return tmp_path


# -- predict ---------------------------------------------------------------------------------------
def test_predict_csv_quotes_labels_and_class_names_and_gives_six_digit_probabilities(files, cli):
    classes = ["a,b", 'say "hi"', "z"]                 # a comma and a quote: CSV must quote them
    nz.save(set_model(classes), files / "m.safetensors")
    code, out, err = cli(["predict", files / "m.safetensors", "--data", files / "rows.npy"])
    assert code == 0 and err == ""
    header, *rows = list(csv.reader(io.StringIO(out)))
    assert header == ["row", "label", "prob_a,b", 'prob_say "hi"', "prob_z"]
    p = softmax_reference(X)
    assert [r[0] for r in rows] == [str(i) for i in range(len(X))]
    assert [r[1] for r in rows] == [classes[i] for i in p.argmax(axis=1)]
    got = np.array([[float(v) for v in r[2:]] for r in rows])
    np.testing.assert_allclose(got, p, rtol=6e-6)        # printed to 6 significant digits
    assert all(v == f"{float(v):.6g}" for r in rows for v in r[2:])


def test_predict_images_top_k_and_csv(tmp_path, cli):
    Image = pytest.importorskip("PIL.Image")
    images = pytest.importorskip("nnzero.images")
    r = np.random.default_rng(3)
    weights = {"0.W": r.normal(size=(784, 3)).astype(np.float32), "0.b": np.zeros(3, np.float32)}
    model = set_model([10, 20, 30], n_in=784, weights=weights)
    nz.save(model, tmp_path / "m.safetensors")
    paths = []
    for i, (top, left) in enumerate([(4, 8), (12, 20), (6, 5)]):
        canvas = np.zeros((36, 36), np.uint8)
        canvas[top:top + 18, left:left + 6] = 255
        path = tmp_path / f"digit {i}, v2.png"          # a comma in the name: quoted in the CSV
        Image.fromarray(canvas).save(path)
        paths.append(path)
    proba = model.predict_proba(np.stack([images.load_digit(p) for p in paths]).astype(np.float32))

    code, out, _ = cli(["predict", tmp_path / "m.safetensors", *paths, "--top", "2"])
    expected = []
    for path, row in zip(paths, proba):
        best = np.argsort(-row)[:2]
        expected.append(f"{path}: " + ", ".join(f"{(10, 20, 30)[i]} ({100 * row[i]:.1f}%)" for i in best))
    assert code == 0 and out == "\n".join(expected) + "\n"
    code, out, _ = cli(["predict", tmp_path / "m.safetensors", *paths])      # default --top 3: all of them
    assert code == 0 and [len(line.rsplit(": ", 1)[1].split(", ")) for line in out.splitlines()] == [3, 3, 3]

    code, out, _ = cli(["predict", tmp_path / "m.safetensors", *paths, "--out", tmp_path / "p.csv"])
    assert code == 0 and out == f"wrote 3 predictions to {tmp_path / 'p.csv'}\n"
    with open(tmp_path / "p.csv", newline="") as fh:
        header, *rows = list(csv.reader(fh))
    assert header == ["image", "label", "prob_10", "prob_20", "prob_30"]
    assert [r[0] for r in rows] == [str(p) for p in paths]
    assert [int(r[1]) for r in rows] == [(10, 20, 30)[i] for i in proba.argmax(axis=1)]


def test_predict_top_k_breaks_ties_by_class_order(tmp_path, cli):
    Image = pytest.importorskip("PIL.Image")
    pytest.importorskip("nnzero.images")
    zero = {"0.W": np.zeros((784, 3), np.float32), "0.b": np.zeros(3, np.float32)}
    nz.save(set_model(["x", "y", "z"], n_in=784, weights=zero), tmp_path / "m.safetensors")
    canvas = np.zeros((28, 28), np.uint8)
    canvas[5:20, 12:16] = 255
    Image.fromarray(canvas).save(tmp_path / "one.png")
    code, out, _ = cli(["predict", tmp_path / "m.safetensors", tmp_path / "one.png", "--top", "9"])
    assert code == 0 and out == f"{tmp_path / 'one.png'}: x (33.3%), y (33.3%), z (33.3%)\n"


def test_predict_images_for_a_binarizing_model_are_thresholded_in_pixel_units(tmp_path, cli):
    # The model binarizes raw 0..255 pixels at 100; the CLI's image is in [0, 1], so it must be
    # scaled to pixels first: else nothing exceeds 100 and every input is blank.
    Image = pytest.importorskip("PIL.Image")
    images = pytest.importorskip("nnzero.images")
    r = np.random.default_rng(4)
    weights = {"0.W": r.normal(size=(784, 3)).astype(np.float32), "0.b": np.array([0, 0, 3], np.float32)}
    model = set_model([0, 1, 2], n_in=784, weights=weights)
    nz.save(model, tmp_path / "m.safetensors", preprocessing={"kind": "binarize", "threshold": 100})
    canvas = np.zeros((30, 30), np.uint8)
    canvas[4:26, 13:18] = 255
    Image.fromarray(canvas).save(tmp_path / "one.png")
    ink = (images.load_digit(tmp_path / "one.png") * 255 > 100).astype(np.float32)
    assert 20 < ink.sum() < 784
    z = ink.astype(np.float64) @ weights["0.W"] + weights["0.b"]
    expected = np.exp(z - z.max()) / np.exp(z - z.max()).sum()
    assert expected.argmax() != 2                       # the blank input's answer (bias 3) differs
    code, _, _ = cli(["predict", tmp_path / "m.safetensors", tmp_path / "one.png", "--out", tmp_path / "p.csv"])
    (row,) = list(csv.DictReader(open(tmp_path / "p.csv", newline="")))
    assert code == 0 and int(row["label"]) == expected.argmax()
    np.testing.assert_allclose([float(row[f"prob_{c}"]) for c in range(3)], expected, rtol=1e-5)


def test_predict_refuses_regression_models_and_a_label_column_without_data(files, cli):
    reg = nz.Sequential([nz.Dense(2, 2)], loss="mse").build(seed=0)
    nz.save(reg, files / "reg.safetensors")
    code, out, err = cli(["predict", files / "reg.safetensors", "--data", files / "rows.npy"])
    assert (code, out) == (2, "") and err == (f"nnzero: error: {files / 'reg.safetensors'} is a regression "
                                              "model; predict shows class probabilities\n")
    nz.save(set_model([0, 1, 2]), files / "m.safetensors")
    code, out, err = cli(["predict", files / "m.safetensors", files / "x.png", "--label-column", "0"])
    assert (code, out) == (2, "") and err == "nnzero: error: --label-column applies to a --data file\n"
    code, _, err = cli(["predict", files / "m.safetensors", files / "x.png", "--data", files / "rows.npy"])
    assert code == 2 and err == "nnzero: error: give either --data FILE or image paths (not both)\n"


# -- evaluate --------------------------------------------------------------------------------------
LABELS = np.array([3, 5, 7])          # not 0..2: a label must not be confused with its index


@pytest.fixture
def evaluated(files, cli):
    """A 3-class model (labels 3, 5, 7) on 8 rows, two predicted wrong, where the third class is
    predicted but never occurs (recall 0/0: NaN) → (path, y, reference dict, JSON report)."""
    p = softmax_reference(X)
    pred = p.argmax(axis=1)
    y_idx = pred.copy()
    assert pred.tolist() == [0, 1, 2, 0, 1, 2, 0, 0]
    y_idx[[2, 5]] = [0, 1]        # the rows predicted as the third class are the others': it never occurs
    y = LABELS[y_idx]
    np.savez(files / "data.npz", X=X, y=y)
    nz.save(set_model(LABELS.tolist()), files / "m.safetensors")
    cm = np.zeros((3, 3), int)
    for t, q in zip(y_idx, pred):
        cm[t, q] += 1
    with np.errstate(invalid="ignore", divide="ignore"):
        precision = np.diag(cm) / cm.sum(axis=0)
        recall = np.diag(cm) / cm.sum(axis=1)
        f1 = 2 * np.diag(cm) / (cm.sum(axis=0) + cm.sum(axis=1))    # 2·TP/(2·TP+FP+FN): NaN only if never seen
    ref = {"cm": cm, "precision": precision, "recall": recall, "f1": f1, "pred": pred,
           "loss": float(np.mean(-np.log(p[np.arange(len(X)), y_idx]))), "accuracy": float(np.mean(pred == y_idx))}
    code, out, err = cli(["evaluate", files / "m.safetensors", "--data", files / "data.npz", "--json"])
    assert code == 0 and err == ""
    return files / "m.safetensors", y, ref, json.loads(out)


def test_evaluate_json_is_the_reference(evaluated, files):
    _, y, ref, report = evaluated
    assert set(report) == {"data", "n", "loss", "accuracy", "classes", "precision", "recall", "f1", "support",
                           "macro_avg", "confusion_matrix"}
    assert report["data"] == str(files / "data.npz") and report["n"] == len(X) == 8
    assert report["loss"] == pytest.approx(ref["loss"], rel=1e-6)
    assert report["accuracy"] == ref["accuracy"] == 0.75
    assert report["classes"] == LABELS.tolist()
    assert report["confusion_matrix"] == ref["cm"].tolist()
    assert report["support"] == ref["cm"].sum(axis=1).tolist() == [int((y == c).sum()) for c in LABELS]
    for key in ("precision", "recall", "f1"):
        want = [None if np.isnan(v) else pytest.approx(v, abs=1e-12) for v in ref[key]]
        assert report[key] == want, key


def test_evaluate_has_a_class_without_precision(evaluated):
    # The fixture's labels must really exercise the NaN → null path (else the check above is weak).
    _, _, ref, report = evaluated
    assert np.isnan(ref["precision"]).sum() + np.isnan(ref["recall"]).sum() >= 1
    assert None in report["precision"] + report["recall"]


def test_evaluate_text_shows_the_same_numbers(evaluated, files, cli):
    path, _, ref, report = evaluated
    code, out, _ = cli(["evaluate", path, "--data", files / "data.npz"])
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == f"{path} on {files / 'data.npz'} (8 rows)"
    assert lines[1] == f"loss      {ref['loss']:.4f}"
    assert lines[2] == f"accuracy  75.00%  ({int(np.trace(ref['cm']))} of 8)" == "accuracy  75.00%  (6 of 8)"
    assert lines[3] == "" and lines[4].split() == ["class", "precision", "recall", "f1", "support"]

    def cell(v):
        return "-" if np.isnan(v) else f"{v:.4f}"

    for i, label in enumerate(LABELS):
        assert lines[5 + i].split() == [str(label), cell(ref["precision"][i]), cell(ref["recall"][i]),
                                        cell(ref["f1"][i]), str(ref["cm"][i].sum())]
    # Macro: the mean over the classes present or predicted, an undefined (0/0) value counting as
    # 0, as scikit-learn's average="macro" does (skipping it let a class never predicted raise it).
    seen = (ref["cm"].sum(axis=0) + ref["cm"].sum(axis=1)) > 0
    macro = [f"{np.nan_to_num(ref[k][seen]).mean():.4f}" for k in ("precision", "recall", "f1")]
    assert lines[8].split() == ["macro", "avg", *macro, "8"]
    assert lines[9:11] == ["", "confusion matrix (rows: true class, columns: predicted)"]
    assert lines[11].split() == ["true", "\\", "pred", "3", "5", "7"]
    for i, label in enumerate(LABELS):
        assert lines[12 + i].split() == [str(label), *map(str, ref["cm"][i])]
    assert len(lines) == 15


@pytest.mark.filterwarnings("error::RuntimeWarning")      # no mean of nothing: a value is chosen, not computed
def test_evaluate_when_no_class_has_both_a_precision_and_a_recall(tmp_path, cli):
    # Every row of class 3, every prediction 5: no class has both a precision and a recall.
    two = nz.Sequential([nz.Dense(2, 2), nz.Softmax()]).build(seed=0)
    two.set_weights({"0.W": np.zeros((2, 2), np.float32), "0.b": np.array([0, 1], np.float32)})
    two.set_classes(None, classes=[3, 5])
    nz.save(two, tmp_path / "m.safetensors")
    np.savez(tmp_path / "d.npz", X=X, y=np.full(len(X), 3))
    code, out, _ = cli(["evaluate", tmp_path / "m.safetensors", "--data", tmp_path / "d.npz"])
    assert code == 0
    rows = {line.split()[0]: line.split() for line in out.splitlines()[4:8] if line.strip()}
    assert rows["3"][1:] == ["-", "0.0000", "0.0000", "8"]    # never predicted: no precision; F1 = 2·0/(0+8)
    assert rows["5"][1:] == ["0.0000", "-", "0.0000", "0"]    # never present: no recall; F1 = 2·0/(8+0)
    assert rows["macro"][2:] == ["0.0000", "0.0000", "0.0000", "8"]   # scikit-learn's macro scores are 0 too
    assert "never predicted: 3 (precision undefined, shown as -; it counts as 0 in the macro average, as in " \
           "scikit-learn)" in out.splitlines()
    code, out, _ = cli(["evaluate", tmp_path / "m.safetensors", "--data", tmp_path / "d.npz", "--json"])
    report = json.loads(out)
    assert report["f1"] == [0.0, 0.0] and report["precision"] == [None, 0.0] and report["recall"] == [0.0, None]
    assert report["macro_avg"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0}


def test_evaluate_a_regression_model_reports_its_loss_only(tmp_path, cli):
    reg = nz.Sequential([nz.Dense(2, 1)], loss="mse").build(seed=0)
    reg.set_weights({"0.W": np.array([[1], [0]], np.float32), "0.b": np.zeros(1, np.float32)})   # ŷ = x0
    nz.save(reg, tmp_path / "reg.safetensors")
    y = X[:, 0] + np.float32(0.5) * np.arange(len(X), dtype=np.float32)
    np.savez(tmp_path / "d.npz", X=X, y=y)
    code, out, _ = cli(["evaluate", tmp_path / "reg.safetensors", "--data", tmp_path / "d.npz"])
    loss = float(np.mean((X[:, 0].astype(np.float64) - y) ** 2))          # Σ (i/2)² / 8 = 140/32
    assert loss == 4.375
    assert code == 0 and out == (f"{tmp_path / 'reg.safetensors'} on {tmp_path / 'd.npz'} (8 rows)\n"
                                 f"loss      {loss:.4f}\n")
    code, out, _ = cli(["evaluate", tmp_path / "reg.safetensors", "--data", tmp_path / "d.npz", "--json"])
    report = json.loads(out)
    assert report == {"data": str(tmp_path / "d.npz"), "n": 8, "loss": pytest.approx(loss, rel=1e-6),
                      "accuracy": None}


# -- what surrounds the numbers: raw CSV text, refusals, help, the bundled dataset -----------------
def test_predict_csv_quotes_only_what_needs_quoting(files, cli):
    nz.save(set_model(["a,b", 'say "hi"', "zX"]), files / "m.safetensors")
    code, out, _ = cli(["predict", files / "m.safetensors", "--data", files / "rows.npy"])
    lines = out.splitlines()
    assert code == 0 and lines[0] == 'row,label,"prob_a,b","prob_say ""hi""",prob_zX'
    assert [line.split(",")[0] for line in lines[1:]] == [str(i) for i in range(len(X))]


def test_predict_out_is_checked_against_every_input_and_existing_models(files, tmp_path, cli):
    Image = pytest.importorskip("PIL.Image")
    pytest.importorskip("nnzero.images")
    nz.save(set_model([0, 1, 2]), files / "m.safetensors")
    model = files / "m.safetensors"
    for argv, name, source in (([model, "--data", files / "rows.npy"], "MODEL", model),
                               ([model, "--data", files / "rows.npy"], "--data", files / "rows.npy")):
        code, _, err = cli(["predict", *argv, "--out", source])
        assert code == 2 and err == (f"nnzero: error: --out {source} is the same file as {name} {source}; writing "
                                     "it would destroy the input, so give another output path\n")
    big = set_model([0, 1, 2], n_in=784, weights={"0.W": np.zeros((784, 3), np.float32), "0.b": np.zeros(3, np.float32)})
    nz.save(big, tmp_path / "big.safetensors")
    png = tmp_path / "one.png"
    Image.fromarray(np.full((28, 28), 255, np.uint8)).save(png)
    code, _, err = cli(["predict", tmp_path / "big.safetensors", png, "--out", png])
    assert code == 2 and f"--out {png} is the same file as IMAGE {png};" in err
    other = tmp_path / "other.safetensors"
    other.write_bytes(model.read_bytes())
    code, _, err = cli(["predict", model, "--data", files / "rows.npy", "--out", other])
    assert code == 2 and err == (f"nnzero: error: --out {other} is an existing nnzero model file; add --force to "
                                 "replace it with other content, or give another path\n")
    code, out, _ = cli(["predict", model, "--data", files / "rows.npy", "--out", other, "--force"])
    assert code == 0 and other.read_text().startswith("row,label,prob_0")


def test_predict_leaves_out_the_named_label_column(files, cli):
    nz.save(set_model([0, 1, 2]), files / "m.safetensors")
    np.savetxt(files / "rows.csv", np.column_stack([np.arange(len(X)) % 3, X]), delimiter=",", fmt="%g")
    code, with_labels, _ = cli(["predict", files / "m.safetensors", "--data", files / "rows.csv", "--label-column", "0"])
    code2, plain, _ = cli(["predict", files / "m.safetensors", "--data", files / "rows.npy"])
    assert code == code2 == 0 and with_labels == plain


def test_predict_images_without_pillow_says_which_extra(files, cli, monkeypatch):
    import sys

    nz.save(set_model([0, 1, 2]), files / "m.safetensors")
    monkeypatch.setitem(sys.modules, "nnzero.images", None)          # as if Pillow were missing
    code, _, err = cli(["predict", files / "m.safetensors", files / "x.png"])
    assert code == 2 and err.startswith("nnzero: error: reading images needs nnzero.images and Pillow (")
    assert err.endswith("); pip install 'nnzero[image]'\n")


@pytest.mark.parametrize("command, summary, options", [
    ("evaluate", "loss, accuracy, per-class metrics, confusion matrix", [
        ("MODEL", "a .safetensors model (or checkpoint) file"),
        ("--data FILE", "a labelled CSV/NPZ file instead of a dataset"),
        ("--json", "print the results as JSON")]),
    ("predict", "predict labels and probabilities (rows or images)", [
        ("MODEL", "a .safetensors model file"), ("IMAGE", "digit image files"),
        ("--data FILE", "a CSV/NPY/NPZ file of rows to predict"),
        ("--label-column NAME|INDEX", "a CSV column to leave out (e.g. the labels of a file without a header: 0)"),
        ("--out FILE", "write the CSV here instead of stdout"),
        ("--force", "replace an existing model file at --out (otherwise refused)"),
        ("--top K", "classes shown per image (default 3)")]),
])
def test_help_shows_the_description_examples_and_every_option(command, summary, options, cli, monkeypatch):
    import importlib

    monkeypatch.setenv("COLUMNS", "250")                              # no wrapping inside a help text
    module = importlib.import_module(f"nnzero.cli.{command}")
    code, out, _ = cli([command, "--help"])
    lines = out.splitlines()
    assert code == 0 and lines[0].startswith(f"usage: nnzero {command} [-h]")
    # The description (refilled to the terminal's width: compared word by word); the examples line by line.
    assert " ".join(module.DESCRIPTION.split()) in " ".join(out.split())
    assert all(line in lines for line in module.EPILOG.splitlines())
    for option, text in options:          # "  OPTION METAVAR   help", the help on the next line if long
        i = next(i for i, line in enumerate(lines) if line.strip().split("  ")[0] == option)
        assert lines[i].strip()[len(option):].strip() in ("", text) and text in (
            lines[i].strip()[len(option):].strip(), lines[i + 1].strip()), (option, lines[i:i + 2])
    code, out, _ = cli(["--help"])
    assert code == 0 and any(line.split(None, 1) == [command, summary] for line in out.splitlines())


def test_predict_shows_three_classes_per_image_by_default(tmp_path, cli):
    Image = pytest.importorskip("PIL.Image")
    pytest.importorskip("nnzero.images")
    model = nz.Sequential([nz.Dense(784, 5), nz.Softmax()]).build(seed=0)
    model.set_weights({"0.W": np.zeros((784, 5), np.float32), "0.b": np.zeros(5, np.float32)})
    model.set_classes(None, classes=list("vwxyz"))
    nz.save(model, tmp_path / "m.safetensors")
    canvas = np.zeros((28, 28), np.uint8)
    canvas[5:20, 12:16] = 255
    Image.fromarray(canvas).save(tmp_path / "one.png")
    code, out, _ = cli(["predict", tmp_path / "m.safetensors", tmp_path / "one.png"])
    assert code == 0 and out == f"{tmp_path / 'one.png'}: v (20.0%), w (20.0%), x (20.0%)\n"


def test_evaluate_needs_labels_keeps_absent_classes_and_indents_json(files, cli):
    nz.save(set_model(LABELS.tolist()), files / "m.safetensors")
    code, _, err = cli(["evaluate", files / "m.safetensors", "--data", files / "rows.npy"])
    assert code == 2 and err.startswith(f"nnzero: error: {files / 'rows.npy'}: has no labels")
    # Only rows the model calls 3 or 5, labelled so: class 7 occurs nowhere, yet keeps its row and column.
    pred = softmax_reference(X).argmax(axis=1)
    keep = pred < 2
    np.savez(files / "two.npz", X=X[keep], y=LABELS[pred[keep]])
    code, out, _ = cli(["evaluate", files / "m.safetensors", "--data", files / "two.npz", "--json"])
    report = json.loads(out)
    n3, n5 = int((pred[keep] == 0).sum()), int((pred[keep] == 1).sum())
    assert report["confusion_matrix"] == [[n3, 0, 0], [0, n5, 0], [0, 0, 0]] and report["support"] == [n3, n5, 0]
    assert out.startswith('{\n "data": ') and out == json.dumps(report, indent=1) + "\n"
    code, out, _ = cli(["evaluate", files / "m.safetensors", "--data", files / "two.npz"])
    assert code == 0 and "never predicted" not in out         # 7 has no precision, but no rows either


def test_evaluate_defaults_to_the_test_split_of_the_models_dataset(tmp_path, cli):
    (_, _), (Xt, yt) = nz.datasets.load_mnist()
    r = np.random.default_rng(7)
    weights = {"0.W": r.normal(scale=0.05, size=(784, 10)).astype(np.float32), "0.b": np.zeros(10, np.float32)}
    model = nz.Sequential([nz.Dense(784, 10), nz.Softmax()]).build(seed=0)
    model.set_weights(weights)
    model.set_classes(None, classes=np.arange(10))
    nz.save(model, tmp_path / "m.safetensors", preprocessing={"kind": "scale", "factor": 1 / 255},
            dataset={"name": "mnist"})
    code, out, _ = cli(["evaluate", tmp_path / "m.safetensors", "--json"])
    z = (Xt.astype(np.float64) / 255) @ weights["0.W"] + weights["0.b"]
    report = json.loads(out)
    assert code == 0 and report["n"] == 10_000 and "test" in report["data"]
    assert report["accuracy"] == pytest.approx(np.mean(z.argmax(axis=1) == yt), abs=2e-4)   # ties in float32


def test_evaluate_maps_an_npy_file_instead_of_reading_it(files, cli, monkeypatch):
    # `evaluate --data X.npy --labels y.npy` reads the rows batch by batch from a memory map, so a
    # file larger than memory can be evaluated; the numbers equal an in-memory run (test_memmap.py).
    from nnzero import rows
    from nnzero.cli import common

    nz.save(set_model(LABELS.tolist()), files / "m.safetensors")
    np.save(files / "y.npy", LABELS[softmax_reference(X).argmax(axis=1)])
    seen, real = [], common.model_inputs
    monkeypatch.setattr(common, "model_inputs", lambda model, X, spec=None: seen.append(rows.is_lazy(X)) or real(
        model, X, spec))
    code, out, _ = cli(["evaluate", files / "m.safetensors", "--data", files / "rows.npy", "--labels", files / "y.npy",
                        "--json"])
    assert code == 0 and json.loads(out)["accuracy"] == 1.0 and seen == [True]


def test_evaluate_names_every_class_never_predicted(files, cli):
    always_7 = {"0.W": np.zeros((2, 3), np.float32), "0.b": np.array([0, 0, 1], np.float32)}
    nz.save(set_model(LABELS.tolist(), weights=always_7), files / "m.safetensors")
    np.savez(files / "d.npz", X=X, y=LABELS[np.arange(len(X)) % 2])          # rows of 3 and 5 only
    code, out, _ = cli(["evaluate", files / "m.safetensors", "--data", files / "d.npz"])
    assert code == 0 and ("never predicted: 3, 5 (precision undefined, shown as -; it counts as 0 in the macro "
                          "average, as in scikit-learn)") in out.splitlines()
