"""One sample through the network, step by step, with the real numbers.

    result = nz.explain.explain(model, x)      # x: one preprocessed sample (d,)
    print(nz.explain.format_explanation(result))

For each layer it records what the layer computed (Dense: z = x·W + b; an activation:
a = f(z)), and for the softmax output the four steps of ``layers.softmax``: the logits z,
m = max z, z − m, e^(z − m), their sum s, and p = e^(z − m) / s.
"""

import numpy as np

from . import layers as L
from .errors import ShapeError

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
            step["example"] = _worked_unit(a[0], layer, int(np.argmax(np.abs(out[0]))))
        result["layers"].append(step)
        a = out
    result["output"] = a[0]
    result["softmax"] = None
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
            lines.append(f"[{step['index']}] {step['name']}, layer {dense_count}: {step['rule']}"
                         f"   x ({n_in},) · W ({n_in}, {n_out}) + b ({n_out},) → z ({n_out},)")
            ex = step["example"]
            lines.append(f"  z = {_vec(out, max_values)}")
            lines.append(f"  {_stats(out)}")
            terms = " + ".join(f"{xi:.3g}·{w:.3g}" for _, xi, w, _ in ex["top_terms"])
            lines.append(f"  e.g. unit {ex['unit']} (largest |z|): z[{ex['unit']}] = Σ_i x[i]·W[i,{ex['unit']}]"
                         f" + b[{ex['unit']}] = ({terms} + … over {ex['nonzero_inputs']} non-zero inputs)"
                         f" + {ex['bias']:.4g} = {ex['dot']:.4g} + {ex['bias']:.4g} = {ex['z']:.4g}")
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
    sm = result["softmax"]
    if sm is None:
        lines += ["", f"output (regression): {_vec(result['output'], max_values)}"]
        return "\n".join(lines)
    z = sm["logits"]
    lines += ["", "softmax, p_k = e^(z_k − max z) / Σ_j e^(z_j − max z):",
              f"  logits z        = {_vec(z, max_values)}",
              f"  m = max z       = {float(sm['max']):.4g}  (unit {int(np.argmax(z))})",
              f"  z − m           = {_vec(sm['shifted'], max_values)}   (all ≤ 0, so e^(z − m) ≤ 1 cannot overflow)",
              f"  e^(z − m)       = {_vec(sm['exp'], max_values)}",
              f"  s = Σ e^(z − m) = {float(sm['sum']):.6g}",
              f"  p = e^(z − m)/s = {_vec(sm['probabilities'], max_values)}   (sums to 1)",
              "", f"predicted class: {result['predicted_class']}  (p = {result['probability']:.4f})"]
    return "\n".join(lines)
