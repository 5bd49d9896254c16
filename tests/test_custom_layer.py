"""A layer defined outside nnzero — a per-feature learnable scale and shift — works everywhere a
built-in layer does: training, the gradient check, summary(), diagnostics, model files and
checkpoints. Nothing in nnzero knows about it: it only follows the layer protocol (nnzero.layers.Layer)."""

import numpy as np
import pytest

import nnzero as nz
from nnzero.diagnostics import Diagnostics
from nnzero.layers import LAYERS, Layer, register


class ScaleShift(Layer):
    """y = x ⊙ γ + β per feature;  x (n, d), γ (d,), β (d,) → y (n, d).

    Backward, with G = dL/dy:  dγ = Σ_rows G ⊙ x,  dβ = Σ_rows G,  dx = G ⊙ γ.
    """

    def parameter_shapes(self, n_in):
        return {"gamma": (n_in,), "beta": (n_in,)}

    def init_parameters(self, shapes, rng, dtype):
        return {"gamma": np.ones(shapes["gamma"], dtype), "beta": np.zeros(shapes["beta"], dtype)}

    def forward(self, x, training=False):
        if training:
            self.x = x
        return x * self.params["gamma"] + self.params["beta"]

    def backward(self, grad_out):
        self.grads["gamma"][...] = (grad_out * self.x).sum(axis=0)
        self.grads["beta"][...] = grad_out.sum(axis=0)
        return grad_out * self.params["gamma"]


def _data():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((300, 6)).astype(np.float32)
    return X, (X[:, 0] - X[:, 1] > 0).astype(int) + (X[:, 2] > 0.5)


def _net():
    return nz.Sequential([nz.Dense(6, 8), nz.Tanh(), ScaleShift(), nz.Dense(8, 3), nz.Softmax()])


def test_a_user_layer_trains_and_counts():
    X, y = _data()
    model = _net()
    assert model.count_params() == 6 * 8 + 8 + 2 * 8 + 8 * 3 + 3
    history = model.fit(X, y, epochs=8, batch_size=32, optimizer=nz.Adam(1e-2), seed=1)
    assert history["loss"][-1] < 0.6 * history["loss"][0]
    gamma = model.layers[2].params["gamma"]
    assert not np.allclose(gamma, 1.0)                      # its parameters did learn
    assert model.evaluate(X, y)["accuracy"] > 0.8


def test_a_user_layer_passes_the_gradient_check():
    X, y = _data()
    model = _net().build(seed=3)
    model.layers[2].params["beta"][...] = 0.1 * np.arange(8)   # away from the all-zero start
    errors = nz.check_gradients(model, X[:10].astype(np.float64), y[:10], max_entries=None)
    assert set(errors) == {"0.W", "0.b", "2.gamma", "2.beta", "3.W", "3.b"}
    assert max(errors.values()) < 1e-7, errors


def test_a_user_layer_shows_in_the_summary():
    text = _net().summary_text()
    row = next(line for line in text.splitlines() if "ScaleShift" in line)
    assert row.split()[-1] == "16" and "(n, 8)" in row


def test_a_user_layer_saves_and_loads(tmp_path):
    X, y = _data()
    model = _net()
    model.fit(X, y, epochs=2, batch_size=64, seed=2)
    model.save(tmp_path / "m.safetensors")
    with pytest.raises(nz.ModelFileError, match="ScaleShift"):
        nz.load(tmp_path / "m.safetensors")                 # unknown until it is named
    back = nz.load(tmp_path / "m.safetensors", custom_layers=[ScaleShift])
    np.testing.assert_array_equal(back.predict_proba(X), model.predict_proba(X))
    try:
        register(ScaleShift)
        np.testing.assert_array_equal(nz.load(tmp_path / "m.safetensors").predict(X), model.predict(X))
    finally:
        LAYERS.pop("ScaleShift", None)


def test_a_user_layer_resumes_exactly_from_a_checkpoint(tmp_path):
    X, y = _data()
    full = _net()
    full.fit(X, y, epochs=3, batch_size=50, seed=4)
    saver = nz.LambdaCallback(on_epoch_end=lambda e, logs: e == 0 and nz.save_checkpoint(tmp_path / "c.ckpt", full2))
    full2 = _net()
    full2.fit(X, y, epochs=3, batch_size=50, seed=4, callbacks=[saver])
    model, opt, state = nz.load_checkpoint(tmp_path / "c.ckpt", custom_layers={"ScaleShift": ScaleShift})
    model.fit(X, y, epochs=state.epochs, batch_size=state.batch_size, optimizer=opt, resume=state)
    for k, v in full.get_weights().items():
        assert model.get_weights()[k].tobytes() == v.tobytes(), k


def test_a_user_layer_is_a_block_of_the_diagnostics():
    # One full-batch SGD step with every batch sampled: the ScaleShift block's numbers are
    # worked out here from the formulas, with the parameters the step started from.
    X, y = _data()
    X = X.astype(np.float64)
    model = nz.Sequential([nz.Dense(6, 8), nz.Tanh(), ScaleShift(), nz.Dense(8, 3), nz.Softmax()],
                          dtype="float64").build(seed=3)
    model.layers[2].params["gamma"][...] = 1 + 0.1 * np.arange(8)
    model.layers[2].params["beta"][...] = 0.05 * np.arange(8)
    p0 = {k: v.copy() for k, v in model.params.items()}
    t = np.tanh(X @ p0["0.W"] + p0["0.b"])
    s = t * p0["2.gamma"] + p0["2.beta"]                                     # the block's output
    logits = s @ p0["3.W"] + p0["3.b"]
    prob = np.exp(logits - logits.max(axis=1, keepdims=True))
    prob /= prob.sum(axis=1, keepdims=True)
    G = ((prob - np.eye(3)[y]) / len(X)) @ p0["3.W"].T                       # dL/ds
    grad = np.concatenate([(G * t).sum(axis=0), G.sum(axis=0)])             # (dγ, dβ)
    lr = 0.1
    model.fit(X, y, epochs=1, batch_size=None, optimizer=nz.SGD(lr), shuffle=False, seed=0,
              callbacks=[Diagnostics(every=1, warn=False)])

    blocks = model.history.diagnostics[0]["layers"]
    assert [(b["index"], b["units"], b["activation"]) for b in blocks] == \
        [(0, 8, "Tanh"), (2, 8, "linear"), (3, 3, "logits")]
    scale = blocks[1]
    assert scale["act_mean"] == pytest.approx(s.mean(), rel=1e-12)
    assert scale["act_std"] == pytest.approx(s.std(), rel=1e-9)
    # No matrix among its parameters: its "weights" are γ and β together.
    assert scale["grad_norm"] == pytest.approx(np.linalg.norm(grad), rel=1e-9)
    before = np.concatenate([p0["2.gamma"], p0["2.beta"]])
    assert scale["update_ratio"] == pytest.approx(lr * np.linalg.norm(grad) / np.linalg.norm(before), rel=1e-9)
    after = np.concatenate([model.params["2.gamma"], model.params["2.beta"]])
    assert scale["weight_norm"] == pytest.approx(np.linalg.norm(after), rel=1e-12)
    assert blocks[2]["act_mean"] == pytest.approx(logits.mean(), rel=1e-9)   # the logits, pre-step
