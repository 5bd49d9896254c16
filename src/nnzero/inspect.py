"""Look inside a network: gradient checks (and, soon, per-layer statistics)."""

import numpy as np

from .model import Sequential


def _float64_copy(model):
    clone = Sequential.from_config({**model.config(), "dtype": "float64"})
    clone.build(seed=0)
    clone.set_weights({k: v.astype(np.float64) for k, v in model.params.items()})
    clone.classes_ = model.classes_
    return clone


def check_gradients(model, X, y, eps=1e-6, max_entries=None, seed=0):
    """Compare backprop's gradients with central differences, in float64.

    For each parameter entry θ:  numeric = (L(θ+ε) − L(θ−ε)) / 2ε, and per tensor
    rel_error = ‖analytic − numeric‖ / max(‖analytic‖ + ‖numeric‖, 1e-12).
    Returns ``{"<layer>.<name>": rel_error}``; about 1e-7 or less means backprop is right.
    ``max_entries`` checks a random subset of each tensor's entries (all by default).
    Dropout is run with a fixed mask so the loss is a deterministic function of θ.
    """
    net = _float64_copy(model)
    X = net.check_X(X)
    if net.is_classifier:
        if net.classes_ is None:
            net.set_classes(y)
        target = net.encode_labels(y, len(X))
    else:
        from .model import _regression_target

        target = _regression_target(net, y, len(X))

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
        errors[key] = float(np.linalg.norm(a - numeric) / max(np.linalg.norm(a) + np.linalg.norm(numeric), 1e-12))
    return errors
