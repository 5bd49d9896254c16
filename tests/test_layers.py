"""Layers: central-difference gradient checks in float64 (per op and whole networks), and the
behaviour and errors of each layer.

Per op we check dL/dX (and dL/dW, dL/db for Dense) of the scalar L = Σ G ⊙ layer(X) for a
random upstream gradient G, so backward(G) must equal ∂L/∂X exactly. Inputs of ReLU-like layers
are kept at least 0.1 away from the kink at 0, far beyond the step ε = 1e-6.
"""

import numpy as np
import pytest

import nnzero as nz
from nnzero.layers import from_config


def away_from_zero(rng, shape, low=0.1, high=2.0):
    """Entries with |x| in [low, high] and random sign: no ReLU kink within reach of ε."""
    return rng.uniform(low, high, shape) * rng.choice([-1.0, 1.0], shape)


LAYERS = {
    "Dense": lambda: nz.Dense(5, 3),
    "ReLU": nz.ReLU,
    "LeakyReLU": lambda: nz.LeakyReLU(0.1),
    "Tanh": nz.Tanh,
    "Sigmoid": nz.Sigmoid,
    "Softmax": nz.Softmax,
    "Dropout": lambda: nz.Dropout(0.4),
}


@pytest.mark.parametrize("name", list(LAYERS))
def test_layer_gradients_match_central_differences(name, rng, TOL, numeric_grad, rel_error):
    layer = LAYERS[name]()
    layer.build(5, np.random.default_rng(0), np.float64)
    if isinstance(layer, nz.Dense):
        layer.params["b"][:] = rng.normal(size=3)       # a non-zero bias, so db is exercised
    x = away_from_zero(rng, (4, 5))
    G = rng.normal(size=(4, layer.output_size(5)))

    def loss():
        if isinstance(layer, nz.Dropout):
            layer.rng = np.random.default_rng(7)        # the same mask at every evaluation
        return float(np.sum(G * layer.forward(x, training=True)))

    loss()
    dx = layer.backward(G).copy()
    analytic = {k: g.copy() for k, g in layer.grads.items()}

    assert dx.shape == x.shape and dx.dtype == np.float64
    assert rel_error(dx, numeric_grad(loss, x)) < TOL
    for key, p in layer.params.items():
        assert rel_error(analytic[key], numeric_grad(loss, p)) < TOL, key
    if isinstance(layer, nz.Dropout):                   # the mask really dropped something
        assert 0 < np.count_nonzero(dx == 0) < dx.size


def _kink_free(model, X):
    """Smallest |pre-activation| feeding a ReLU-like layer (must stay far above ε)."""
    out, smallest = X, np.inf
    for layer in model.layers:
        if isinstance(layer, (nz.ReLU, nz.LeakyReLU)):
            smallest = min(smallest, np.abs(out).min())
        out = layer.forward(out)
    return smallest


NETWORKS = {
    "relu": lambda: [nz.Dense(6, 5), nz.ReLU(), nz.Dense(5, 3), nz.Softmax()],
    "leaky_relu+dropout": lambda: [nz.Dense(6, 5), nz.LeakyReLU(0.2), nz.Dropout(0.3),
                                   nz.Dense(5, 4), nz.ReLU(), nz.Dense(4, 3), nz.Softmax()],
    "tanh+sigmoid": lambda: [nz.Dense(6, 5, init="glorot"), nz.Tanh(), nz.Dense(5, 4, init="glorot"),
                             nz.Sigmoid(), nz.Dense(4, 3), nz.Softmax()],
    "logits, no softmax layer": lambda: [nz.Dense(6, 4), nz.Tanh(), nz.Dense(4, 3)],
}


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("name", list(NETWORKS))
def test_network_gradients_cross_entropy(name, dtype, rng, TOL):
    model = nz.Sequential(NETWORKS[name](), dtype=dtype).build(seed=1)
    for p in model.params.values():      # non-zero biases: every term of the chain rule matters
        if p.ndim == 1:
            p[:] = rng.normal(scale=0.3, size=p.shape)
    X = rng.normal(size=(8, 6))
    y = np.arange(8) % 3
    assert _kink_free(model, X) > 1e-3
    errors = nz.check_gradients(model, X, y)
    assert set(errors) == set(model.params)
    assert max(errors.values()) < TOL, errors


def test_network_gradients_mse_through_standalone_softmax(rng, TOL):
    # With MSE the Softmax layer is not fused: its own Jacobian-vector product is checked.
    model = nz.Sequential([nz.Dense(4, 5), nz.Tanh(), nz.Dense(5, 3), nz.Softmax()],
                          loss="mse", dtype="float64").build(seed=2)
    assert not model.fused_softmax
    X = rng.normal(size=(7, 4))
    Y = rng.dirichlet(np.ones(3), size=7)
    errors = nz.check_gradients(model, X, Y)
    assert max(errors.values()) < TOL, errors


def test_check_gradients_subset_of_entries(rng, TOL):
    model = nz.Sequential([nz.Dense(30, 20), nz.Tanh(), nz.Dense(20, 3), nz.Softmax()]).build(seed=0)
    errors = nz.check_gradients(model, rng.normal(size=(5, 30)), np.arange(5) % 3, max_entries=10)
    assert max(errors.values()) < TOL, errors


def _tanh_net(rng):
    model = nz.Sequential([nz.Dense(4, 5), nz.Tanh(), nz.Dense(5, 3), nz.Softmax()]).build(seed=3)
    return model, rng.normal(size=(6, 4)), np.arange(6) % 3


def test_check_gradients_flags_a_wrong_activation_backward(monkeypatch, rng, TOL):
    model, X, y = _tanh_net(rng)
    # Forget the factor (1 − a²): gradients below the Tanh are wrong, those above it are right.
    monkeypatch.setattr(nz.Tanh, "backward", lambda self, grad_out: grad_out)
    errors = nz.check_gradients(model, X, y)
    assert errors["0.W"] > 0.05 and errors["0.b"] > 0.05, errors
    assert errors["2.W"] < TOL and errors["2.b"] < TOL, errors


def test_check_gradients_flags_a_one_percent_error(monkeypatch, rng, TOL):
    model, X, y = _tanh_net(rng)
    original = nz.Dense.backward

    def slightly_wrong(self, grad_out):
        dx = original(self, grad_out)
        self.grads["W"] *= 1.01
        return dx

    monkeypatch.setattr(nz.Dense, "backward", slightly_wrong)
    errors = nz.check_gradients(model, X, y)
    assert min(errors["0.W"], errors["2.W"]) > 1e-3, errors     # 1% off is ~0.005: far above TOL
    assert errors["0.b"] < TOL and errors["2.b"] < TOL, errors


# -- behaviour ---------------------------------------------------------------------------------

@pytest.mark.parametrize("name", list(LAYERS))
def test_float32_in_float32_out(name, rng):
    layer = LAYERS[name]()
    layer.build(5, np.random.default_rng(0), np.float32)
    if isinstance(layer, nz.Dropout):
        layer.rng = np.random.default_rng(0)
    x = rng.normal(size=(4, 5)).astype(np.float32)
    for training in (False, True):
        out = layer.forward(x, training=training)
        assert out.dtype == np.float32
    grad = layer.backward(np.ones_like(out))
    assert grad.dtype == np.float32
    assert all(g.dtype == np.float32 for g in layer.grads.values())


def test_dropout_is_identity_at_inference_and_scales_kept_units(rng):
    layer = nz.Dropout(0.25)
    x = rng.uniform(1, 2, size=(400, 50))
    assert layer.forward(x) is x                       # no rng needed, nothing drawn
    layer.rng = np.random.default_rng(0)
    out = layer.forward(x, training=True)
    kept = out != 0
    np.testing.assert_allclose(out[kept], x[kept] / 0.75, rtol=1e-15)
    assert abs(kept.mean() - 0.75) < 0.01              # 20000 Bernoulli(0.75) draws: σ ≈ 0.003
    np.testing.assert_array_equal(layer.backward(np.ones_like(x)) != 0, kept)


def test_dropout_without_generator_is_a_clear_error():
    with pytest.raises(nz.ConfigError, match="Generator"):
        nz.Dropout(0.5).forward(np.ones((2, 3)), training=True)


def test_sigmoid_and_softmax_are_stable_for_extreme_inputs():
    z = np.array([[-1000.0, 0.0, 1000.0], [1e4, 1e4, -1e4]])
    # Overflow, 0/0 or inf − inf would raise; underflow of e^(−1000) to 0 is harmless.
    with np.errstate(over="raise", invalid="raise", divide="raise", under="ignore"):
        a = nz.Sigmoid().forward(z)
        p = nz.Softmax().forward(z)
    np.testing.assert_array_equal(a, [[0.0, 0.5, 1.0], [1.0, 1.0, 0.0]])
    np.testing.assert_allclose(p, [[0, 0, 1], [0.5, 0.5, 0]], atol=1e-300)
    np.testing.assert_allclose(p.sum(axis=1), 1.0, rtol=1e-15)


def test_dense_rejects_wrong_input_width(rng):
    layer = nz.Dense(4, 2)
    layer.build(4, rng, np.float64)
    with pytest.raises(nz.ShapeError, match=r"Dense expected 4 input features, got shape \(3, 5\)"):
        layer.forward(np.zeros((3, 5)))
    with pytest.raises(nz.ShapeError, match="Dense expected 4 input features, got 5"):
        layer.build(5, rng, np.float64)


@pytest.mark.parametrize("make, message", [
    (lambda: nz.Dense(0, 3), "n_in must be a positive integer, got 0"),
    (lambda: nz.Dense(3, 2.5), "n_out must be a positive integer, got 2.5"),
    (lambda: nz.Dense(True, 3), "n_in must be a positive integer, got True"),
    (lambda: nz.Dense(3, 3, init="zeros"), "unknown initialiser 'zeros'"),
    (lambda: nz.Dropout(1.0), r"Dropout rate must be in \[0, 1\), got 1.0"),
    (lambda: nz.Dropout(-0.1), r"Dropout rate must be in \[0, 1\), got -0.1"),
    (lambda: nz.LeakyReLU(1.5), r"LeakyReLU alpha must be in \[0, 1\), got 1.5"),
])
def test_invalid_layer_settings(make, message):
    with pytest.raises(nz.ConfigError, match=message):
        make()


def test_layer_config_round_trip():
    for layer in [nz.Dense(3, 4, init="glorot"), nz.LeakyReLU(0.3), nz.Dropout(0.2), nz.Softmax()]:
        clone = from_config(type(layer).__name__, layer.config())
        assert type(clone) is type(layer) and clone.config() == layer.config()
    with pytest.raises(nz.ConfigError, match="unknown layer type 'Conv2D'"):
        from_config("Conv2D", {})
    with pytest.raises(nz.ConfigError, match="bad config for layer Dense"):
        from_config("Dense", {"n_in": 3})
