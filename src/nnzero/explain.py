"""One sample through the network, step by step, with the real numbers.

    result = nz.explain.explain(model, x)      # x: one preprocessed sample (d,)
    print(nz.explain.format_explanation(result))

For each layer it records what the layer computed (Dense: z = x·W + b; an activation:
a = f(z)), and for the softmax output the four steps of ``layers.softmax``: the logits z,
m = max z, z − m, e^(z − m), their sum s, and p = e^(z − m) / s.
"""

import numpy as np

from . import layers as L
from .errors import ConfigError, ShapeError
from .model import Sequential

RULES = {
    "Dense": "z = x·W + b",
    "ReLU": "a = max(z, 0)",
    "LeakyReLU": "a = z if z > 0 else {alpha}·z",
    "Tanh": "a = tanh(z)",
    "Sigmoid": "a = 1 / (1 + e^(−z))",
    "Dropout": "a = x (dropout is off at inference)",
}


def explain(model, x):
    """Run one sample through ``model`` layer by layer (inference mode) and record every step.

    x: one sample of shape (d,) or (1, d), already preprocessed like the training data.
    Returns a dict: ``input`` (d,); ``layers``, a list of {index, name, rule, input, output}
    (1-D arrays; for a Dense also ``W_shape`` and one unit worked out in ``example``);
    ``softmax`` {logits, max, shifted, exp, sum, probabilities} or None for a regression;
    ``predicted_index``, ``predicted_class``, ``probability`` (classifiers), ``output``.
    The probabilities equal ``model.predict_proba(x[None])[0]``.
    """
    model.require_built()
    x = np.asarray(x)
    if x.ndim == 2 and x.shape[0] == 1:
        x = x[0]
    if x.ndim != 1:
        raise ShapeError(f"explain takes one sample of shape ({model.n_features},), got shape {x.shape}")
    a = model.check_X(x[None, :])                       # (1, d), the model's dtype
    result = {"input": a[0], "layers": []}
    # A classifier's final Softmax is shown as its four steps below, not as one layer.
    for i, layer in enumerate(model.body):
        out = layer.forward(a)                          # training=False: nothing is cached
        name = type(layer).__name__
        step = {"index": i, "name": repr(layer), "kind": name,
                "rule": RULES.get(name, "").format(**layer.config()), "input": a[0], "output": out[0]}
        if isinstance(layer, L.Dense):
            step["W_shape"] = layer.params["W"].shape
        result["layers"].append(step)
        a = out
    result["output"] = a[0]
    result["softmax"] = None
    target = int(np.argmax(a[0])) if model.is_classifier else int(np.argmax(np.abs(a[0])))
    _follow(model, result["layers"], target, model.is_classifier)
    if model.is_classifier:
        # The same operations, in the same order, as layers.softmax, so the numbers agree exactly.
        z = a[0]
        m = z.max()
        shifted = z - m
        e = np.exp(shifted)
        s = e.sum()
        p = e / s
        result["softmax"] = {"logits": z, "max": m, "shifted": shifted, "exp": e, "sum": s, "probabilities": p}
        k = int(np.argmax(p))
        result["predicted_index"] = k
        result["predicted_class"] = model.classes_[k].item() if model.classes_ is not None else k
        result["probability"] = float(p[k])
    return result


def _follow(model, steps, unit, classifier):
    """Choose the unit worked out in each Dense step, following the prediction backwards: the
    output layer's predicted class (largest |z| for a regression), then in each layer below
    the active unit whose term a_j·W[j, k] adds most to the unit k followed above it."""
    dense = [s for s in steps if s["kind"] == "Dense"]
    why = "the predicted class" if classifier else "the largest |z|"
    for pos in range(len(dense) - 1, -1, -1):
        step = dense[pos]
        layer = model.layers[step["index"]]
        step["example"] = _worked_unit(step["input"], layer, unit)
        step["example"]["why"] = why
        for s in steps:                      # the activations right after it follow the same unit
            if step["index"] < s["index"] and (pos + 1 == len(dense) or s["index"] < dense[pos + 1]["index"]):
                s["unit"] = unit
        if pos == 0:
            break
        terms = step["input"] * layer.params["W"][:, unit]         # a_j · W[j, k], (d_in,)
        active = step["input"] != 0
        pool = np.where(active, terms, -np.inf) if active.any() else terms
        above, unit = unit, int(np.argmax(pool))
        why = f"the active unit adding most to unit {above} of layer {pos + 1}"


def _worked_unit(x, dense, j, terms=3):
    """z_j = Σ_i x_i·W_ij + b_j for one unit j, with its largest terms x_i·W_ij."""
    W, b = dense.params["W"], dense.params["b"]
    products = x * W[:, j]                                # (d_in,)
    top = np.argsort(-np.abs(products), kind="stable")[:terms]
    return {"unit": j, "dot": float(products.sum(dtype=np.float64)), "bias": float(b[j]),
            "z": float(x @ W[:, j] + b[j]),
            "top_terms": [(int(i), float(x[i]), float(W[i, j]), float(products[i])) for i in top],
            "nonzero_inputs": int(np.count_nonzero(x))}


# ---------------------------------------------------------------------------------------------
# Text
# ---------------------------------------------------------------------------------------------

def _num(v, spec=".4g"):
    """A number in an equation: a true minus sign, and parentheses when negative,
    so a product reads 0.93·(−0.2) and a sum + (−0.01506)."""
    text = format(float(v), spec)
    return f"(−{text[1:]})" if text.startswith("-") else text


def _plain(v, spec=".4g"):
    return format(float(v), spec).replace("-", "−")


def _vec(v, max_values, fmt="{:.4g}"):
    v = np.asarray(v).ravel()
    shown = ", ".join(fmt.format(float(t)) for t in v[:max_values])
    more = f", … ({len(v) - max_values} more)" if len(v) > max_values else ""
    return f"[{shown}{more}]"


def _stats(v):
    return (f"shape ({len(v)},)  min {float(v.min()):.4g}  max {float(v.max()):.4g}  "
            f"mean {float(v.mean()):.4g}")


def _digit_art(x, side):
    """The input as side×side characters, dark to bright: ' .:-=+*#%@'."""
    ramp = " .:-=+*#%@"
    lo, hi = float(x.min()), float(x.max())
    level = np.zeros(x.shape, dtype=int) if hi == lo else ((x - lo) / (hi - lo) * (len(ramp) - 1)).round().astype(int)
    return "\n".join("    " + "".join(ramp[v] * 2 for v in row) for row in level.reshape(side, side))


def format_explanation(result, max_values=10):
    """``explain``'s result as readable text: each step's equation, then its numbers
    (the first ``max_values`` of each vector)."""
    lines = []
    x = result["input"]
    lines.append(f"input x: {_stats(x)}, {np.count_nonzero(x)} non-zero")
    side = int(round(np.sqrt(len(x))))
    if side * side == len(x) and 8 <= side <= 64:
        lines.append(_digit_art(x, side))
    else:
        lines.append(f"  x = {_vec(x, max_values)}")
    dense_count = 0
    for step in result["layers"]:
        out = step["output"]
        lines.append("")
        if step["kind"] == "Dense":
            dense_count += 1
            n_in, n_out = step["W_shape"]
            lines.append(f"[{step['index']}] {step['name']}, layer {dense_count}: {step['rule']}")
            lines.append(f"  x ({n_in},) · W ({n_in}, {n_out}) + b ({n_out},) → z ({n_out},)")
            ex = step["example"]
            lines.append(f"  z = {_vec(out, max_values)}")
            lines.append(f"  {_stats(out)}")
            j = ex["unit"]
            terms = " + ".join(f"{_num(xi, '.3g')}·{_num(w, '.3g')}" for _, xi, w, _ in ex["top_terms"])
            lines.append(f"  unit {j}, {ex['why']}: z[{j}] = Σ_i x[i]·W[i,{j}] + b[{j}]")
            lines.append(f"    = ({terms} + … over {ex['nonzero_inputs']} non-zero inputs) + {_num(ex['bias'])}")
            lines.append(f"    = {_plain(ex['dot'])} + {_num(ex['bias'])} = {_plain(ex['z'])}")
        else:
            rule = step["rule"] or step["kind"]
            lines.append(f"[{step['index']}] {step['name']}: {rule}")
            lines.append(f"  a = {_vec(out, max_values)}")
            if step["kind"] in ("ReLU", "LeakyReLU"):
                active = int(np.count_nonzero(step["input"] > 0))
                lines.append(f"  {active} of {len(out)} units active (z > 0), {len(out) - active} set to "
                             f"{'0' if step['kind'] == 'ReLU' else 'α·z'}")
            else:
                lines.append(f"  {_stats(out)}")
            j = step.get("unit")
            if j is not None and step["kind"] != "Dropout":
                lines.append(f"  unit {j}: z[{j}] = {_plain(step['input'][j])} → a[{j}] = {_plain(out[j])}")
    sm = result["softmax"]
    if sm is None:
        lines += ["", f"output (regression): {_vec(result['output'], max_values)}"]
        return "\n".join(lines)
    z = sm["logits"]
    lines += ["", "softmax, p_k = e^(z_k − max z) / Σ_j e^(z_j − max z):",
              f"  logits z        = {_vec(z, max_values)}",
              f"  m = max z       = {float(sm['max']):.4g}  (unit {int(np.argmax(z))})",
              f"  z − m           = {_vec(sm['shifted'], max_values)}",
              "                    (all ≤ 0, so e^(z − m) ≤ 1 cannot overflow)",
              f"  e^(z − m)       = {_vec(sm['exp'], max_values)}",
              f"  s = Σ e^(z − m) = {float(sm['sum']):.6g}",
              f"  p = e^(z − m)/s = {_vec(sm['probabilities'], max_values)}   (sums to 1)",
              "", f"predicted class: {result['predicted_class']}  (p = {result['probability']:.4f})"]
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# Backward: the gradient of one sample's loss, layer by layer
# ---------------------------------------------------------------------------------------------

def explain_backward(model, x, label=None):
    """Backpropagate one sample's cross-entropy loss and record every layer's gradient.

    ``label``: the true class (one of ``classes_``); None uses the predicted class. The numbers
    are computed by the library's own ``backward`` on a copy of the model (Dropout, off at
    inference, is left out), so they are exactly what training computes for this sample.
    Returns {"target_index", "loss", "delta" (dL/dz = ŷ − y at the output), "layers": a list,
    from the output down, of {index, kind, name, grad_out (dL/d its output), grad_in (dL/d its
    input, None for the first Dense), and for a Dense grad_W (d_in, d_out) and grad_b}}.
    """
    import copy

    model.require_built()
    if not model.is_classifier:
        raise ConfigError("the backward walk-through needs a classifier (softmax and cross-entropy)")
    x = np.asarray(x)
    if x.ndim == 2 and x.shape[0] == 1:
        x = x[0]
    a = model.check_X(x[None, :])
    keep = [i for i, layer in enumerate(model.layers) if not isinstance(layer, L.Dropout)]
    net = Sequential([copy.deepcopy(model.layers[i]) for i in keep], loss=model.loss, dtype=model.dtype)
    net.built, net.classes_ = True, model.classes_
    logits = net.forward(a, training=True)
    if label is None:
        target = int(np.argmax(logits[0]))
    else:
        target = int(net.encode_labels(np.asarray([label]), 1, "label")[0])
    loss, g = net.loss.loss_and_grad(logits, np.array([target]))
    result = {"target_index": target, "loss": float(loss), "delta": g[0].copy(), "layers": []}
    stack = net.layers[:-1] if net.fused_softmax else net.layers
    for pos in range(len(stack) - 1, -1, -1):
        layer = stack[pos]
        step = {"index": keep[pos], "kind": type(layer).__name__, "name": repr(layer), "grad_out": g[0].copy()}
        g = layer.backward(g)
        step["grad_in"] = None if g is None else g[0].copy()
        if isinstance(layer, L.Dense):
            step["grad_W"], step["grad_b"] = layer.grads["W"].copy(), layer.grads["b"].copy()
            step["input"] = layer._x[0].copy()
            step["W"] = layer.params["W"]
        else:
            step["input"] = None
        result["layers"].append(step)
        if g is None:
            break
    return result


DERIVATIVES = {"ReLU": "1 if z > 0 else 0", "LeakyReLU": "1 if z > 0 else α", "Tanh": "1 − a²",
               "Sigmoid": "a·(1 − a)"}


def format_backward(forward, back, max_values=10, classes=None):
    """``explain_backward``'s result as text, following the units ``explain`` worked out."""
    k = back["target_index"]
    name = classes[k] if classes is not None else k
    p = forward["softmax"]["probabilities"]
    lines = ["", "backward: this sample's gradient, layer by layer, as a training step computes it",
             f"  loss L = −log ŷ[{k}] = −log {_plain(p[k])} = {_plain(back['loss'])}   (true class {name})",
             f"  dL/dz = ŷ − y  (y: 1 at class {name}, 0 elsewhere)",
             f"        = {_vec(back['delta'], max_values)}"]
    followed = {s["index"]: s.get("example", {}).get("unit", s.get("unit")) for s in forward["layers"]}
    for n, step in enumerate(back["layers"]):
        j = followed.get(step["index"])
        if step["kind"] == "Dense":
            below = back["layers"][n + 1]["index"] if n + 1 < len(back["layers"]) else None
            lines += _format_dense_backward(step, j, followed.get(below), max_values)
        else:
            rule = DERIVATIVES.get(step["kind"], "f'(z)")
            lines += ["", f"[{step['index']}] {step['name']}: dL/dz = dL/da ⊙ f'(z),  f'(z) = {rule}",
                      f"  dL/dz = {_vec(step['grad_in'], max_values)}"]
            if j is not None:
                slope = step["grad_in"][j] / step["grad_out"][j] if step["grad_out"][j] != 0 else 0.0
                lines.append(f"  unit {j}: dL/dz[{j}] = {_plain(step['grad_out'][j])} · {_num(slope)} = "
                             f"{_plain(step['grad_in'][j])}")
    return "\n".join(lines)


def _format_dense_backward(step, j, i, max_values):
    """A Dense layer's gradients, worked out for unit j and (dL/dx) for the unit i below."""
    gW, x, delta = step["grad_W"], step["input"], step["grad_out"]
    n_in, n_out = gW.shape
    lines = ["", f"[{step['index']}] {step['name']}:",
             f"  dL/dW = xᵀ·dL/dz ({n_in}, {n_out}),  dL/db = dL/dz,  dL/dx = dL/dz·Wᵀ"]
    if j is not None:
        top = np.argsort(-np.abs(x), kind="stable")[:2]
        for r in top:
            lines.append(f"  dL/dW[{r},{j}] = x[{r}]·dL/dz[{j}] = {_num(x[r])}·{_num(delta[j])} = {_plain(gW[r, j])}")
        lines.append(f"  dL/db[{j}] = dL/dz[{j}] = {_plain(step['grad_b'][j])}")
    lines.append(f"  ‖dL/dW‖ = {_plain(np.linalg.norm(gW))},  dL/db = {_vec(step['grad_b'], max_values)}")
    if step["grad_in"] is not None:
        lines.append(f"  dL/dx = {_vec(step['grad_in'], max_values)}")
        W = step["W"]
        if i is None:
            return lines
        terms = np.argsort(-np.abs(W[i] * delta), kind="stable")[:3]
        sums = " + ".join(f"{_num(W[i, t], '.3g')}·{_num(delta[t], '.3g')}" for t in terms)
        lines.append(f"  e.g. dL/dx[{i}] = Σ_k W[{i},k]·dL/dz[k] = {sums} + … = {_plain(step['grad_in'][i])}")
    return lines
