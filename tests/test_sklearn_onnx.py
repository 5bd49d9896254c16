"""skl2onnx converts a whole Pipeline(StandardScaler(), nnzero MLPClassifier/MLPRegressor), and
the ONNX model predicts what the pipeline predicts (onnxruntime, MNIST test set)."""

import warnings

import numpy as np
import pytest

skl2onnx = pytest.importorskip("skl2onnx")
ort = pytest.importorskip("onnxruntime")
pytest.importorskip("sklearn")
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402

import nnzero as nz  # noqa: E402
import nnzero.sklearn.onnx  # noqa: E402,F401  (registers the converters)
from nnzero.sklearn import MLPClassifier, MLPRegressor  # noqa: E402

NAMES = np.array(["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"])


@pytest.fixture(scope="module")
def mnist_raw():
    (X_train, y_train), (X_test, _) = nz.datasets.load_mnist(normalize=False)
    return X_train[:2000].astype(np.float32), y_train[:2000].copy(), X_test.astype(np.float32)


def fitted(est, X, y):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")               # ConvergenceWarning: a short fit on purpose
        return make_pipeline(StandardScaler(), est).fit(X, y)


def run(onx, X):
    session = ort.InferenceSession(onx.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(None, {session.get_inputs()[0].name: X})


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("classes", ["int", "str"])
def test_classifier_pipeline_converts(classes, dtype, mnist_raw):
    X_train, y_train, X_test = mnist_raw
    y = NAMES[y_train] if classes == "str" else y_train
    pipe = fitted(MLPClassifier((32,), activation="tanh", max_iter=3, random_state=0, dtype=dtype), X_train, y)
    onx = skl2onnx.to_onnx(pipe, X_train[:1], options={MLPClassifier: {"zipmap": False}})
    labels, proba = run(onx, X_test)
    assert labels.tolist() == pipe.predict(X_test).tolist()
    assert proba.shape == (10000, 10)
    assert np.abs(proba - pipe.predict_proba(X_test)).max() <= 1e-5


def test_classifier_pipeline_with_zipmap(mnist_raw):
    X_train, y_train, X_test = mnist_raw
    pipe = fitted(MLPClassifier((16,), max_iter=2, random_state=0, dropout=0.2), X_train, NAMES[y_train])
    labels, maps = run(skl2onnx.to_onnx(pipe, X_train[:1]), X_test[:200])
    assert labels.tolist() == pipe.predict(X_test[:200]).tolist()
    expected = pipe.predict_proba(X_test[:200])
    columns = pipe[-1].classes_.tolist()
    got = np.array([[row[c] for c in columns] for row in maps])
    assert np.abs(got - expected).max() <= 1e-5


@pytest.mark.parametrize("n_outputs", [1, 2])
def test_regressor_pipeline_converts(n_outputs, mnist_raw):
    X_train, y_train, X_test = mnist_raw
    Y = np.stack([y_train, X_train[:, 400] / 255], axis=1)[:, :n_outputs].astype(np.float32)
    pipe = fitted(MLPRegressor((16,), max_iter=3, random_state=0), X_train, Y.ravel() if n_outputs == 1 else Y)
    (out,) = run(skl2onnx.to_onnx(pipe, X_train[:1]), X_test)
    assert out.shape == (10000, n_outputs)
    np.testing.assert_allclose(out, pipe.predict(X_test).reshape(10000, -1), rtol=1e-5, atol=1e-5)
