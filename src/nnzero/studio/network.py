"""What the network computes for one input, from nnzero's own layers: the studio's only contact
with the model's internals (so a change in the core is adapted here, once).

The network is read as *stages*, one per Dense layer: ``z = a_prev·W + b`` and the activation
after it, ``a = f(z)`` (Dropout is the identity at inference and is skipped). The last stage's
activation is the softmax: its ``a`` are the class probabilities.

    net = Network(nz.load("model.safetensors"))
    x = net.from_image(nz.images.preprocess_digit(pixels))   # (1, 784) model input
    out = net.forward(x)            # {"stages": [{"z", "a"}, ...], "probabilities"}
    grads = net.backprop(x, 7)      # dL/dz, dW, db per stage for the true class 7
"""

import copy
import threading

import numpy as np

from .. import layers as L
from .. import preprocessing
from ..errors import DataError, ShapeError

# How an activation says a unit "fires" (a > threshold): for the firing rates and dead units.
FIRES_ABOVE = {"ReLU": 0.0, "LeakyReLU": 0.0, "Tanh": 0.0, "Sigmoid": 0.5}


class Network:
    """A loaded model, seen stage by stage. Calls are serialised by a lock: ``backprop`` runs
    the layers in training mode, whose buffers are shared."""

    def __init__(self, model):
        self.model = model
        self.lock = threading.Lock()
        self.stages = []                      # [(Dense layer, activation layer or None)]
        for layer in model.layers:
            if isinstance(layer, L.Dense):
                self.stages.append([layer, None])
            elif self.stages and self.stages[-1][1] is None and not isinstance(layer, L.Dropout):
                self.stages[-1][1] = layer
        self.metadata = getattr(model, "metadata", None) or {}
        self.spec = self.metadata.get("preprocessing") or preprocessing.NONE
        self.classes = (np.asarray(model.classes_) if model.classes_ is not None
                        else np.arange(model.n_outputs))

    # -- description ------------------------------------------------------------------------------
    def activation_name(self, k):
        act = self.stages[k][1]
        if act is None:
            return "softmax" if k == len(self.stages) - 1 and self.model.is_classifier else "linear"
        return "softmax" if isinstance(act, L.Softmax) else type(act).__name__

    def describe(self):
        """[{units, n_in, activation, params}] per stage."""
        return [{"units": d.n_out, "n_in": d.n_in, "activation": self.activation_name(k),
                 "params": int(sum(p.size for p in d.params.values()))}
                for k, (d, _) in enumerate(self.stages)]

    def learning_rate(self):
        """The base learning rate recorded in the model file (for the one-step illustration)."""
        training = self.metadata.get("training") or {}
        lr = training.get("lr") or (training.get("optimizer_config") or {}).get("lr")
        return float(lr) if isinstance(lr, (int, float)) and lr > 0 else 0.01

    # -- inputs -----------------------------------------------------------------------------------
    def from_image(self, image):
        """A prepared digit (784,) in [0, 1] → the model input (1, 784), as ``nnzero predict``
        does: a model whose preprocessing starts from 0..255 pixels gets the image in that range."""
        x = np.asarray(image, dtype=np.float64).reshape(1, -1)
        if self.spec.get("kind") in ("scale", "binarize"):
            x = x * 255.0
        return self.from_rows(x)

    def from_rows(self, X):
        """Raw rows (n, d) (as in the data file) → the model's input (n, d)."""
        X = np.asarray(X)
        if X.ndim != 2 or X.shape[1] != self.model.n_features:
            raise ShapeError(f"the model expects rows of {self.model.n_features} features, got shape {X.shape}")
        return self.model.check_X(preprocessing.apply(X, self.spec, self.model.dtype))

    # -- passes -----------------------------------------------------------------------------------
    def forward(self, x):
        """x (n, d) → {"stages": [{"z": (n, d_k), "a": (n, d_k)}], "probabilities": (n, C)}.
        Inference mode: nothing is cached in the layers."""
        stages = []
        a = x
        for dense, act in self.stages:
            z = dense.forward(a)
            a = z if act is None else act.forward(z)
            stages.append({"z": z, "a": a})
        proba = self.model.predict_proba(x) if self.model.is_classifier else stages[-1]["a"]
        if self.model.is_classifier:
            stages[-1]["a"] = proba
        return {"stages": stages, "probabilities": proba}

    def backprop(self, x, target):
        """One sample x (1, d) and its true class index → the gradients of the cross-entropy,
        ``L = −log p_target``, computed by each layer's own ``backward``:

        dL/dz (output) = p − onehot(target);  then per stage, from the top:
        dW = a_prevᵀ·dL/dz,  db = dL/dz,  dL/da_prev = dL/dz·Wᵀ,  dL/dz_prev = dL/da_prev ⊙ f'(z_prev).
        Returns {"loss", "probabilities", "delta" (p − y), "stages": [{"dz", "dW", "db"}]}.
        """
        with self.lock:
            a = x
            for k, (dense, act) in enumerate(self.stages):
                a = dense.forward(a, training=True)
                if act is not None and k < len(self.stages) - 1:
                    a = act.forward(a, training=True)
            p = L.softmax(a.astype(np.float64))                        # (1, C)
            delta = p.copy()
            delta[0, target] -= 1.0                                    # p − onehot(y)
            g = delta.astype(self.model.dtype)
            out = [None] * len(self.stages)
            for k in range(len(self.stages) - 1, -1, -1):
                dense, act = self.stages[k]
                if act is not None and k < len(self.stages) - 1:
                    g = act.backward(g).copy()
                dz = g.copy()
                g = dense.backward(g)
                out[k] = {"dz": dz[0], "dW": dense.grads["W"].copy(), "db": dense.grads["b"].copy()}
                g = None if g is None else g.copy()
                if g is None and k > 0:          # the first Dense skipped dL/dX; nothing below needs it
                    raise ShapeError("backprop stopped early: a Dense layer returned no input gradient")
        loss = float(-np.log(max(p[0, target], 1e-300)))
        return {"loss": loss, "probabilities": p[0], "delta": delta[0], "stages": out}

    def after_step(self, x, target, grads, lr):
        """Probabilities for x after one gradient-descent step W ← W − lr·dW on this sample, on a
        copy of the model (the loaded model is not changed)."""
        model = copy.deepcopy(self.model)
        weights = model.get_weights()
        for k, (dense, _) in enumerate(self.stages):
            i = self.model.layers.index(dense)
            weights[f"{i}.W"] = weights[f"{i}.W"] - lr * grads[k]["dW"]
            weights[f"{i}.b"] = weights[f"{i}.b"] - lr * grads[k]["db"]
        model.set_weights(weights)
        return model.predict_proba(x)[0]

    # -- over a data set --------------------------------------------------------------------------
    def firing_rates(self, X, chunk=2000):
        """Per stage, the fraction of rows of X (model inputs) on which each unit fires
        (a above its activation's threshold); None for the output stage and linear units."""
        counts = [np.zeros(d.n_out) for d, _ in self.stages]
        for i in range(0, len(X), chunk):
            stages = self.forward(X[i:i + chunk])["stages"]
            for k, st in enumerate(stages):
                counts[k] += (st["a"] > FIRES_ABOVE.get(self.activation_name(k), 0.0)).sum(axis=0)
        rates = []
        for k, c in enumerate(counts):
            known = self.activation_name(k) in FIRES_ABOVE and k < len(self.stages) - 1
            rates.append(c / max(len(X), 1) if known and len(X) else None)
        return rates

    def predict_indices(self, X, chunk=4096):
        """Predicted class index for each row of X (model inputs)."""
        out = [self.model.predict_proba(X[i:i + chunk]).argmax(axis=1) for i in range(0, len(X), chunk)]
        return np.concatenate(out) if out else np.zeros(0, dtype=np.int64)

    def label_indices(self, y):
        """Labels → class indices; rows whose label is not among the classes get −1."""
        y = np.asarray(y)
        pos = np.minimum(np.searchsorted(self.classes, y), len(self.classes) - 1)
        ok = self.classes[pos] == y
        if not ok.any() and len(y):
            raise DataError(f"none of the data's labels are among the model's classes {self.classes.tolist()}")
        return np.where(ok, pos, -1)
