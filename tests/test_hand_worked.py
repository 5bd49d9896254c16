"""One tiny network worked by hand: 2 inputs → Dense → ReLU → Dense → Softmax (2 classes),
one sample, cross-entropy, one SGD step. Every number below is derived in the comments.

    x  = [1, 2],  y = class 0
    W1 = [[1, −1], [0.5, 1]]   b1 = [0, −2]          (W is (n_in, n_out): rows are inputs)
    W2 = [[1, 0.5], [1, −1]]   b2 = [0, 1 + ln 3]

The ln 3 is chosen so the softmax comes out as exact quarters.
"""

import math

import numpy as np
import pytest

import nnzero as nz

LN3 = math.log(3)
W1, B1 = np.array([[1.0, -1.0], [0.5, 1.0]]), np.array([0.0, -2.0])
W2, B2 = np.array([[1.0, 0.5], [1.0, -1.0]]), np.array([0.0, 1.0 + LN3])
X, Y = np.array([[1.0, 2.0]]), np.array([0])
TIGHT = dict(rtol=1e-15, atol=1e-15)

# Forward.
# z1 = x·W1 + b1 = [1·1 + 2·0.5, 1·(−1) + 2·1] + [0, −2] = [2, −1]
# a1 = relu(z1) = [2, 0]                                   (hidden unit 1 is off)
# z2 = a1·W2 + b2 = [2·1 + 0·1, 2·0.5 + 0·(−1)] + [0, 1 + ln 3] = [2, 2 + ln 3]
# p  = softmax(z2) = [e², 3e²] / 4e² = [1/4, 3/4]
# L  = −ln p_0 = ln 4
Z1, A1, Z2, P = [[2.0, -1.0]], [[2.0, 0.0]], [[2.0, 2.0 + LN3]], [[0.25, 0.75]]
LOSS = math.log(4)

# Backward (n = 1, so the 1/n is 1).
# dz2 = p − onehot(0) = [−3/4, 3/4]
# dW2 = a1ᵀ·dz2 = [[2·(−3/4), 2·(3/4)], [0·…, 0·…]] = [[−1.5, 1.5], [0, 0]];   db2 = [−0.75, 0.75]
# da1 = dz2·W2ᵀ = [−0.75·1 + 0.75·0.5, −0.75·1 + 0.75·(−1)] = [−0.375, −1.5]
# dz1 = da1 ⊙ [z1 > 0] = [−0.375, −1.5] ⊙ [1, 0] = [−0.375, 0]
# dW1 = xᵀ·dz1 = [[1·(−0.375), 0], [2·(−0.375), 0]] = [[−0.375, 0], [−0.75, 0]];   db1 = [−0.375, 0]
GRADS = {
    "0.W": [[-0.375, 0.0], [-0.75, 0.0]], "0.b": [-0.375, 0.0],
    "2.W": [[-1.5, 1.5], [0.0, 0.0]], "2.b": [-0.75, 0.75],
}

# One SGD step, lr = 0.1: θ ← θ − 0.1·dθ.
# W1 = [[1.0375, −1], [0.575, 1]]   b1 = [0.0375, −2]
# W2 = [[1.15, 0.35], [1, −1]]      b2 = [0.075, 0.925 + ln 3]
STEPPED = {
    "0.W": [[1.0375, -1.0], [0.575, 1.0]], "0.b": [0.0375, -2.0],
    "2.W": [[1.15, 0.35], [1.0, -1.0]], "2.b": [0.075, 0.925 + LN3],
}
# After the step: z1 = [1·1.0375 + 2·0.575 + 0.0375, −1] = [2.225, −1], a1 = [2.225, 0],
# z2 = [2.225·1.15 + 0.075, 2.225·0.35 + 0.925 + ln 3] = [2.63375, 1.70375 + ln 3],
# L = ln(e^z₀ + e^z₁) − z₀ = ln(1 + 3·e^(1.70375 − 2.63375)) = ln(1 + 3·e^(−0.93)) ≈ 0.78 < ln 4.
LOSS_AFTER = math.log(1 + 3 * math.exp(-0.93))


def hand_model():
    model = nz.Sequential([nz.Dense(2, 2), nz.ReLU(), nz.Dense(2, 2), nz.Softmax()], dtype="float64")
    model.build(seed=0)
    model.set_weights({"0.W": W1, "0.b": B1, "2.W": W2, "2.b": B2})
    return model


def test_forward_layer_by_layer():
    dense1, relu, dense2, softmax = hand_model().layers
    z1 = dense1.forward(X)
    a1 = relu.forward(z1)
    z2 = dense2.forward(a1)
    np.testing.assert_allclose(z1, Z1, **TIGHT)
    np.testing.assert_allclose(a1, A1, **TIGHT)
    np.testing.assert_allclose(z2, Z2, **TIGHT)
    np.testing.assert_allclose(softmax.forward(z2), P, **TIGHT)


def test_loss_and_every_gradient():
    model = hand_model()
    logits = model.forward(X, training=True)          # the Softmax is fused into the loss
    np.testing.assert_allclose(logits, Z2, **TIGHT)
    loss, dz2 = model.loss.loss_and_grad(logits, Y)
    assert loss == pytest.approx(LOSS, rel=1e-15)
    np.testing.assert_allclose(dz2, [[-0.75, 0.75]], **TIGHT)
    model.backward(dz2)
    assert set(model.grads) == set(GRADS)
    for key, expected in GRADS.items():
        np.testing.assert_allclose(model.grads[key], expected, **TIGHT, err_msg=key)


def test_inference_api_on_the_hand_network():
    model = hand_model()
    model.classes_ = np.array([0, 1])
    np.testing.assert_allclose(model.predict_proba(X), P, **TIGHT)
    assert model.predict(X).tolist() == [1]
    assert model.evaluate(X, Y) == pytest.approx({"loss": LOSS, "accuracy": 0.0}, rel=1e-15)


def test_one_sgd_step_by_hand():
    model = hand_model()
    model.backward(model.loss.loss_and_grad(model.forward(X, training=True), Y)[1])
    nz.SGD(lr=0.1).step(model.params, model.grads)
    for key, expected in STEPPED.items():
        np.testing.assert_allclose(model.params[key], expected, **TIGHT, err_msg=key)
    assert model.evaluate(X, Y)["loss"] == pytest.approx(LOSS_AFTER, rel=1e-14)


def test_fit_takes_the_same_step():
    model = hand_model()
    history = model.fit(X, Y, epochs=1, batch_size=None, optimizer=nz.SGD(lr=0.1), seed=0)
    assert history["loss"] == [pytest.approx(LOSS, rel=1e-15)]   # the loss before the step
    assert history["accuracy"] == [0.0]                            # p = [1/4, 3/4] picks class 1
    assert history["lr"] == [0.1]
    for key, expected in STEPPED.items():
        np.testing.assert_allclose(model.params[key], expected, **TIGHT, err_msg=key)
