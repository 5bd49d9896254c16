"""The report: valid PNG figures and an index.html that shows exactly them."""

import warnings
from html.parser import HTMLParser

import numpy as np
import pytest

import nnzero as nz

pytest.importorskip("matplotlib")
from nnzero.report import write_report  # noqa: E402

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
ALL_FIGURES = {"curves.png", "confusion.png", "weights.png", "misclassified.png", "diagnostics.png"}


class _Page(HTMLParser):
    """Collects <img> tags and checks that every opened tag is closed (void tags aside)."""

    VOID = {"img", "meta", "br", "hr", "link"}

    def __init__(self):
        super().__init__()
        self.images, self.stack, self.text = [], [], []

    def handle_starttag(self, tag, attrs):
        if tag == "img":
            self.images.append(dict(attrs))
        elif tag not in self.VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag):
        assert self.stack and self.stack.pop() == tag, f"unbalanced </{tag}>"

    def handle_data(self, data):
        self.text.append(data)


def _check_report(index):
    import matplotlib.image

    assert index.name == "index.html"
    page = _Page()
    html = index.read_text(encoding="utf-8")
    assert html.startswith("<!DOCTYPE html>")
    page.feed(html)
    page.close()
    assert page.stack == []
    pngs = {p.name for p in index.parent.glob("*.png")}
    assert {img["src"] for img in page.images} == pngs      # relative links, each figure shown once
    for img in page.images:
        assert len(img["alt"]) > 20                          # a real description
        data = (index.parent / img["src"]).read_bytes()
        assert data.startswith(PNG_SIGNATURE)
        h, w, _ = matplotlib.image.imread(index.parent / img["src"]).shape
        assert h >= 200 and w >= 200
    return pngs, " ".join(page.text)


@pytest.fixture(scope="module")
def trained(mnist_small):
    (X, y), (Xt, yt) = mnist_small
    model = nz.mlp(784, [32, 16], 10)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(X[:2000], y[:2000], epochs=3, batch_size=100, validation_split=0.2,
                  diagnostics=True, seed=0)
    return model, Xt[:500], yt[:500]


@pytest.mark.slow
def test_full_report(trained, tmp_path):
    model, Xt, yt = trained
    index = write_report(model, tmp_path / "report", Xt, yt)
    pngs, text = _check_report(index)
    assert pngs == ALL_FIGURES
    accuracy = model.evaluate(Xt, yt)["accuracy"]
    assert f"On the test: accuracy {accuracy:.2%}" in text
    n_wrong = int((model.predict(Xt) != yt).sum())
    assert f"The first 36 of {n_wrong} misclassified" in text
    assert "Dense(n_in=784, n_out=32" in text                  # the model summary
    # the curves' caption promises exactly what is drawn: this run held out validation rows
    assert "Training (solid) and validation (dashed) loss and accuracy per epoch." in text
    assert "The star is the test, measured once after training" in text
    # per-class precision and recall, from the same predictions
    from nnzero import metrics

    cm = metrics.confusion_matrix(yt, model.predict(Xt), labels=model.classes_)
    precision, recall, _ = metrics.precision_recall_f1(cm)
    assert "Per-class precision and recall" in text
    assert all(f"{r:.4f}" in text for r in recall if not np.isnan(r))


def test_curves_say_when_there_is_no_validation(tmp_path, rng):
    X, y = rng.standard_normal((60, 5)), rng.integers(0, 3, 60)
    model = nz.mlp(5, [4], 3)
    model.fit(X, y, epochs=3, seed=0)
    _, text = _check_report(write_report(model, tmp_path))
    assert "Training (solid) loss and accuracy per epoch; this run held out no validation rows" in text
    assert "dashed" not in text


def test_report_without_test_data_or_history(tmp_path, rng):
    model = nz.mlp(784, [8], 3).build(seed=0)                   # never trained: no history
    pngs, text = _check_report(write_report(model, tmp_path))
    assert pngs == {"weights.png"}
    assert "No training history" in text


def test_report_on_non_image_features(tmp_path, rng):
    X, y = rng.standard_normal((60, 5)), rng.integers(0, 3, 60)
    model = nz.mlp(5, [4], 3)
    model.fit(X, y, epochs=2, seed=0)
    pngs, _ = _check_report(write_report(model, tmp_path, X, y))
    # 5 features are no picture: weights as a matrix, and no images of misclassified samples.
    assert pngs == {"curves.png", "confusion.png", "weights.png"}


def test_report_lists_diagnostics_warnings(tmp_path, rng):
    model = nz.Sequential([nz.Dense(4, 8), nz.ReLU(), nz.Dense(8, 2)]).build(seed=0)
    model.params["0.b"][...] = -100.0                           # every ReLU dead from the start
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(rng.random((20, 4)), rng.integers(0, 2, 20), epochs=1, diagnostics=True, seed=0)
    _, text = _check_report(write_report(model, tmp_path))
    assert "epoch 1: 100% of layer 1's ReLUs never fire" in text


def test_report_needs_both_test_arrays(trained, tmp_path):
    model, Xt, yt = trained
    with pytest.raises(nz.ConfigError, match="both X_test and y_test"):
        write_report(model, tmp_path, Xt)
    with pytest.raises(nz.ShapeError, match="y_test has 499 labels for 500 samples"):
        write_report(model, tmp_path, Xt, yt[:-1])


@pytest.mark.slow
def test_report_command(trained, tmp_path, capsys):
    io = pytest.importorskip("nnzero.serialization")
    model, Xt, yt = trained
    io.save(model, tmp_path / "m.safetensors")
    np.savez(tmp_path / "test.npz", X=Xt[:100], y=yt[:100])
    out = tmp_path / "out"
    assert main(["report", str(tmp_path / "m.safetensors"), "--out", str(out),
                 "--data", str(tmp_path / "test.npz")]) == 0
    assert "wrote" in capsys.readouterr().out
    pngs, text = _check_report(out / "index.html")
    assert pngs == ALL_FIGURES
    assert f"On the {tmp_path / 'test.npz'}: accuracy" in text
    assert not [p for p in out.iterdir() if ".part-" in p.name]       # atomic writes leave no temp files
    assert main(["report", str(tmp_path / "m.safetensors"), "--out", str(tmp_path / "out2")]) == 2
    assert "not trained on a named dataset" in capsys.readouterr().err


def main(argv):
    """The ``nnzero`` command line, imported when a test uses it."""
    from nnzero.cli import main as cli_main

    return cli_main(argv)
