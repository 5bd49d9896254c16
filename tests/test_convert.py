"""Networks from scikit-learn and PyTorch as nnzero models (``nz.from_sklearn``, ``nz.from_torch``),
round trips through a model file, and nnzero's estimators built from a model."""

import warnings

import numpy as np
import pytest

import nnzero as nz
from nnzero.errors import ConfigError, NotFittedError

sk_nn = pytest.importorskip("sklearn.neural_network")
NAMES = np.array(["cat", "dog", "eel", "fox"], dtype=object)       # as pandas would hand them over


@pytest.fixture
def data(rng):
    X = rng.normal(size=(400, 12))
    y = (X[:, :4] + 0.3 * rng.normal(size=(400, 4))).argmax(axis=1)
    return X, y


def roundtrip(model, tmp_path):
    model.save(tmp_path / "m.safetensors")
    return nz.load(tmp_path / "m.safetensors")


def agree(model, X, proba, labels):
    assert model.predict(X).tolist() == list(labels)
    assert np.abs(model.predict_proba(X) - proba).max() <= 1e-5


def fit_quietly(est, X, y):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")              # ConvergenceWarning: a short fit on purpose
        return est.fit(X, y)


@pytest.mark.parametrize("activation", ["relu", "tanh", "logistic", "identity"])
@pytest.mark.parametrize("labels", ["int", "str", "binary"])
def test_from_sklearn_classifier_round_trip(activation, labels, data, tmp_path):
    X, y = data
    y = {"int": y, "str": NAMES[y], "binary": NAMES[y] == "dog"}[labels]
    est = fit_quietly(sk_nn.MLPClassifier((16, 8), activation=activation, max_iter=60, random_state=0), X, y)
    model = roundtrip(nz.from_sklearn(est), tmp_path)
    assert model.classes_.tolist() == est.classes_.tolist()
    agree(model, X, est.predict_proba(X), est.predict(X))


def test_from_sklearn_float32_keeps_its_dtype(data, tmp_path):
    X, y = data
    est = fit_quietly(sk_nn.MLPClassifier((8,), max_iter=30, random_state=0), X.astype(np.float32), y)
    model = roundtrip(nz.from_sklearn(est), tmp_path)
    assert model.dtype == np.float32
    agree(model, X.astype(np.float32), est.predict_proba(X.astype(np.float32)), est.predict(X.astype(np.float32)))


@pytest.mark.parametrize("n_outputs", [1, 3])
def test_from_sklearn_regressor_round_trip(n_outputs, data, tmp_path):
    X, _ = data
    Y = X[:, :n_outputs] * 2 + 1
    est = fit_quietly(sk_nn.MLPRegressor(hidden_layer_sizes=(10,), activation="tanh", max_iter=40,
                                         random_state=0), X, Y.ravel() if n_outputs == 1 else Y)
    model = roundtrip(nz.from_sklearn(est), tmp_path)
    np.testing.assert_allclose(model.predict(X).reshape(len(X), -1), est.predict(X).reshape(len(X), -1),
                               rtol=0, atol=1e-5)


def test_from_sklearn_errors(data):
    X, y = data
    with pytest.raises(NotFittedError, match="not fitted"):
        nz.from_sklearn(sk_nn.MLPClassifier())
    multilabel = fit_quietly(sk_nn.MLPClassifier((4,), max_iter=5), X, np.stack([y == 0, y == 1], axis=1))
    with pytest.raises(ConfigError, match="multilabel"):
        nz.from_sklearn(multilabel)
    poisson = fit_quietly(sk_nn.MLPRegressor(loss="poisson", hidden_layer_sizes=(4,), max_iter=5), X, np.exp(X[:, 0]))
    with pytest.raises(ConfigError, match="poisson"):
        nz.from_sklearn(poisson)
    from sklearn.linear_model import LogisticRegression

    with pytest.raises(ConfigError, match="got LogisticRegression"):
        nz.from_sklearn(LogisticRegression())


def test_from_sklearn_takes_nnzero_estimators(data):
    from nnzero.sklearn import MLPClassifier

    X, y = data
    est = fit_quietly(MLPClassifier((8,), max_iter=5, random_state=0), X, NAMES[y])
    model = nz.from_sklearn(est)
    assert model is not est.model_
    agree(model, X.astype(np.float32), est.predict_proba(X), est.predict(X))


# -- PyTorch ------------------------------------------------------------------------------------
torch = pytest.importorskip("torch")
nn = torch.nn


def torch_proba(module, X):
    with torch.no_grad():
        return torch.softmax(module(torch.as_tensor(X)), dim=1).numpy()


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("activation", [nn.ReLU(), nn.LeakyReLU(0.05), nn.Tanh(), nn.Sigmoid()], ids=repr)
def test_from_torch_round_trip(activation, dtype, data, tmp_path):
    X, _ = data
    torch.manual_seed(0)
    module = nn.Sequential(nn.Flatten(), nn.Linear(12, 16), activation, nn.Dropout(0.3),
                           nn.Sequential(nn.Linear(16, 8), activation), nn.Linear(8, 4)).to(dtype).eval()
    X = X.astype(np.float32 if dtype == torch.float32 else np.float64)
    model = roundtrip(nz.from_torch(module), tmp_path)
    assert model.dtype == X.dtype
    proba = torch_proba(module, X)
    agree(model, X, proba, proba.argmax(axis=1))


def test_from_torch_unsorted_string_classes_and_log_softmax(data):
    X, _ = data
    X = X.astype(np.float32)
    torch.manual_seed(1)
    # LeakyReLU, not ReLU: a row whose hidden units all die would give four equal logits (no bias),
    # and argmax would break that tie by column order, which the permutation changes.
    module = nn.Sequential(nn.Linear(12, 6), nn.LeakyReLU(0.1), nn.Linear(6, 4, bias=False), nn.LogSoftmax(dim=1)).eval()
    classes = np.array(["z", "b", "y", "a"])
    model = nz.from_torch(module, classes=classes)
    assert model.classes_.tolist() == ["a", "b", "y", "z"]
    proba = torch_proba(module, X)
    order = np.argsort(classes)
    agree(model, X, proba[:, order], classes[proba.argmax(axis=1)])


def test_from_torch_regressor(data):
    X, _ = data
    module = nn.Sequential(nn.Linear(12, 5), nn.Tanh(), nn.Linear(5, 2)).double()
    model = nz.from_torch(module, loss="mse")
    with torch.no_grad():
        expected = module(torch.as_tensor(X)).numpy()
    np.testing.assert_allclose(model.predict(X), expected, rtol=0, atol=1e-12)


def test_from_torch_unsupported_module_is_named():
    module = nn.Sequential(nn.Linear(4, 4), nn.ReLU(), nn.BatchNorm1d(4), nn.Linear(4, 2))
    with pytest.raises(ConfigError, match=r"module 2 is BatchNorm1d\(4.*nnzero has no layer for; supported: Linear"):
        nz.from_torch(module)
    with pytest.raises(ConfigError, match="module 0.1 is GELU"):
        nz.from_torch(nn.Sequential(nn.Sequential(nn.Linear(4, 4), nn.GELU()), nn.Linear(4, 2)))
    with pytest.raises(ConfigError, match="float16"):
        nz.from_torch(nn.Sequential(nn.Linear(4, 2)).half())
    with pytest.raises(ConfigError, match="classes must name the 2 outputs"):
        nz.from_torch(nn.Sequential(nn.Linear(4, 2)), classes=["a", "b", "c"])


# -- nnzero's estimators from a model -----------------------------------------------------------
def test_estimator_from_model_file(data, tmp_path):
    from nnzero.sklearn import MLPClassifier, MLPRegressor

    X, y = data
    est = fit_quietly(sk_nn.MLPClassifier((16,), activation="tanh", max_iter=60, random_state=0), X, NAMES[y])
    nz.from_sklearn(est).save(tmp_path / "m.safetensors")
    ours = MLPClassifier.from_model(tmp_path / "m.safetensors")
    assert ours.get_params()["activation"] == "tanh" and ours.hidden_layer_sizes == (16,)
    assert ours.predict(X).tolist() == est.predict(X).tolist()
    assert np.abs(ours.predict_proba(X) - est.predict_proba(X)).max() <= 1e-5
    assert ours.score(X, NAMES[y]) == est.score(X, NAMES[y])
    with pytest.raises(ConfigError, match="does not have the shape of MLPRegressor"):
        MLPRegressor.from_model(tmp_path / "m.safetensors")


def test_estimator_from_model_folds_scale_preprocessing(rng):
    from nnzero import preprocessing as prep
    from nnzero.sklearn import MLPClassifier

    X = rng.integers(0, 256, size=(200, 10)).astype(np.float64)
    model = nz.mlp(10, [8], 3, activation="leaky_relu", dropout=0.1).build(seed=0)
    model.set_classes(None, np.array([0, 1, 2]))
    model.metadata = {"preprocessing": prep.SCALE_255}
    est = MLPClassifier.from_model(model)
    assert est.dropout == 0.1 and est.activation == "leaky_relu"
    np.testing.assert_allclose(est.predict_proba(X), model.predict_proba(prep.apply(X, prep.SCALE_255)),
                               rtol=0, atol=1e-5)
    model.metadata = {"preprocessing": prep.BINARIZE}
    with pytest.raises(ConfigError, match="Binarizer"):
        MLPClassifier.from_model(model)


def test_estimator_from_model_folds_standardize(rng):
    from nnzero import preprocessing as prep
    from nnzero.sklearn import MLPClassifier

    X = rng.normal(loc=50, scale=[1, 10, 100, 0.1, 5, 5], size=(200, 6))
    model = nz.mlp(6, [8], 3, activation="tanh", dtype="float64").build(seed=0)
    model.set_classes(None, np.array(["a", "b", "c"]))
    model.metadata = {"preprocessing": prep.standardize(X)}
    est = MLPClassifier.from_model(model)
    np.testing.assert_allclose(est.predict_proba(X), model.predict_proba(prep.apply(X, model.metadata["preprocessing"],
                                                                                    np.float64)), rtol=0, atol=1e-10)
