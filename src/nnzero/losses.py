"""Losses: ``loss_and_grad(output, target, weight=None) -> (L, dL/d output)``.

Both losses average over the n rows of the batch, and the 1/n is applied exactly once, here.
An optional per-row ``weight`` (n,) gives L = Σ_i w_i·ℓ_i / n (scikit-learn's ``sample_weight``).
"""

import numpy as np

from .errors import ConfigError


class SoftmaxCrossEntropy:
    """Softmax and categorical cross-entropy fused into one op on the logits.

    z (n, C) logits, y (n,) integer class indices in [0, C).
    ℓ_i = −log p_{i,y_i} = logsumexp(z_i) − z_{i,y_i}   (log-sum-exp with the max shifted out)
    dL/dz = (softmax(z) − onehot(y)) / n

    Fusing avoids log(0) when a probability underflows, and the combined gradient is exact and
    cheap. The onehot is never built: we subtract 1 at index y_i of each row.
    """

    name = "cross_entropy"

    def loss(self, z, y, weight=None):
        """L = mean_i (logsumexp(z_i) − z_{i,y_i}); returns a Python float."""
        return self.loss_and_grad(z, y, weight, grad=False)[0]

    def loss_and_grad(self, z, y, weight=None, grad=True, out=None):
        n = z.shape[0]
        rows = np.arange(n)
        m = z.max(axis=1, keepdims=True)
        e = np.subtract(z, m, out=out)                       # shifted logits, (n, C)
        np.exp(e, out=e)
        s = e.sum(axis=1, keepdims=True)
        # ℓ_i = log Σ_j e^(z_ij − m_i) + m_i − z_{i,y_i}
        losses = np.log(s[:, 0]) + m[:, 0] - z[rows, y]
        if weight is not None:
            losses = losses * weight
        loss = float(losses.sum()) / n
        if not grad:
            return loss, None
        e /= s                                               # softmax p, (n, C)
        e[rows, y] -= 1                                      # p − onehot(y)
        if weight is not None:
            e *= weight[:, None]
        e *= e.dtype.type(1 / n)
        return loss, e


class MeanSquaredError:
    """L = (1/(n·k)) Σ_ij (ŷ_ij − y_ij)²;  dL/dŷ = 2(ŷ − y)/(n·k).  ŷ, y (n, k).

    Averaged over every element, like ``torch.nn.MSELoss()``.
    """

    name = "mse"

    def loss(self, yhat, y, weight=None):
        return self.loss_and_grad(yhat, y, weight, grad=False)[0]

    def loss_and_grad(self, yhat, y, weight=None, grad=True, out=None):
        n, k = yhat.shape
        d = np.subtract(yhat, y, out=out)
        sq = np.einsum("ij,ij->i", d, d)                     # Σ_j d_ij², (n,)
        if weight is not None:
            sq = sq * weight
        loss = float(sq.sum()) / (n * k)
        if not grad:
            return loss, None
        if weight is not None:
            d *= weight[:, None]
        d *= d.dtype.type(2 / (n * k))
        return loss, d


LOSSES = {"cross_entropy": SoftmaxCrossEntropy, "mse": MeanSquaredError}


def get(loss):
    """A loss object from a name ('cross_entropy', 'mse') or an instance."""
    if hasattr(loss, "loss_and_grad"):
        return loss
    try:
        return LOSSES[loss]()
    except (KeyError, TypeError):
        raise ConfigError(f"unknown loss {loss!r}; expected one of {sorted(LOSSES)}") from None
