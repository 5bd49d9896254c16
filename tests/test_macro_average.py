"""`nnzero evaluate`'s per-class F1 and macro averages agree with scikit-learn, also when a class
is never predicted (it was left out of the macro average, which raised it: 0.2435 where
scikit-learn says 0.1623 on a real run)."""

import json

import numpy as np
import pytest
from sklearn.metrics import f1_score, precision_recall_fscore_support

import nnzero as nz
from nnzero import metrics
from nnzero.cli import main


def _sklearn(y, pred):
    p, r, f, _ = precision_recall_fscore_support(y, pred, average="macro", zero_division=0)
    return p, r, f


@pytest.mark.parametrize("seed", range(6))
def test_per_class_and_macro_scores_equal_scikit_learns(seed):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 5, 200)
    pred = np.where(rng.random(200) < 0.6, y, rng.integers(0, 5, 200))
    pred[pred == 3] = 1                    # class 3 never predicted
    y[y == 4] = 0                          # class 4 predicted, never present
    cm = metrics.confusion_matrix(y, pred, labels=np.arange(6))     # class 5: neither
    precision, recall, f1 = metrics.precision_recall_f1(cm)
    seen = np.unique(np.concatenate([y, pred]))
    np.testing.assert_allclose(f1[seen], f1_score(y, pred, average=None, labels=seen, zero_division=0))
    assert np.isnan(precision[3]) and f1[3] == 0 and np.isnan(recall[4]) and f1[4] == 0 and np.isnan(f1[5])
    np.testing.assert_allclose(metrics.macro_average(cm), _sklearn(y, pred), rtol=1e-12)


def test_evaluate_on_a_model_that_never_predicts_a_class(tmp_path, capsys):
    # A real model file: 2 features, 3 classes, class 2's output bias so low it never wins.
    model = nz.Sequential([nz.Dense(2, 3), nz.Softmax()])
    model.build(seed=0)
    model.set_weights({**model.get_weights(), "0.W": np.array([[1, -1, 0], [-1, 1, 0]], np.float32),
                       "0.b": np.array([0, 0, -1e3], np.float32)})
    model.set_classes(np.arange(3))
    model.save(tmp_path / "m.safetensors")
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 2)).astype(np.float32)
    y = rng.integers(0, 3, 300)
    np.savez(tmp_path / "d.npz", X=X, y=y)
    pred = nz.load(tmp_path / "m.safetensors").predict(X)
    assert set(np.unique(pred)) == {0, 1} and 2 in y          # the case: class 2 is present, never predicted

    assert main(["evaluate", str(tmp_path / "m.safetensors"), "--data", str(tmp_path / "d.npz"), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    macro = report["macro_avg"]
    np.testing.assert_allclose([macro["precision"], macro["recall"], macro["f1"]], _sklearn(y, pred), rtol=1e-12)
    np.testing.assert_allclose(report["f1"], f1_score(y, pred, average=None, zero_division=0), rtol=1e-12)
    assert report["precision"][2] is None and report["f1"][2] == 0.0

    assert main(["evaluate", str(tmp_path / "m.safetensors"), "--data", str(tmp_path / "d.npz")]) == 0
    text = capsys.readouterr().out
    line = next(line for line in text.splitlines() if line.startswith("macro avg"))
    assert line.split()[2:5] == [f"{v:.4f}" for v in _sklearn(y, pred)]
    assert "never predicted: 2 (precision undefined" in text
