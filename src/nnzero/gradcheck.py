"""Gradient check: backprop against central differences, in float64.

    errors = nz.check_gradients(model, X, y)        # {"0.W": 3e-10, "0.b": 1e-10, ...}
"""

import copy

import numpy as np


def _float64_copy(model):
    """An independent float64 twin of ``model``: the same layer objects (deep-copied, so a
    subclass with its own backward is checked as it is), parameters cast to float64."""
    model.require_built()
    layers = copy.deepcopy(model.layers)
    for layer in layers:
        layer.params = {k: v.astype(np.float64) for k, v in layer.params.items()}
        layer.grads = {k: np.zeros_like(v) for k, v in layer.params.items()}
        layer._buffers = {}
    net = type(model)(layers, loss=model.loss, dtype="float64")
    net.built = True
    net.classes_ = model.classes_
    return net


def check_gradients(model, X, y, eps=1e-6, max_entries=None, seed=0):
    """Compare backprop's gradients with central differences, in float64.

    For each parameter entry θ:  numeric = (L(θ+ε) − L(θ−ε)) / 2ε, and per tensor
    rel_error = ‖analytic − numeric‖ / max(‖analytic‖ + ‖numeric‖, 1e-12).
    Returns ``{"<layer>.<name>": rel_error}``; about 1e-7 or less means backprop is right.
    ``max_entries`` checks a random subset of each tensor's entries (all by default).
    Dropout is run with a fixed mask so the loss is a deterministic function of θ. Keep the
    inputs of ReLU-like layers away from 0 (their kink), where no derivative exists.
    The model itself is not modified: the check runs on a float64 copy.
    """
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
    errors = {}
    for key, p in net.params.items():
        flat = p.reshape(-1)
        idx = np.arange(flat.size)
        if max_entries is not None and flat.size > max_entries:
            idx = rng.choice(flat.size, max_entries, replace=False)
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
        errors[key] = float(np.linalg.norm(a - numeric) / denom)
    return errors
