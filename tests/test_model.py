"""Sequential: construction, input and settings checking, label mapping, inference (which
stores nothing), weights and config."""

import numpy as np
import pytest

import nnzero as nz


@pytest.fixture
def fitted(small_net):
    """fit(X, y, n_out, **kwargs) → small_net(n_out) trained 30 epochs with Adam(0.03), seed 0."""
    def fit(X, y, n_out, **kwargs):
        model = small_net(n_out, X.shape[1])
        model.fit(X, y, epochs=30, batch_size=16, optimizer=nz.Adam(0.03), seed=0, **kwargs)
        return model
    return fit


# -- construction ------------------------------------------------------------------------------

def test_mismatched_dense_chain_fails_at_construction():
    with pytest.raises(nz.ShapeError, match="Dense expected 128 input features, got 256"):
        nz.Sequential([nz.Dense(784, 256), nz.ReLU(), nz.Dense(128, 10), nz.Softmax()])


@pytest.mark.parametrize("layers, kwargs, message", [
    ([], {}, "at least one layer"),
    ([nz.ReLU()], {}, "at least one Dense layer"),
    (["dense"], {}, "Sequential takes nnzero layers, got str"),
    ([nz.Dense(2, 2)], {"loss": "hinge"}, "unknown loss 'hinge'"),
    ([nz.Dense(2, 2)], {"dtype": "float16"}, "dtype must be 'float32' or 'float64', got 'float16'"),
])
def test_invalid_model_settings(layers, kwargs, message):
    with pytest.raises(nz.ConfigError, match=message):
        nz.Sequential(layers, **kwargs)


@pytest.mark.parametrize("kwargs, message", [
    ({"activation": "swish"}, "unknown activation 'swish'"),
    ({"dropout": 1.0}, r"Dropout rate must be in \[0, 1\), got 1.0"),
    ({"init": "ones"}, "unknown initialiser 'ones'"),
])
def test_invalid_mlp_settings(kwargs, message):
    with pytest.raises(nz.ConfigError, match=message):
        nz.mlp(4, [8], 3, **kwargs)


def test_mlp_builds_the_described_stack():
    model = nz.mlp(784, [64, 32], 10, activation="tanh", dropout=0.1)
    kinds = [type(layer).__name__ for layer in model.layers]
    assert kinds == ["Dense", "Tanh", "Dropout", "Dense", "Tanh", "Dropout", "Dense", "Softmax"]
    assert model.layers[0].init == "glorot"             # the default for tanh
    assert model.count_params() == 784 * 64 + 64 + 64 * 32 + 32 + 32 * 10 + 10


# -- input checking -----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def mnist_shaped():
    return nz.Sequential([nz.Dense(784, 16), nz.ReLU(), nz.Dense(16, 10), nz.Softmax()]).build(seed=0)


@pytest.mark.parametrize("X, error, message", [
    (np.zeros((5, 783)), nz.ShapeError, "model expected 784 input features, got 783"),
    (np.zeros(784), nz.ShapeError, r"got a single sample of shape \(784,\): use X.reshape\(1, -1\)"),
    (np.zeros(20), nz.ShapeError, r"X must be 2-D \(n_samples, 784\), got shape \(20,\)"),
    (np.zeros((2, 28, 28)), nz.ShapeError, r"X must be 2-D \(n_samples, 784\), got shape \(2, 28, 28\)"),
    (np.zeros((0, 784)), nz.DataError, "X is empty: got 0 samples"),
    (np.full((3, 784), np.nan), nz.DataError, "X contains NaN or infinite values"),
    (np.pad(np.full((1, 1), np.inf), ((0, 2), (0, 783))), nz.DataError, "X contains NaN or infinite"),
    (np.full((2, 784), "a"), nz.DataError, "X must be numeric, got dtype <U1"),
])
def test_bad_inputs_get_clear_errors(mnist_shaped, X, error, message):
    for call in (mnist_shaped.predict, mnist_shaped.predict_proba):
        with pytest.raises(error, match=message):
            call(X)
    with pytest.raises(error, match=message):
        mnist_shaped.fit(X, np.zeros(len(X), dtype=int), epochs=1)


def test_label_length_mismatch(mnist_shaped):
    X = np.zeros((5, 784), dtype=np.float32)
    with pytest.raises(nz.ShapeError, match=r"y must have shape \(5,\), got \(4,\)"):
        mnist_shaped.fit(X, np.zeros(4, dtype=int), epochs=1)
    with pytest.raises(nz.ShapeError, match=r"y must have shape \(5,\), got \(5, 2\)"):
        mnist_shaped.evaluate(X, np.zeros((5, 2), dtype=int))


@pytest.mark.parametrize("kwargs, error, message", [
    ({"epochs": 0}, nz.ConfigError, "epochs must be a positive integer, got 0"),
    ({"epochs": 2.5}, nz.ConfigError, "epochs must be a positive integer, got 2.5"),
    ({"batch_size": 0}, nz.ConfigError, "batch_size must be a positive integer or None, got 0"),
    ({"validation_split": 1.5}, nz.ConfigError, r"validation_split must be in \[0, 1\), got 1.5"),
    ({"validation_split": -0.1}, nz.ConfigError, r"validation_split must be in \[0, 1\), got -0.1"),
    ({"validation_split": 0.01}, nz.DataError, "validation_split=0.01 leaves 0 of 20 samples"),
    ({"validation_split": 0.2, "validation_data": ([[0.0] * 4], [0])}, nz.ConfigError, "not both"),
    ({"validation_data": [[0.0] * 4]}, nz.ConfigError, r"validation_data must be a pair \(X_val, y_val\)"),
    ({"optimizer": "rmsprop"}, nz.ConfigError, "unknown optimizer 'rmsprop'"),
    ({"verbose": 3}, nz.ConfigError, "verbose must be 0, 1, 2 or 'auto', got 3"),
    ({"sample_weight": np.ones(19)}, nz.ShapeError, r"sample_weight must have shape \(20,\), got \(19,\)"),
    ({"sample_weight": -np.ones(20)}, nz.DataError, "sample_weight must be finite and ≥ 0"),
])
def test_invalid_fit_settings(kwargs, error, message, rng, blobs, small_net):
    X, y = blobs(rng, [0, 1], n_per_class=10)
    with pytest.raises(error, match=message):
        small_net(2).fit(X, y, **kwargs)


def test_predict_before_fit_is_not_fitted_error(small_net):
    model = small_net(3)
    for call in (model.predict, model.predict_proba, lambda X: model.evaluate(X, [0, 1])):
        with pytest.raises(nz.NotFittedError, match=r"call fit\(\)"):
            call(np.zeros((2, 4)))
    with pytest.raises(nz.NotFittedError):
        model.set_weights({})


def test_built_model_without_fit_uses_output_indices(rng, small_net):
    model = small_net(3).build(seed=0)
    X = rng.normal(size=(6, 4))
    pred = model.predict(X)
    assert set(pred.tolist()) <= {0, 1, 2}
    assert model.evaluate(X, pred)["accuracy"] == 1.0


# -- labels ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("labels", [["cat", "dog", "eel"], [3, 7], [-1.5, 0.25, 2.0], [0.0, 1.0]])
def test_predict_returns_the_original_labels(labels, rng, blobs, fitted):
    X, y = blobs(rng, labels)
    model = fitted(X, y, len(labels))
    np.testing.assert_array_equal(model.classes_, sorted(labels))
    pred = model.predict(X)
    assert pred.shape == y.shape
    assert np.mean(pred == y) > 0.95                   # labels come back, not output indices
    assert model.evaluate(X, y)["accuracy"] == np.mean(pred == y)


def test_digit_labels_keep_their_meaning_when_some_are_missing(rng, blobs, fitted):
    # 10 outputs and labels {2, 5, 9}: output unit k still means digit k.
    X, y = blobs(rng, [2, 5, 9])
    model = fitted(X, y, 10)
    np.testing.assert_array_equal(model.classes_, np.arange(10))
    assert np.mean(model.predict(X) == y) > 0.95


def test_classes_argument_declares_labels_absent_from_y(rng, blobs, small_net, fitted):
    X, y = blobs(rng, ["a", "b"])
    model = fitted(X, y, 3, classes=["c", "a", "b"])
    np.testing.assert_array_equal(model.classes_, ["a", "b", "c"])
    assert model.evaluate(X[:2], ["c", "a"])["accuracy"] == 0.5
    with pytest.raises(nz.ShapeError, match=r"the model has 3 outputs but the labels have 2 classes \['a', 'b'\]"):
        small_net(3).fit(X, y, epochs=1)


def test_unknown_labels_at_evaluate_are_named(rng, blobs, small_net, fitted):
    X, y = blobs(rng, ["cat", "dog"], n_per_class=5)
    model = fitted(X, y, 2)
    with pytest.raises(nz.DataError, match=r"labels \['zebra'\] that are not among the model's classes \['cat', 'dog'\]"):
        model.evaluate(X[:3], ["cat", "zebra", "dog"])
    with pytest.raises(nz.DataError, match=r"y_val has labels \['eel'\]"):
        model.fit(X, y, epochs=1, validation_data=(X[:1], ["eel"]))
    with pytest.raises(nz.DataError, match="y contains NaN"):
        small_net(2).fit(X[:2], [0.0, np.nan], epochs=1)


# -- inference --------------------------------------------------------------------------------------

def test_predict_proba_rows_sum_to_one_and_match_predict(rng, blobs, fitted):
    X, y = blobs(rng, [0, 1, 2])
    model = fitted(X, y, 3)
    proba = model.predict_proba(X)
    assert proba.shape == (90, 3) and proba.dtype == np.float32
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-6)
    assert np.all(proba >= 0)
    np.testing.assert_array_equal(model.classes_[proba.argmax(axis=1)], model.predict(X))
    # Without a Softmax layer the outputs are logits: predict_proba applies the softmax itself.
    logits_net = nz.Sequential([nz.Dense(4, 8), nz.ReLU(), nz.Dense(8, 3)]).build(seed=1)
    logits_net.set_weights(model.get_weights())
    np.testing.assert_allclose(logits_net.predict_proba(X), proba, rtol=1e-5, atol=1e-7)


def _layer_state(model):
    """Every attribute and reusable buffer of every layer, by identity and content."""
    def fingerprint(v):
        return (id(v), v.dtype.str, v.shape, v.tobytes()) if isinstance(v, np.ndarray) else (id(v), repr(v))
    state = []
    for layer in model.layers:
        attrs = {k: fingerprint(v) for k, v in vars(layer).items() if k not in ("params", "grads")}
        attrs.update({f"param {k}": fingerprint(v) for k, v in layer.params.items()})
        attrs.update({f"grad {k}": fingerprint(v) for k, v in layer.grads.items()})
        state.append(attrs)
    return state


def test_inference_stores_nothing(rng, blobs, small_net):
    X, y = blobs(rng, [0, 1, 2])
    model = small_net(3, dropout=0.3)
    fresh = _layer_state(model.build(seed=0))
    model.predict(X)
    assert _layer_state(model) == fresh                # nothing cached by a pass before training
    assert not any(hasattr(layer, name) for layer in model.layers for name in layer.caches if name != "_x")

    model.fit(X, y, epochs=2, batch_size=32, seed=0)
    trained = _layer_state(model)
    model.predict(X)
    model.predict_proba(X)
    model.evaluate(X, y)
    assert _layer_state(model) == trained              # what training kept is untouched by inference


def test_regression_model_predicts_outputs(rng):
    model = nz.Sequential([nz.Dense(3, 2)], loss="mse").build(seed=0)
    out = model.predict(rng.normal(size=(5, 3)))
    assert out.shape == (5, 2) and out.dtype == np.float32
    with pytest.raises(nz.ConfigError, match="predict_proba needs a classifier"):
        model.predict_proba(np.zeros((1, 3)))
    assert np.isnan(model.evaluate(np.zeros((2, 3)), np.zeros((2, 2)))["accuracy"])
    with pytest.raises(nz.ShapeError, match=r"y must have shape \(2, 2\), got \(2, 3\)"):
        model.evaluate(np.zeros((2, 3)), np.zeros((2, 3)))


# -- weights, config, summary -----------------------------------------------------------------------

def test_get_and_set_weights(small_net):
    model = small_net(3).build(seed=0)
    weights = model.get_weights()
    assert set(weights) == {"0.W", "0.b", "2.W", "2.b"}
    weights["0.W"] += 1.0                               # a copy: the model is unchanged...
    assert not np.array_equal(model.params["0.W"], weights["0.W"])
    model.set_weights(weights)                          # ...until set_weights
    np.testing.assert_array_equal(model.params["0.W"], weights["0.W"])
    with pytest.raises(nz.ShapeError, match=r"weight 0.W has shape \(3, 8\), expected \(4, 8\)"):
        model.set_weights({**weights, "0.W": np.zeros((3, 8))})
    with pytest.raises(nz.ShapeError, match="weights have keys"):
        model.set_weights({"0.W": weights["0.W"]})


def test_same_seed_builds_identical_weights(small_net):
    a, b, c = (small_net(3).build(seed=s) for s in (5, 5, 6))
    assert all(a.params[k].tobytes() == b.params[k].tobytes() for k in a.params)
    assert any(a.params[k].tobytes() != c.params[k].tobytes() for k in a.params)
    assert all(p.dtype == np.float32 for p in a.params.values())


def test_config_round_trip():
    model = nz.Sequential([nz.Dense(4, 6, init="glorot"), nz.LeakyReLU(0.2), nz.Dropout(0.1),
                           nz.Dense(6, 2), nz.Softmax()], dtype="float64")
    clone = nz.Sequential.from_config(model.config())
    assert clone.config() == model.config()
    assert repr(clone) == repr(model)


def test_summary_lists_layers_shapes_and_parameters():
    model = nz.Sequential([nz.Dense(784, 64), nz.ReLU(), nz.Dense(64, 10), nz.Softmax()])
    lines = []
    assert model.summary(print_fn=lines.append) is None       # Keras: printed, not returned
    text = model.summary_text()
    assert lines == text.splitlines()
    assert "Dense(n_in=784, n_out=64, init='he')" in text and "(n, 64)" in text
    assert "50,240" in text and "650" in text            # 784·64 + 64 and 64·10 + 10
    assert "total parameters: 50,890" in text
    assert "fused into the cross-entropy" in text


def test_summary_prints_once_in_a_repl(capsys):
    model = nz.Sequential([nz.Dense(3, 2), nz.Softmax()])
    shown = model.summary()                     # a REPL would echo a returned string a second time
    assert shown is None and capsys.readouterr().out == model.summary_text() + "\n"


def test_fit_signature_is_documented():
    import inspect

    params = inspect.signature(nz.Sequential.fit).parameters
    assert "kwargs" not in params and params["verbose"].default == "auto"
    assert list(params)[:6] == ["self", "X", "y", "epochs", "batch_size", "optimizer"]
