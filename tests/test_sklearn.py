"""nnzero.sklearn: scikit-learn's own estimator checks, the same objective as sklearn's MLP,
and the estimators inside Pipeline, GridSearchCV and cross_val_score."""

import pickle
import warnings

import numpy as np
import pytest

pytest.importorskip("sklearn")

from sklearn import neural_network as sk_nn                          # noqa: E402
from sklearn.datasets import load_digits                             # noqa: E402
from sklearn.exceptions import ConvergenceWarning                    # noqa: E402
from sklearn.model_selection import GridSearchCV, cross_val_score    # noqa: E402
from sklearn.pipeline import make_pipeline                           # noqa: E402
from sklearn.preprocessing import StandardScaler                     # noqa: E402
from sklearn.utils.class_weight import compute_sample_weight         # noqa: E402
from sklearn.utils.estimator_checks import parametrize_with_checks   # noqa: E402

import nnzero as nz                                                  # noqa: E402
from nnzero.errors import ConfigError, DataError, ModelFileError     # noqa: E402
from nnzero.sklearn import MLPClassifier, MLPRegressor               # noqa: E402


def _expected_failed_checks(est):
    if est.dtype != "float32":          # None follows the checks' float64 data: float64 throughout
        return {}
    # check_sample_weight_equivalence_on_dense_data compares a fit on repeated rows with a fit
    # on integer sample weights at rtol=1e-7, below float32's own resolution (eps = 1.2e-7): the
    # two fits add the same terms in a different order, so float32 predictions differ in the
    # last bit (about 3e-7). The float64 instances below pass this check, which shows the
    # weighting itself is exact.
    return {"check_sample_weight_equivalence_on_dense_data": "float32 rounding is above rtol=1e-7"}


# Small networks keep the whole check suite to a few seconds; everything else is the default
# (max_iter=200, adam, lr 1e-3, batch 'auto'). Each estimator runs with dtype=None, the default
# that follows X (the checks' data are float64, so float64 throughout), and forced to float32.
@parametrize_with_checks(
    [MLPClassifier((16,)), MLPRegressor((16,)),
     MLPClassifier((16,), dtype="float32"), MLPRegressor((16,), dtype="float32")],
    expected_failed_checks=_expected_failed_checks)
def test_sklearn_estimator_checks(estimator, check, monkeypatch):
    # Without SCIPY_ARRAY_API the array-API check (NumPy namespace) skips itself; it passes.
    monkeypatch.setenv("SCIPY_ARRAY_API", "1")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        check(estimator)


@pytest.fixture(scope="module")
def digits():
    """sklearn's 8×8 digits, pixels scaled to [0, 1]: (X (1797, 64) float64, y (1797,) int)."""
    X, y = load_digits(return_X_y=True)
    return X / 16.0, y


def _quiet(est, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return est.fit(*args, **kwargs)


# -- the same objective and updates as sklearn's MLP ----------------------------------------------
@pytest.mark.parametrize("solver,kwargs", [
    ("sgd", {"momentum": 0.0}),
    ("sgd", {"momentum": 0.9, "nesterovs_momentum": True}),
    ("sgd", {"momentum": 0.9, "nesterovs_momentum": False}),
    # ε → 0: sklearn adds ε to √v, torch and we to √v̂, a difference that would swamp the rest
    ("adam", {"epsilon": 1e-30}),
])
@pytest.mark.parametrize("kind", ["classifier", "regressor"])
def test_updates_match_sklearn_from_the_same_weights(kind, solver, kwargs, rng):
    # Full-batch steps from identical weights, with alpha and sample weights: equal updates mean
    # the same loss, the same alpha → weight-decay mapping and the same optimizer.
    X = rng.normal(size=(40, 6))
    sw = rng.integers(0, 4, size=40).astype(float)
    if kind == "classifier":
        y, extra = rng.integers(0, 3, size=40), {"classes": [0, 1, 2]}
        ours_cls, sk_cls = MLPClassifier, sk_nn.MLPClassifier
    else:
        # one output: with k > 1 sklearn's gradient is k times that of its own loss
        y, extra = rng.normal(size=40), {}
        ours_cls, sk_cls = MLPRegressor, sk_nn.MLPRegressor
    settings = dict(hidden_layer_sizes=(5,), solver=solver, alpha=0.3, learning_rate_init=0.05,
                    batch_size=40, shuffle=False, random_state=0, **kwargs)
    ours = ours_cls(dtype="float64", **settings).partial_fit(X, y, **extra)
    theirs = sk_cls(**settings).partial_fit(X, y, **extra)
    for mine, other in zip(ours.coefs_ + ours.intercepts_, theirs.coefs_ + theirs.intercepts_):
        other[...] = mine            # in place: sklearn's optimizer holds these very arrays
    # Both optimizers start afresh from here (sklearn's private state: velocities, or ms, vs, t).
    ours._optimizer.load_state_dict({"t": 0, "arrays": {}})
    opt = theirs._optimizer
    if solver == "sgd":
        opt.velocities = [np.zeros_like(v) for v in opt.velocities]
    else:
        opt.t, opt.ms, opt.vs = 0, [np.zeros_like(m) for m in opt.ms], [np.zeros_like(v) for v in opt.vs]
    for _ in range(3):
        ours.partial_fit(X, y, sample_weight=sw)
        theirs.partial_fit(X, y, sample_weight=sw)
    for mine, other in zip(ours.coefs_ + ours.intercepts_, theirs.coefs_ + theirs.intercepts_):
        np.testing.assert_allclose(mine, other, rtol=1e-10, atol=1e-12)


def test_loss_curve_includes_the_l2_penalty(digits):
    # One full-batch epoch: the data loss is measured at the shared initial weights, the penalty
    # α/(2n)·Σ‖W‖² at the weights after the step.
    X, y = digits[0][:300], digits[1][:300]
    settings = dict(hidden_layer_sizes=(16,), max_iter=1, batch_size=None, random_state=0, dtype="float64")
    a = _quiet(MLPClassifier(alpha=0.0, **settings), X, y)
    b = _quiet(MLPClassifier(alpha=50.0, **settings), X, y)
    penalty = 50.0 / (2 * 300) * sum(float((W ** 2).sum()) for W in b.coefs_)
    assert penalty > 1
    np.testing.assert_allclose(b.loss_curve_[0], a.loss_curve_[0] + penalty, rtol=1e-12)


# -- fit, partial_fit, stopping -------------------------------------------------------------------
@pytest.mark.parametrize("schedule", [None, "cosine"])
def test_partial_fit_keeps_optimizer_state_and_schedule(digits, schedule):
    # k full-batch partial_fit calls are exactly fit(max_iter=k): Adam's moments and step count
    # carry over between calls, and the schedule advances one epoch per call.
    X, y = digits[0][:150], digits[1][:150]
    settings = dict(hidden_layer_sizes=(8,), max_iter=4, batch_size=None, shuffle=False,
                    random_state=3, schedule=schedule)
    whole = _quiet(MLPClassifier(**settings), X, y)
    parts = MLPClassifier(**settings)
    for _ in range(4):
        parts.partial_fit(X, y, classes=np.arange(10))
    assert parts.n_iter_ == 1 and len(parts.loss_curve_) == 4
    assert parts.loss_curve_ == whole.loss_curve_
    for a, b in zip(parts.coefs_, whole.coefs_):
        np.testing.assert_array_equal(a, b)


def test_partial_fit_errors(digits):
    X, y = digits
    with pytest.raises(ConfigError, match="classes must be passed"):
        MLPClassifier().partial_fit(X[:20], y[:20])
    clf = MLPClassifier((4,)).partial_fit(X[:20], y[:20] % 3, classes=[0, 1, 2])
    with pytest.raises(DataError, match=r"labels \[7\] that are not among classes_"):
        clf.partial_fit(X[:1], [7])
    with pytest.raises(ConfigError, match="early_stopping"):
        MLPClassifier(early_stopping=True).partial_fit(X[:20], y[:20], classes=np.arange(10))


def test_tol_stopping_and_convergence_warning(digits):
    X, y = digits
    with pytest.warns(ConvergenceWarning, match="max_iter=3"):
        MLPClassifier((8,), max_iter=3, random_state=0).fit(X, y)
    settings = dict(hidden_layer_sizes=(8,), max_iter=50, tol=10.0, n_iter_no_change=2, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        clf = MLPClassifier(**settings).fit(X, y)
        reference = sk_nn.MLPClassifier(**settings).fit(X, y)
    # no epoch after the first lowers the loss by 10: stop once 3 > n_iter_no_change such epochs
    assert clf.n_iter_ == reference.n_iter_ == 4
    assert clf.best_loss_ == min(clf.loss_curve_) and clf.validation_scores_ is None


def test_early_stopping_restores_the_best_epoch(digits):
    X, y = digits
    seen = []
    keep = nz.LambdaCallback(on_epoch_end=lambda epoch, logs: seen.append(clf.model_.get_weights()))
    clf = MLPClassifier((16,), early_stopping=True, validation_fraction=0.2, n_iter_no_change=3,
                        tol=0.05, max_iter=100, random_state=0, callbacks=[keep])
    clf.fit(X, y)
    scores = clf.validation_scores_
    assert clf.n_iter_ == len(scores) == len(seen) < 100 and clf.best_loss_ is None
    assert clf.best_validation_score_ == max(scores)
    best = seen[int(np.argmax(scores))]
    for key, value in clf.model_.get_weights().items():
        np.testing.assert_array_equal(value, best[key])


def test_warm_start_continues_and_checks_classes(digits):
    X, y = digits
    clf = _quiet(MLPClassifier((8,), max_iter=2, warm_start=True, random_state=0), X, y)
    first = [W.copy() for W in clf.coefs_]
    _quiet(clf, X, y)
    assert len(clf.loss_curve_) == 4 and clf.n_iter_ == 2
    assert clf.loss_curve_[2] < clf.loss_curve_[0]
    assert not np.array_equal(first[0], clf.coefs_[0])
    with pytest.raises(DataError, match="warm_start"):
        clf.fit(X[y < 5], y[y < 5])


# -- dtype ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("cls", [MLPClassifier, MLPRegressor])
def test_dtype_follows_X_unless_forced(cls, digits):
    X, y = digits[0][:200], digits[1][:200]
    for X_in, dtype, expected in ((X, None, np.float64), (X.astype(np.float32), None, np.float32),
                                  ((X * 16).astype(np.int64), None, np.float64),
                                  (X, "float32", np.float32), (X.astype(np.float32), "float64", np.float64)):
        est = _quiet(cls((8,), max_iter=2, random_state=0, dtype=dtype), X_in, y)
        assert est.coefs_[0].dtype == expected and est.model_.dtype == expected, (X_in.dtype, dtype)
        assert est.get_params()["dtype"] == dtype
    # partial_fit keeps the first call's type
    est = cls((8,), random_state=0).partial_fit(X.astype(np.float32), y, **(
        {"classes": np.unique(y)} if cls is MLPClassifier else {}))
    est.partial_fit(X, y)
    assert est.model_.dtype == np.float32


# -- labels and weights ---------------------------------------------------------------------------
def test_string_labels_and_dtypes(digits):
    X, y = digits
    names = np.array(["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"])
    clf = _quiet(MLPClassifier((32,), max_iter=60, random_state=0), X, names[y])
    assert clf.classes_.tolist() == sorted(names.tolist())
    pred = clf.predict(X)
    assert pred.dtype.kind == "U" and np.mean(pred == names[y]) > 0.95
    assert clf.coefs_[0].dtype == np.float64 and clf.coefs_[0].shape == (64, 32)   # X is float64
    assert clf.coefs_[-1].shape == (32, 10)            # a softmax unit for every class
    proba = clf.predict_proba(X)
    assert proba.dtype == np.float64 and proba.shape == (len(X), 10)
    np.testing.assert_array_equal(clf.classes_[proba.argmax(axis=1)], pred)


def test_one_class_is_a_clear_error(digits):
    with pytest.raises(DataError, match="at least 2 classes; y has 1 class"):
        MLPClassifier().fit(digits[0][:10], ["a"] * 10)


@pytest.mark.parametrize("class_weight", ["balanced", {0: 5.0, 1: 1.0, 2: 0.5}])
def test_class_weight_is_per_class_sample_weight(digits, class_weight):
    X, y = digits[0][:240], digits[1][:240] % 3
    settings = dict(hidden_layer_sizes=(8,), max_iter=5, random_state=0, dtype="float64")
    a = _quiet(MLPClassifier(class_weight=class_weight, **settings), X, y)
    b = _quiet(MLPClassifier(**settings), X, y, sample_weight=compute_sample_weight(class_weight, y))
    np.testing.assert_allclose(a.predict_proba(X), b.predict_proba(X), rtol=1e-12)


def test_sample_weights_count_as_repetitions(digits, rng):
    # As in sklearn, J = Σwℓ/Σw + α/(2Σw)·‖W‖²: weights 7× larger are 7× more data, so the
    # same fit as α/7.
    X, y = digits[0][:300], digits[1][:300]
    sw = rng.uniform(0.2, 2.0, size=300)
    settings = dict(hidden_layer_sizes=(8,), max_iter=5, random_state=0, dtype="float64")
    a = _quiet(MLPClassifier(alpha=0.7, **settings), X, y, sample_weight=7 * sw)
    b = _quiet(MLPClassifier(alpha=0.1, **settings), X, y, sample_weight=sw)
    np.testing.assert_allclose(a.predict_proba(X), b.predict_proba(X), rtol=1e-10)
    c = _quiet(MLPClassifier(alpha=0.1, **settings), X, y, sample_weight=7 * sw)
    assert np.abs(c.predict_proba(X) - b.predict_proba(X)).max() > 1e-4
    with pytest.raises(ValueError, match="non-zero"):
        MLPClassifier().fit(X, y, sample_weight=np.zeros(300))


def test_regressor_multioutput_and_1d(rng):
    X = rng.normal(size=(200, 3))
    Y = np.column_stack([X @ [1.0, -2.0, 0.5], np.sin(X[:, 0])])
    reg = _quiet(MLPRegressor((32,), max_iter=300, learning_rate_init=1e-2, random_state=0), X, Y)
    assert reg.predict(X).shape == (200, 2) and reg.score(X, Y) > 0.9
    one = _quiet(MLPRegressor((8,), max_iter=2, random_state=0), X, Y[:, 0])
    assert one.predict(X).shape == (200,) and one.n_outputs_ == 1


@pytest.mark.parametrize("params, message", [
    ({"solver": "lbfgs"}, "mini-batch"),
    ({"hidden_layer_sizes": (8, 0)}, r"hidden_layer_sizes must be positive integers, got \(8, 0\)"),
    ({"activation": "softplus"}, "activation must be one of"),
    ({"alpha": -1.0}, "alpha must be a finite number"),
    ({"batch_size": 0}, "batch_size"),
    ({"dtype": "float16"}, "dtype"),
    ({"dropout": 1.0}, "Dropout rate"),
    ({"schedule": "linear"}, "unknown schedule"),
])
def test_bad_parameters_fail_at_fit(digits, params, message):
    est = MLPClassifier(**params)            # sklearn's rule: __init__ only stores
    with pytest.raises(ConfigError, match=message):
        est.fit(digits[0][:20], digits[1][:20])


# -- inside scikit-learn --------------------------------------------------------------------------
@pytest.mark.slow
def test_pipeline_grid_search_and_cross_val_score(digits):
    X, y = digits[0][:600], digits[1][:600]
    pipe = make_pipeline(StandardScaler(), MLPClassifier((32,), max_iter=100, random_state=0))
    assert _quiet(pipe, X, y).score(digits[0][600:], digits[1][600:]) > 0.85   # sklearn's MLP: 0.875
    grid = GridSearchCV(MLPClassifier(max_iter=15, random_state=0),
                        {"hidden_layer_sizes": [(8,), (32,)], "alpha": [1e-4, 1e-1]}, cv=2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        grid.fit(X, y)
        scores = cross_val_score(MLPClassifier((32,), max_iter=50, learning_rate_init=1e-2, random_state=0),
                                 X, y, cv=3, n_jobs=2)
    assert len(grid.cv_results_["params"]) == 4 and grid.best_params_["hidden_layer_sizes"] == (32,)
    assert grid.best_estimator_.predict(X).shape == (600,)
    assert scores.shape == (3,) and scores.min() > 0.8          # sklearn's MLP: 0.85, 0.915, 0.85


# -- files ----------------------------------------------------------------------------------------
def test_save_and_load_in_nnzero_format(digits, tmp_path):
    X, y = digits
    names = np.array(list("abcdefghij"))[y]
    clf = _quiet(MLPClassifier((16,), max_iter=5, random_state=0, dropout=0.1, schedule="cosine",
                               early_stopping=True), X, names)
    path = tmp_path / "digits.safetensors"
    clf.save(path)
    back = MLPClassifier.load(path)
    np.testing.assert_array_equal(back.predict_proba(X), clf.predict_proba(X))
    np.testing.assert_array_equal(back.classes_, clf.classes_)
    assert back.loss_curve_ == clf.loss_curve_ and back.validation_scores_ == clf.validation_scores_
    assert back.get_params()["dropout"] == 0.1 and back.n_iter_ == clf.n_iter_
    # a plain nnzero model too: the CLI and nz.load predict the labels
    np.testing.assert_array_equal(nz.load(path).predict(X), clf.predict(X))
    # pickle keeps working for sklearn users (sklearn's checks test it on every estimator)
    copy = pickle.loads(pickle.dumps(clf))
    np.testing.assert_array_equal(copy.predict(X), clf.predict(X))
    assert copy.coefs_[0] is copy.model_.layers[0].params["W"]      # still the model's own arrays
    with pytest.raises(ModelFileError, match="MLPRegressor.save, found 'MLPClassifier'"):
        MLPRegressor.load(path)
