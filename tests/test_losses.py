"""Losses: values against their formulas, gradients by central differences (float64), sample
weights, numerical stability and dtype."""

import numpy as np
import pytest

import nnzero as nz
from nnzero import losses


def naive_cross_entropy(z, y, w=None):
    """L = Σ_i w_i · (−log softmax(z_i)[y_i]) / n, written the textbook way (fine for small z)."""
    p = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    ell = -np.log(p[np.arange(len(y)), y])
    return np.sum(ell if w is None else w * ell) / len(y)


def naive_mse(yhat, y, w=None):
    """L = Σ_i w_i Σ_j (ŷ_ij − y_ij)² / (n·k)."""
    sq = ((yhat - y) ** 2).sum(axis=1)
    return np.sum(sq if w is None else w * sq) / yhat.size


def _weights(rng, n):
    w = rng.uniform(0.2, 3.0, n)
    w[::3] = 0.0                          # zero weights must simply switch rows off
    return w


@pytest.mark.parametrize("weighted", [False, True])
def test_cross_entropy_value_and_gradient(weighted, rng, TOL, numeric_grad, rel_error):
    z, y = rng.normal(size=(7, 4)), rng.integers(0, 4, 7)
    w = _weights(rng, 7) if weighted else None
    loss, grad = losses.SoftmaxCrossEntropy().loss_and_grad(z, y, w)
    assert isinstance(loss, float)
    np.testing.assert_allclose(loss, naive_cross_entropy(z, y, w), rtol=1e-13)
    numeric = numeric_grad(lambda: losses.SoftmaxCrossEntropy().loss(z, y, w), z)
    assert rel_error(grad, numeric) < TOL
    # The closed form: (softmax(z) − onehot(y)) ⊙ w / n, the 1/n applied exactly once.
    p = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    p[np.arange(7), y] -= 1
    expected = p * (1.0 if w is None else w[:, None]) / 7
    np.testing.assert_allclose(grad, expected, rtol=1e-13, atol=1e-16)
    np.testing.assert_allclose(grad.sum(axis=1), 0.0, atol=1e-15)


@pytest.mark.parametrize("weighted", [False, True])
def test_mse_value_and_gradient(weighted, rng, TOL, numeric_grad, rel_error):
    yhat, y = rng.normal(size=(6, 3)), rng.normal(size=(6, 3))
    w = _weights(rng, 6) if weighted else None
    loss, grad = losses.MeanSquaredError().loss_and_grad(yhat, y, w)
    np.testing.assert_allclose(loss, naive_mse(yhat, y, w), rtol=1e-13)
    numeric = numeric_grad(lambda: losses.MeanSquaredError().loss(yhat, y, w), yhat)
    assert rel_error(grad, numeric) < TOL
    expected = 2 * (yhat - y) * (1.0 if w is None else w[:, None]) / 18
    np.testing.assert_allclose(grad, expected, rtol=1e-13)


def test_mse_worked_example():
    # ŷ − y = [[1, −2], [0, 3]]: squares 1 + 4 + 0 + 9 = 14 over n·k = 4 → L = 3.5,
    # dL/dŷ = 2·(ŷ − y)/4 = [[0.5, −1], [0, 1.5]].
    loss, grad = losses.MeanSquaredError().loss_and_grad(np.array([[1.0, 0.0], [2.0, 3.0]]),
                                                          np.array([[0.0, 2.0], [2.0, 0.0]]))
    assert loss == 3.5
    np.testing.assert_array_equal(grad, [[0.5, -1.0], [0.0, 1.5]])


@pytest.mark.parametrize("loss_cls", [losses.SoftmaxCrossEntropy, losses.MeanSquaredError])
def test_zero_weight_rows_are_dropped_rows(loss_cls, rng):
    # L = Σ w_i ℓ_i / n divides by all n rows, so weights n/n_kept on the kept rows (0 elsewhere)
    # give exactly the loss and gradient of the kept rows alone.
    n, keep = 9, np.array([1, 1, 0, 1, 0, 1, 1, 0, 1], dtype=bool)
    out = rng.normal(size=(n, 3))
    target = rng.integers(0, 3, n) if loss_cls is losses.SoftmaxCrossEntropy else rng.normal(size=(n, 3))
    w = np.where(keep, n / keep.sum(), 0.0)
    loss_w, grad_w = loss_cls().loss_and_grad(out, target, w)
    loss_k, grad_k = loss_cls().loss_and_grad(out[keep], target[keep])
    np.testing.assert_allclose(loss_w, loss_k, rtol=1e-14)
    np.testing.assert_allclose(grad_w[keep], grad_k, rtol=1e-13, atol=1e-17)
    np.testing.assert_array_equal(grad_w[~keep], 0.0)


def test_cross_entropy_is_stable_for_huge_logits():
    # Row 0 is confidently right (ℓ = 0), row 1 confidently wrong (ℓ = 2·10⁴): naive exp overflows.
    z = np.array([[1e4, -1e4, 0.0], [1e4, -1e4, 0.0]])
    with np.errstate(over="raise", invalid="raise", divide="raise", under="ignore"):
        loss, grad = losses.SoftmaxCrossEntropy().loss_and_grad(z, np.array([0, 1]))
    assert loss == pytest.approx(1e4)                   # (0 + 2·10⁴) / 2
    np.testing.assert_allclose(grad, [[0, 0, 0], [0.5, -0.5, 0]], atol=1e-300)


def test_cross_entropy_of_uniform_logits_is_log_c():
    loss = losses.SoftmaxCrossEntropy().loss(np.zeros((3, 10)), np.array([0, 4, 9]))
    assert loss == pytest.approx(np.log(10), rel=1e-15)


def test_losses_leave_their_inputs_alone_and_honour_out(rng):
    z, y = rng.normal(size=(5, 3)), rng.integers(0, 3, 5)
    before = z.copy()
    _, grad = losses.SoftmaxCrossEntropy().loss_and_grad(z, y)
    np.testing.assert_array_equal(z, before)
    buf = np.empty_like(z)
    _, grad_in_buf = losses.SoftmaxCrossEntropy().loss_and_grad(z, y, out=buf)
    assert grad_in_buf is buf
    np.testing.assert_array_equal(buf, grad)


@pytest.mark.parametrize("loss_cls", [losses.SoftmaxCrossEntropy, losses.MeanSquaredError])
def test_float32_gradient_stays_float32(loss_cls, rng):
    out = rng.normal(size=(4, 3)).astype(np.float32)
    target = (np.array([0, 2, 1, 0]) if loss_cls is losses.SoftmaxCrossEntropy
              else rng.normal(size=(4, 3)).astype(np.float32))
    w = np.full(4, 0.5, dtype=np.float32)
    loss, grad = loss_cls().loss_and_grad(out, target, w)
    assert isinstance(loss, float) and grad.dtype == np.float32


def test_get_loss_by_name_or_instance():
    assert isinstance(losses.get("cross_entropy"), nz.SoftmaxCrossEntropy)
    assert isinstance(losses.get("mse"), nz.MeanSquaredError)
    mine = nz.MeanSquaredError()
    assert losses.get(mine) is mine
    with pytest.raises(nz.ConfigError, match=r"unknown loss 'hinge'; expected one of \['cross_entropy', 'mse'\]"):
        losses.get("hinge")


def test_cross_entropy_shifts_each_row_by_its_own_max():
    # Rows whose logits sit 1000 apart: shifting by one global max would underflow the lower
    # row's exponentials to 0 and make its loss infinite. Each row's loss is its own
    # logsumexp(z_i) − z_{i,y_i}, which a shift of the whole row leaves unchanged.
    z = np.array([[1000.0, 999.0, 998.0], [0.0, 1.0, 2.0]])
    y = np.array([0, 2])
    row = np.log(np.exp([0.0, -1.0, -2.0]).sum())            # both rows: logsumexp − max = this
    expected = (row + (row + 0.0)) / 2                          # z_{i,y_i} is each row's max
    loss, grad = losses.SoftmaxCrossEntropy().loss_and_grad(z, y)
    assert loss == pytest.approx(expected, rel=1e-12)
    p = np.exp([0.0, -1.0, -2.0]) / np.exp([0.0, -1.0, -2.0]).sum()
    np.testing.assert_allclose(grad, (np.stack([p, p[::-1]]) - np.eye(3)[y]) / 2, rtol=1e-12)


@pytest.mark.parametrize("loss_cls", [losses.SoftmaxCrossEntropy, losses.MeanSquaredError])
def test_the_gradient_is_written_into_the_given_buffer(loss_cls, rng):
    # The training loop passes one preallocated buffer for every batch (no allocation per step).
    out = rng.normal(size=(6, 3))
    target = rng.integers(0, 3, 6) if loss_cls is losses.SoftmaxCrossEntropy else rng.normal(size=(6, 3))
    buf = np.empty((6, 3))
    expected = loss_cls().loss_and_grad(out, target)
    loss, grad = loss_cls().loss_and_grad(out, target, out=buf)
    assert grad is buf
    assert loss == expected[0]
    np.testing.assert_array_equal(grad, expected[1])
