"""Gradient check: backprop against central differences, in float64.

    errors = nz.check_gradients(model, X, y)        # {"0.W": 3e-10, "0.b": 1e-10, ...}
"""

import copy

import numpy as np

from .errors import positive_int

def _float64_copy(model):
    """An independent float64 twin of ``model``: the same layer objects (deep-copied, so a
    subclass with its own backward is checked as it is), parameters cast to float64."""
    model.require_built()
    layers = copy.deepcopy(model.layers)
    for layer in layers:
        layer.params = {k: v.astype(np.float64) for k, v in layer.params.items()}
        layer.grads = {k: np.zeros_like(v) for k, v in layer.params.items()}
    net = type(model)(layers, loss=model.loss, dtype="float64")
    net.built = True
    net.classes_ = model.classes_
    return net


MAX_ENTRIES = 32   # entries checked per tensor by default: a few hundred forward passes, well under a second


def compare_gradients(model, X, y, eps=1e-6, max_entries=MAX_ENTRIES, seed=0):
    """Backprop's gradient next to the central difference, entry by entry, in float64.

    For each parameter tensor θ and each checked entry i:
    numeric_i = (L(θ + ε·e_i) − L(θ − ε·e_i)) / 2ε. ``max_entries`` entries per tensor are
    drawn at random (``seed``); ``None`` checks every entry (one pair of forward passes each:
    minutes for an MNIST-sized network). Returns ``{"<layer>.<name>": {"index": flat indices (k,),
    "analytic": (k,), "numeric": (k,), "error": ‖a − n‖ / max(‖a‖ + ‖n‖, 1e-12)}}``.
    Dropout runs with a fixed mask so the loss is a deterministic function of θ; keep ReLU
    inputs away from their kink at 0. The model itself is not modified (a float64 copy is).
    """
    positive_int("max_entries", max_entries, allow_none=True)          # None: every entry
    net = _float64_copy(model)
    X = net.check_X(X)
    if net.is_classifier and net.classes_ is None:
        net.set_classes(y)
    target = net.targets(y, len(X))

    def loss_at(fill_grads):
        # Re-seeding each call gives Dropout the same mask every evaluation.
        for layer in net.layers:
            if hasattr(layer, "rng"):
                layer.rng = np.random.default_rng(seed)
        out = net.forward(X, training=True)
        loss, g = net.loss.loss_and_grad(out, target, grad=fill_grads)
        if fill_grads:
            net.backward(g)
        return loss

    loss_at(True)
    analytic = {k: g.copy() for k, g in net.grads.items()}
    rng = np.random.default_rng(seed)
    result = {}
    for key, p in net.params.items():
        flat = p.reshape(-1)
        idx = np.arange(flat.size)
        if max_entries is not None and flat.size > max_entries:
            idx = np.sort(rng.choice(flat.size, max_entries, replace=False))
        numeric = np.empty(len(idx))
        for j, i in enumerate(idx):
            old = flat[i]
            flat[i] = old + eps
            up = loss_at(False)
            flat[i] = old - eps
            down = loss_at(False)
            flat[i] = old
            numeric[j] = (up - down) / (2 * eps)
        a = analytic[key].reshape(-1)[idx]
        denom = max(np.linalg.norm(a) + np.linalg.norm(numeric), 1e-12)
        result[key] = {"index": idx, "analytic": a, "numeric": numeric,
                       "error": float(np.linalg.norm(a - numeric) / denom)}
    return result


def check_gradients(model, X, y, eps=1e-6, max_entries=MAX_ENTRIES, seed=0):
    """Compare backprop's gradients with central differences, in float64; returns
    ``{"<layer>.<name>": rel_error}``, rel_error = ‖analytic − numeric‖ / (‖analytic‖ + ‖numeric‖)
    over the checked entries. About 1e-7 or less means backprop is right.

    By default ``max_entries=32`` random entries of each tensor are checked (well under a
    second); ``max_entries=None`` checks every entry. See :func:`compare_gradients`, which
    also returns the analytic and numerical values themselves.
    """
    return {k: v["error"] for k, v in compare_gradients(model, X, y, eps, max_entries, seed).items()}
