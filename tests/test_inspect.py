"""Gradient checks (every layer and loss, and a deliberately broken backward), and the per-layer
training diagnostics on a network small enough to work out by hand."""

import json
import warnings

import numpy as np
import pytest

import nnzero as nz
from nnzero.diagnostics import DiagnosticWarning, Diagnostics, format_diagnostics
from nnzero.gradcheck import check_gradients

ACTIVATIONS = {"relu": nz.ReLU, "leaky_relu": lambda: nz.LeakyReLU(0.1), "tanh": nz.Tanh,
               "sigmoid": nz.Sigmoid}


def _net(hidden_layers, loss, softmax, rng, n=7, d=5, c=3):
    stack = [nz.Dense(d, 4, init="glorot"), *hidden_layers(), nz.Dense(4, c, init="glorot")]
    if softmax:
        stack.append(nz.Softmax())
    model = nz.Sequential(stack, loss=loss, dtype="float64").build(seed=3)
    for layer in model.layers:                          # non-zero biases test db properly
        if "b" in layer.params:
            layer.params["b"][...] = 0.1 * rng.standard_normal(layer.params["b"].shape)
    X = rng.standard_normal((n, d))       # N(0, 1) inputs: no pre-activation within ε of ReLU's kink
    if loss == "cross_entropy":
        y = rng.integers(0, c, n)
    else:
        y = np.eye(c)[rng.integers(0, c, n)] if softmax else rng.standard_normal((n, c))
    return model, X, y


@pytest.mark.parametrize("loss", ["cross_entropy", "mse"])
@pytest.mark.parametrize("softmax", [False, True], ids=["no_softmax", "softmax"])
@pytest.mark.parametrize("kind", [*ACTIVATIONS, "dropout"])
def test_gradients_match_central_differences(kind, loss, softmax, rng):
    if kind == "dropout":
        hidden = lambda: [nz.ReLU(), nz.Dropout(0.4)]
    else:
        hidden = lambda: [ACTIVATIONS[kind]()]
    model, X, y = _net(hidden, loss, softmax, rng)
    errors = check_gradients(model, X, y)
    assert set(errors) == {"0.W", "0.b", f"{len(model.layers) - 1 - softmax}.W",
                           f"{len(model.layers) - 1 - softmax}.b"}
    assert max(errors.values()) < 1e-7, errors


class ForgetfulReLU(nz.ReLU):
    """A classic bug: the backward pass forgets to multiply by the mask."""

    def backward(self, grad_out):
        return grad_out


class MeanBiasDense(nz.Dense):
    """Another: averaging the bias gradient over the batch, so 1/n is applied twice."""

    def backward(self, grad_out):
        dx = super().backward(grad_out)
        self.grads["b"] /= len(grad_out)
        return dx


def test_a_wrong_backward_fails_loudly(rng):
    model, X, y = _net(lambda: [ForgetfulReLU()], "cross_entropy", True, rng)
    errors = check_gradients(model, X, y)
    assert errors["0.W"] > 1e-2 and errors["0.b"] > 1e-2   # below the broken layer: wrong
    assert errors["2.W"] < 1e-7                            # above it: still right


def test_a_wrong_bias_gradient_is_caught(rng):
    model = nz.Sequential([MeanBiasDense(3, 2), nz.Softmax()], dtype="float64").build(seed=0)
    X, y = rng.standard_normal((6, 3)), rng.integers(0, 2, 6)
    errors = check_gradients(model, X, y)
    assert errors["0.W"] < 1e-7
    # analytic = numeric / 6, so ‖a − n‖ / (‖a‖ + ‖n‖) = (5/6) / (7/6) = 5/7.
    assert errors["0.b"] == pytest.approx(5 / 7, rel=1e-6)


def test_check_gradients_leaves_the_model_untouched(rng):
    model = nz.mlp(5, [4], 3).build(seed=0)                # float32
    before = model.get_weights()
    errors = check_gradients(model, rng.standard_normal((6, 5)), rng.integers(0, 3, 6))
    assert max(errors.values()) < 1e-6                     # checked in float64 despite float32
    assert model.dtype == np.float32
    assert all(np.array_equal(before[k], v) and v.dtype == np.float32 for k, v in model.params.items())


def test_max_entries_checks_a_subset(rng):
    model, X, y = _net(lambda: [nz.Tanh()], "cross_entropy", True, rng)
    errors = check_gradients(model, X, y, max_entries=3)
    assert max(errors.values()) < 1e-7


def test_default_checks_a_sample_and_none_checks_everything(rng):
    from nnzero.gradcheck import MAX_ENTRIES, compare_gradients

    model = nz.mlp(40, [30], 3, dtype="float64").build(seed=0)     # 0.W has 1200 entries
    X, y = rng.standard_normal((6, 40)), rng.integers(0, 3, 6)
    sample = compare_gradients(model, X, y)
    assert len(sample["0.W"]["index"]) == MAX_ENTRIES and len(sample["0.b"]["index"]) == 30
    assert len(np.unique(sample["0.W"]["index"])) == MAX_ENTRIES
    every = compare_gradients(model, X, y, max_entries=None)
    assert len(every["0.W"]["index"]) == 1200
    # the sample's values are the same entries of the full check, analytic and numerical alike
    i = sample["0.W"]["index"]
    np.testing.assert_array_equal(sample["0.W"]["analytic"], every["0.W"]["analytic"][i])
    np.testing.assert_allclose(sample["0.W"]["numeric"], every["0.W"]["numeric"][i], rtol=1e-12)
    assert check_gradients(model, X, y) == {k: v["error"] for k, v in sample.items()}
    with pytest.raises(nz.ConfigError, match="max_entries"):
        check_gradients(model, X, y, max_entries=0)


# -- diagnostics -----------------------------------------------------------------------------------

def _hand_model():
    """Dense(2, 3) → ReLU → Dense(3, 2) → Softmax with chosen weights: for inputs x ≥ 0, units 1
    and 2 of layer 1 have z = −x₀ − x₁ − 1 < 0 and never fire; unit 0 has z = x₀ + x₁ > 0."""
    model = nz.Sequential([nz.Dense(2, 3), nz.ReLU(), nz.Dense(3, 2), nz.Softmax()],
                          dtype="float64").build(seed=0)
    model.set_weights({"0.W": np.array([[1.0, -1.0, -1.0], [1.0, -1.0, -1.0]]),
                       "0.b": np.array([0.0, -1.0, -1.0]),
                       "2.W": np.array([[0.5, -0.5], [0.2, 0.1], [0.3, -0.2]]),
                       "2.b": np.array([0.0, 0.0])})
    return model


def _expected(model, X, y, lr):
    """The statistics of one full-batch SGD step, computed directly from the formulas."""
    W1, b1, W2, b2 = (model.params[k].copy() for k in ("0.W", "0.b", "2.W", "2.b"))
    z1 = X @ W1 + b1
    a1 = np.maximum(z1, 0)
    z2 = a1 @ W2 + b2
    p = np.exp(z2 - z2.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    G = (p - np.eye(2)[y]) / len(X)
    dW2 = a1.T @ G
    dW1 = X.T @ ((G @ W2.T) * (z1 > 0))
    return {"a1": a1, "z2": z2, "dW1": dW1, "dW2": dW2, "W1": W1, "W2": W2}


def test_diagnostics_numbers_on_a_hand_made_case():
    X = np.array([[1.0, 2.0], [0.5, 0.0], [3.0, 1.0], [0.0, 0.25]])
    y = np.array([0, 1, 1, 0])
    model, lr = _hand_model(), 0.01
    e = _expected(model, X, y, lr)
    # z of unit 0 is x₀ + x₁ = 3, 0.5, 4, 0.25; units 1 and 2 are 0 after the ReLU.
    assert np.array_equal(e["a1"][:, 0], [3.0, 0.5, 4.0, 0.25]) and not e["a1"][:, 1:].any()
    with pytest.warns(DiagnosticWarning, match="67% of layer 1's ReLUs never fire"):
        model.fit(X, y, epochs=1, batch_size=None, optimizer=nz.SGD(lr), callbacks=[Diagnostics(every=1)],
                  shuffle=False, seed=0)
    rec = model.history.diagnostics[0]
    first, out = rec["layers"]
    assert rec["epoch"] == 0 and rec["batches_sampled"] == 1
    assert (first["layer"], first["units"], first["activation"]) == (1, 3, "ReLU")
    assert (out["layer"], out["units"], out["activation"]) == (2, 2, "logits")
    # 12 activations: 3, 0.5, 4, 0.25 and eight zeros → mean 7.75 / 12.
    assert first["act_mean"] == pytest.approx(7.75 / 12, rel=1e-12)
    assert first["act_std"] == pytest.approx(e["a1"].std(), rel=1e-9)
    assert first["dead_fraction"] == pytest.approx(2 / 3)
    assert first["saturated_fraction"] is None and out["dead_fraction"] is None
    assert out["act_mean"] == pytest.approx(e["z2"].mean(), rel=1e-9)
    assert out["act_std"] == pytest.approx(e["z2"].std(), rel=1e-9)
    # Plain SGD: ΔW = −lr·dW, so ‖ΔW‖/‖W‖ = lr·‖dW‖/‖W‖ (W before the step).
    for stats, dW, W in ((first, e["dW1"], e["W1"]), (out, e["dW2"], e["W2"])):
        assert stats["grad_norm"] == pytest.approx(np.linalg.norm(dW), rel=1e-9)
        assert stats["update_ratio"] == pytest.approx(lr * np.linalg.norm(dW) / np.linalg.norm(W), rel=1e-9)
    assert stats["weight_norm"] == pytest.approx(np.linalg.norm(model.params["2.W"]), rel=1e-12)
    assert rec["warnings"] == ["67% of layer 1's ReLUs never fire: lower the learning rate or use He init"]
    json.dumps(model.history.to_dict(), allow_nan=False)    # JSON-able, as model files need


def test_diagnostics_sample_every_kth_batch_and_warn_once(rng):
    X, y = np.abs(rng.standard_normal((10, 2))), rng.integers(0, 2, 10)
    model, diag = _hand_model(), Diagnostics(every=2)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.fit(X, y, epochs=3, batch_size=2, optimizer=nz.SGD(0.01), callbacks=[diag], seed=0)
    records = model.history.diagnostics
    assert [r["epoch"] for r in records] == [0, 1, 2]
    assert all(r["batches_sampled"] == 3 for r in records)        # batches 0, 2, 4 of 5
    assert all(r["layers"][0]["dead_fraction"] == pytest.approx(2 / 3) for r in records)
    dead = [w for w in caught if issubclass(w.category, DiagnosticWarning)]
    assert len(dead) == 1                                         # once, not every epoch
    assert len(diag.warnings) == 3 and diag.warnings[2].startswith("epoch 3: 67% of layer 1")


def test_saturated_tanh_and_large_updates_are_flagged(rng):
    model = nz.Sequential([nz.Dense(4, 8, init="glorot"), nz.Tanh(), nz.Dense(8, 2)]).build(seed=0)
    model.params["0.W"][...] *= 50                                # huge weights: tanh saturates
    X, y = rng.standard_normal((64, 4)), rng.integers(0, 2, 64)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.fit(X, y, epochs=1, batch_size=16, optimizer=nz.SGD(5.0), diagnostics=True, seed=0)
    text = " | ".join(str(w.message) for w in caught)
    rec = model.history.diagnostics[0]
    assert rec["layers"][0]["saturated_fraction"] > 0.5
    assert "of layer 1's Tanh outputs are saturated" in text
    assert "weights change by" in text and "lower the learning rate" in text


def test_healthy_training_gives_no_warnings(mnist_small):
    (X, y), _ = mnist_small
    model = nz.mlp(784, [32], 10)
    with warnings.catch_warnings():
        warnings.simplefilter("error", DiagnosticWarning)
        history = model.fit(X[:1000], y[:1000], epochs=2, batch_size=50, diagnostics=True, seed=0)
    assert len(history.diagnostics) == 2
    assert all(not r["warnings"] for r in history.diagnostics)
    table = format_diagnostics(history.diagnostics[-1])
    assert table.splitlines()[0].split()[:3] == ["layer", "units", "activation"]
    assert len(table.splitlines()) == 3                             # header + 2 layers


def test_without_diagnostics_nothing_is_recorded(rng):
    model = nz.mlp(3, [4], 2)
    history = model.fit(rng.standard_normal((8, 3)), rng.integers(0, 2, 8), epochs=1, seed=0)
    assert history.diagnostics == []


def test_diagnostics_survive_the_model_file(tmp_path, rng):
    io = pytest.importorskip("nnzero.serialization")
    model = nz.mlp(3, [4], 2)
    model.fit(rng.standard_normal((20, 3)), rng.integers(0, 2, 20), epochs=2, batch_size=5,
              diagnostics=True, seed=0)
    io.save(model, tmp_path / "m.safetensors")
    loaded = io.load(tmp_path / "m.safetensors")
    assert loaded.history.diagnostics == model.history.diagnostics


def test_diagnostics_every_must_be_positive():
    with pytest.raises(nz.ConfigError, match="every must be a positive integer, got 0"):
        Diagnostics(every=0)


# -- the gradcheck command -----------------------------------------------------------------------

def test_gradcheck_command_passes(capsys):
    assert main(["gradcheck", "--layers", "relu,dropout,softmax", "--loss", "mse"]) == 0
    out = capsys.readouterr().out
    assert "all 18 tensors pass" in out and "FAIL" not in out
    assert out.count(" ok") == 18


def test_gradcheck_command_fails_on_a_wrong_backward(monkeypatch, capsys):
    # Forget Tanh's factor (1 − a²): the tensors below the last Tanh are wrong, the output layer's right.
    monkeypatch.setattr(nz.Tanh, "backward", lambda self, grad_out: grad_out)
    assert main(["gradcheck", "--layers", "tanh"]) == 1
    out = capsys.readouterr().out
    assert out.count("FAIL") == 5 and "4 of 6 tensors FAILED" in out


def test_gradcheck_says_what_it_built_and_shows_values_side_by_side(capsys):
    assert main(["gradcheck", "--layers", "relu,softmax"]) == 0
    out = capsys.readouterr().out
    assert "relu: 6-5-4-3: Dense(6→5) → ReLU → Dense(5→4) → ReLU → Dense(4→3); loss cross-entropy" in out
    assert "softmax: skipped. With cross-entropy the Softmax output is fused into the loss" in out
    rows = [line.split() for line in out.splitlines() if line.startswith("  0.W")]
    _, checked, _, analytic, numerical, error, result = rows[0]
    assert checked == "30/30" and result == "ok"
    assert abs(float(analytic) - float(numerical)) <= 1e-7 * abs(float(analytic))


def test_gradcheck_refuses_a_threshold_rounding_cannot_meet(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["gradcheck", "--threshold", "1e-12"])
    err = capsys.readouterr().err
    assert exc.value.code == 2 and "below what central differences in float64 can resolve" in err


def test_gradcheck_a_model_file(tmp_path, rng, capsys):
    model = nz.mlp(12, [6], 3).build(seed=0)
    model.classes_ = np.array([0, 1, 2])
    model.save(tmp_path / "m.safetensors")
    np.savez(tmp_path / "rows.npz", X=rng.random((20, 12)), y=rng.integers(0, 3, 20))
    assert main(["gradcheck", str(tmp_path / "m.safetensors"), "--data", str(tmp_path / "rows.npz"),
                 "--entries", "5", "--samples", "4"]) == 0
    out = capsys.readouterr().out
    assert "12-6-3: Dense(12→6) → ReLU → Dense(6→3) → Softmax" in out
    assert "on 4 rows of" in out and "5 random entries per tensor" in out
    assert "5/72" in out and "3/3" in out and "all 4 tensors pass" in out


@pytest.mark.parametrize("argv, message", [
    (["--layers", "relu,foo"], "unknown layer kind(s) ['foo']"),
    (["--threshold", "-1"], "expected a number > 0"),
    (["--loss", "hinge"], "invalid choice"),
])
def test_gradcheck_usage_errors_exit_2(argv, message, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["gradcheck", *argv])
    assert exc.value.code == 2 and message in capsys.readouterr().err


def test_gradcheck_without_hidden_layers_is_a_config_error(capsys):
    assert main(["gradcheck", "--hidden", "none"]) == 2
    assert "needs at least one hidden layer" in capsys.readouterr().err


def main(argv):
    """The ``nnzero`` command line, imported when a test uses it."""
    from nnzero.cli import main as cli_main

    return cli_main(argv)
