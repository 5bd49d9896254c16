"""The studio's answers as JSON-able dicts: one method per view, from a loaded model and its
test rows. Arrays travel as base64 of little-endian float32 (``f32``) or uint8 (``u8``).

Nothing here knows HTTP; :mod:`nnzero.studio.app` maps requests to these methods and turns
:class:`~nnzero.errors.NnzeroError` into a 400 with its message.
"""

import base64
import math
from pathlib import Path

import numpy as np

from .. import datasets
from ..errors import ConfigError, DataError
from .network import Network

SIDE = 28                         # the canvas models: 784 inputs seen as 28×28
TOP_TERMS = 8                     # largest contributions w_i·x_i listed for a neuron


def f32(a):
    return base64.b64encode(np.ascontiguousarray(a, dtype="<f4").tobytes()).decode("ascii")


def u8(a):
    return base64.b64encode(np.ascontiguousarray(a, dtype=np.uint8).tobytes()).decode("ascii")


def grid_shape(n):
    """Rows × columns to show n units: no empty cell if a factor pair is at most 3:1 wide
    (512 → 16×32, 256 → 16×16, 10 → 2×5), else the squarest grid that holds them."""
    pairs = [(r, n // r) for r in range(1, int(math.isqrt(n)) + 1) if n % r == 0 and n // r <= 3 * r]
    if pairs:
        return list(pairs[-1])
    cols = math.ceil(math.sqrt(n))
    return [math.ceil(n / cols), cols]


def _number(v):
    v = float(v)
    return v if math.isfinite(v) else None


class Studio:
    """A model file opened for looking inside, with the rows its Mistakes and firing rates use.

    ``data``: (X raw rows, y labels or None, description) or None to use the model's own
    dataset's test split (bundled MNIST for MNIST models) when it can be found.
    """

    def __init__(self, model, path, data=None):
        self.net = Network(model)
        self.path = str(path)
        self.image = model.n_features == SIDE * SIDE
        X, y, self.data_name = data if data is not None else self._model_data()
        self.X = self.net.from_rows(X) if X is not None else None
        self.y = self.net.label_indices(y) if y is not None else None
        self._rates = self._pred = None

    def _model_data(self):
        """The test split of the dataset the model file names, or its training file if present."""
        meta = self.net.metadata.get("dataset") or {}
        try:
            if meta.get("kind", "dataset") == "dataset" and meta.get("name"):
                _, (X, y) = datasets.load_dataset(meta["name"], data_dir=meta.get("data_dir"))
                return X, y, f"{datasets.get_spec(meta['name']).title} test set"
            path = meta.get("test_data") or meta.get("path")
            if meta.get("kind") == "file" and path and Path(path).exists():
                X, y = datasets.load_file(path)
                return X, y, f"file {Path(path).name}"
        except (DataError, ConfigError, OSError):
            pass
        if self.image and not meta:
            _, (X, y) = datasets.load_dataset("mnist")   # a model file without a record: 28×28 digits
            return X, y, "MNIST test set"
        return None, None, None

    # -- lazily computed over the data ----------------------------------------------------------
    def rates(self):
        if self._rates is None:
            X = self.X if self.X is not None else np.zeros((0, self.net.model.n_features), self.net.model.dtype)
            self._rates = self.net.firing_rates(X)
        return self._rates

    def predictions(self):
        if self._pred is None:
            self._pred = self.net.predict_indices(self.X)
        return self._pred

    # -- inputs -----------------------------------------------------------------------------------
    def row(self, index):
        """Data row ``index`` as the model input (1, d)."""
        if self.X is None:
            raise ConfigError("no data rows are loaded: start the studio with --data FILE")
        if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < len(self.X):
            raise DataError(f"sample index must be an integer in 0..{len(self.X) - 1}, got {index!r}")
        return self.X[index:index + 1]

    # -- views ------------------------------------------------------------------------------------
    def model_info(self):
        """GET /api/model."""
        model, meta = self.net.model, self.net.metadata
        rates = self.rates()
        stages = []
        for k, d in enumerate(self.net.describe()):
            r = rates[k]
            stages.append({**d, "index": k, "grid": grid_shape(d["units"]),
                           "dead": [] if r is None else np.flatnonzero(r == 0).tolist(),
                           "always_on": [] if r is None else np.flatnonzero(r == 1).tolist()})
        lines = []
        model.summary(print_fn=lines.append)       # the table, line by line, not to stdout
        history = meta.get("history") or (model.history.to_dict() if model.history is not None else None)
        return {
            "path": self.path, "n_features": model.n_features, "image": self.image,
            "input_grid": [SIDE, SIDE] if self.image else grid_shape(model.n_features),
            "classes": self.net.classes.tolist(), "stages": stages,
            "params_total": int(sum(d["params"] for d in stages)),
            "summary": "\n".join(lines), "history": history,
            "training": meta.get("training"), "dataset": meta.get("dataset"),
            "preprocessing": self.net.spec, "lr": self.net.learning_rate(),
            "data": {"name": self.data_name, "rows": 0 if self.X is None else len(self.X),
                     "labelled": self.y is not None},
        }

    def predict(self, x):
        """POST /api/predict: every stage's activations at once, and the probabilities."""
        out = self.net.forward(x)
        p = out["probabilities"][0]
        k = int(np.argmax(p))
        return {"input": f32(x[0]), "probabilities": [float(v) for v in p],
                "prediction": self.net.classes[k].item(), "index": k,
                "stages": [{"a": f32(st["a"][0]), "max": _number(np.abs(st["a"][0]).max())}
                           for st in out["stages"]]}

    def neuron(self, x, stage, unit):
        """POST /api/neuron: unit ``unit`` of stage ``stage``: weights, z = w·x + b with its
        largest terms, activation, firing rate over the data."""
        net = self.net
        if isinstance(stage, bool) or not isinstance(stage, int) or not 0 <= stage < len(net.stages):
            raise DataError(f"layer must be an integer in 0..{len(net.stages) - 1}, got {stage!r}")
        dense = net.stages[stage][0]
        if isinstance(unit, bool) or not isinstance(unit, int) or not 0 <= unit < dense.n_out:
            raise DataError(f"unit must be an integer in 0..{dense.n_out - 1} for layer {stage}, got {unit!r}")
        out = net.forward(x)["stages"]
        inputs = (x if stage == 0 else out[stage - 1]["a"])[0].astype(np.float64)
        w = dense.params["W"][:, unit].astype(np.float64)
        b = float(dense.params["b"][unit])
        terms = inputs * w
        top = np.argsort(-np.abs(terms), kind="stable")[:TOP_TERMS]
        rate = self.rates()[stage]
        return {
            "layer": stage, "unit": unit, "activation": net.activation_name(stage),
            "n_in": dense.n_in, "input_grid": ([SIDE, SIDE] if stage == 0 and self.image
                                                else grid_shape(dense.n_in)),
            "weights": f32(w), "weight_max": _number(np.abs(w).max()), "bias": b,
            "terms": f32(terms), "terms_max": _number(np.abs(terms).max()),
            "z": float(out[stage]["z"][0, unit]), "a": float(out[stage]["a"][0, unit]),
            "sum_terms": float(terms.sum()), "n_terms_nonzero": int(np.count_nonzero(terms)),
            "top": [{"index": int(i), "x": float(inputs[i]), "w": float(w[i]), "xw": float(terms[i])}
                    for i in top],
            "firing_rate": None if rate is None else float(rate[unit]),
            "data_rows": 0 if self.X is None else len(self.X),
        }

    def backprop(self, x, label, lr=None):
        """POST /api/backprop: the gradients for true class ``label`` and the effect of one
        gradient-descent step at ``lr`` (default: the model's recorded learning rate)."""
        net = self.net
        if not net.model.is_classifier:
            raise ConfigError("backprop shows the cross-entropy gradient: it needs a classifier")
        matches = [i for i, c in enumerate(net.classes.tolist()) if c == label or str(c) == str(label)]
        if not matches:
            raise DataError(f"label must be one of the classes {net.classes.tolist()}, got {label!r}")
        target = matches[0]
        g = net.backprop(x, target)
        if lr is None:
            lr = net.learning_rate()
        elif isinstance(lr, bool) or not isinstance(lr, (int, float)) or not (math.isfinite(lr) and lr > 0):
            raise DataError(f"lr must be a number > 0, got {lr!r}")
        after = net.after_step(x, target, g["stages"], lr)
        stages = []
        for k, (st, (dense, _)) in enumerate(zip(g["stages"], net.stages)):
            W = dense.params["W"]
            dW_norm = float(np.linalg.norm(st["dW"]))
            stages.append({"layer": k, "dz": f32(st["dz"]), "dz_max": _number(np.abs(st["dz"]).max()),
                           "dW_norm": dW_norm, "db_norm": float(np.linalg.norm(st["db"])),
                           "W_norm": float(np.linalg.norm(W)),
                           "update_ratio": lr * dW_norm / max(float(np.linalg.norm(W)), 1e-30),
                           "grid": grid_shape(dense.n_out)})
        dz0 = g["stages"][0]["dz"]
        unit = int(np.argmax(np.abs(dz0)))
        col = g["stages"][0]["dW"][:, unit]
        return {
            "label": net.classes[target].item(), "target": target, "loss": g["loss"], "lr": lr,
            "probabilities": g["probabilities"].tolist(), "delta": g["delta"].tolist(),
            "stages": stages,
            "dW0": {"unit": unit, "values": f32(col), "max": _number(np.abs(col).max()),
                    "grid": [SIDE, SIDE] if self.image else grid_shape(len(col))},
            "after": {"probabilities": after.tolist(), "loss": float(-np.log(max(after[target], 1e-300)))},
        }

    def confusion(self):
        """GET /api/confusion: counts[true][predicted] over the labelled data rows."""
        if self.X is None or self.y is None:
            raise ConfigError("no labelled data rows are loaded: start the studio with --data FILE")
        pred, y = self.predictions(), self.y
        keep = y >= 0
        C = len(self.net.classes)
        m = np.zeros((C, C), dtype=np.int64)
        np.add.at(m, (y[keep], pred[keep]), 1)
        return {"classes": self.net.classes.tolist(), "matrix": m.tolist(), "rows": int(keep.sum()),
                "accuracy": float(np.trace(m) / max(keep.sum(), 1)), "data": self.data_name}

    def mistakes(self, true, pred, limit=48):
        """GET /api/mistakes?true=I&pred=J: rows of class I predicted as J (indices into classes)."""
        C = len(self.net.classes)
        for name, v in (("true", true), ("pred", pred)):
            if not 0 <= v < C:
                raise DataError(f"{name} must be a class index in 0..{C - 1}, got {v}")
        self.confusion()                                    # same checks: labelled data loaded
        idx = np.flatnonzero((self.y == true) & (self.predictions() == pred))
        shown = idx[:limit]
        X = self.X[shown].astype(np.float64)
        scale = max(float(X.max()) if X.size else 1.0, 1e-12)
        proba = self.net.model.predict_proba(self.X[shown]) if len(shown) else np.zeros((0, C))
        return {"true": true, "pred": pred, "count": int(len(idx)), "indices": shown.tolist(),
                "confidence": [float(p[pred]) for p in proba],
                "pixels": u8(np.round(np.clip(X / scale, 0, 1) * 255)),
                "grid": [SIDE, SIDE] if self.image else grid_shape(self.net.model.n_features)}
