"""Per-layer statistics while a network trains, with plain-language warnings.

    history = model.fit(X, y, diagnostics=True)     # history.diagnostics: one dict per epoch
"""

import copy
import math
import warnings

import numpy as np

from . import console
from . import layers as L
from .callbacks import Callback
from .errors import positive_int

class DiagnosticWarning(UserWarning):
    """Something in the training statistics looks wrong (dead units, too-large updates...)."""


# Thresholds of the plain-language warnings. Healthy MLP training keeps ‖ΔW‖/‖W‖ per step
# around 1e-3 (Karpathy's rule of thumb); Adam at lr 1e-3 on MNIST measures 2e-3 to 2e-2.
DEAD_WARN = 0.4          # fraction of ReLUs that never fire
SATURATED_WARN = 0.5     # fraction of tanh/sigmoid outputs in their flat tails
SATURATION = {"Tanh": (-0.99, 0.99), "Sigmoid": (0.01, 0.99)}
UPDATE_HIGH = 0.05       # ‖ΔW‖/‖W‖ per step
UPDATE_LOW = 1e-6
VANISHING = 1e-3         # ‖dW‖ of the first layer relative to the last


def _blocks(model):
    """Group the layers into blocks, one per layer with parameters (whatever its class: the
    layer protocol's ``params``): (its index, the index of the activation after it or None).
    The activation is the first parameter-free layer after it that is not a Dropout, before the
    next layer with parameters; a final Softmax is not an activation here (the block's output
    is then its logits)."""
    blocks, current = [], None
    for i, layer in enumerate(model.layers):
        if layer.params:
            current = [i, None]
            blocks.append(current)
        elif current is not None and current[1] is None and not isinstance(layer, (L.Dropout, L.Softmax)):
            current[1] = i
    return [tuple(b) for b in blocks]


def _weights(layer, arrays=None):
    """A layer's weights, as ``‖W‖`` and ``‖ΔW‖/‖W‖`` see them: its parameters of two or more
    dimensions (a Dense's W; biases left out, as weight decay leaves them), or all of its
    parameters when none has two (a per-feature scale and shift)."""
    arrays = layer.params if arrays is None else arrays
    matrices = [k for k, v in layer.params.items() if v.ndim >= 2]
    return [arrays[k] for k in (matrices or list(layer.params))]


def _norm(arrays):
    """Frobenius norm of several arrays taken together (of one: ``np.linalg.norm``)."""
    return math.hypot(*(float(np.linalg.norm(a)) for a in arrays))


def _finite(v):
    """A float for the JSON model file, where NaN and inf are not allowed: None instead."""
    v = float(v)
    return v if math.isfinite(v) else None


class Diagnostics(Callback):
    """Per-layer statistics, one dict per epoch appended to ``model.history.diagnostics``.

    Every ``every``-th batch of an epoch (batch 0 always) is sampled. For each block
    k = 1, 2, ... (a layer with parameters — a Dense, or any layer that declares some — and the
    activation after it; the last block is the output), with W the layer's weights (its
    matrices; all its parameters if it has none):

    - ``act_mean``, ``act_std``: mean and standard deviation of the activation a (n, d_k)
      over every entry of the sampled batches; the logits z for the output block;
    - ``dead_fraction`` (ReLU, LeakyReLU): fraction of the d_k units with z ≤ 0 for every
      sampled sample — units that never fire and, for ReLU, never learn;
    - ``saturated_fraction`` (Tanh, Sigmoid): fraction of outputs in the flat tails
      (|tanh| > 0.99, sigmoid outside [0.01, 0.99]) where the derivative is almost 0;
    - ``units``: the block's output features;
    - ``grad_norm``: ‖∂L/∂W‖ (Frobenius), mean over the sampled batches;
    - ``weight_norm``: ‖W‖ at the end of the epoch;
    - ``update_ratio``: ‖ΔW‖ / ‖W‖ for one optimizer step, mean over the sampled batches.

    Activations are recomputed in inference mode (no dropout) from the batch's rows (the
    ``on_batch_input`` hook), with the parameters the step started from, so they are exactly
    what the network computed for that batch. That
    costs one extra forward pass every ``every`` batches (a few percent of training time).
    Plain-language warnings go to ``warnings.warn`` (once per problem and layer), to
    ``self.warnings`` and to each epoch's ``"warnings"`` list.
    """

    def __init__(self, every=10, warn=True):
        self.every, self.warn = positive_int("Diagnostics every", every), warn
        self.warnings = []
        self._warned = set()

    # -- callback hooks ---------------------------------------------------------------------------
    def on_train_begin(self, logs=None):
        model = self.model
        self.blocks = _blocks(model)
        self.units, n = {}, model.n_features
        for i, layer in enumerate(model.layers):
            n = self.units[i] = layer.output_size(n)
        # Parameters as they were before the step of the next sampled batch, and a shallow copy
        # of each such layer that computes with them (its forward, in inference mode).
        self._before, self._past = {}, {}
        self._block = {pi: k for k, (pi, _) in enumerate(self.blocks)}
        for i, _ in self.blocks:
            layer = model.layers[i]
            self._before[i] = {k: np.empty_like(v) for k, v in layer.params.items()}
            self._past[i] = copy.copy(layer)
            self._past[i].params = self._before[i]
        self._rows = None

    def on_epoch_begin(self, epoch, logs=None):
        k = len(self.blocks)
        self._n_sampled, self._n_values = 0, np.zeros(k)
        self._sum, self._sumsq = np.zeros(k), np.zeros(k)
        self._fired = [None] * k
        self._saturated = np.zeros(k)
        self._grad, self._ratio = np.zeros(k), np.zeros(k)
        self._snapshot()                        # the weights batch 0 starts from

    def on_batch_input(self, batch, X):
        self._rows = X

    def on_batch_end(self, batch, logs=None):
        if batch % self.every == 0 and self._rows is not None:
            self._measure()
        # The weights after this step are those the next batch starts from: saving them here
        # needs only the end-of-batch hook, which every training loop calls.
        if (batch + 1) % self.every == 0:
            self._snapshot()

    def on_epoch_end(self, epoch, logs=None):
        record = {"epoch": int(epoch), "batches_sampled": self._n_sampled, "layers": []}
        n = max(self._n_sampled, 1)
        for k, (pi, ai) in enumerate(self.blocks):
            layer = self.model.layers[pi]
            act = self.model.layers[ai] if ai is not None else None
            mean = self._sum[k] / max(self._n_values[k], 1)
            var = max(self._sumsq[k] / max(self._n_values[k], 1) - mean * mean, 0.0)
            kind = type(act).__name__ if act is not None else ("logits" if k == len(self.blocks) - 1 else "linear")
            fired = self._fired[k]
            record["layers"].append({
                "layer": k + 1,
                "index": pi,
                "units": self.units[pi if ai is None else ai],
                "activation": kind,
                "act_mean": _finite(mean),
                "act_std": _finite(math.sqrt(var)),
                "dead_fraction": None if fired is None else float(1 - fired.mean()),
                "saturated_fraction": (float(self._saturated[k] / max(self._n_values[k], 1))
                                       if kind in SATURATION else None),
                "grad_norm": _finite(self._grad[k] / n),
                "weight_norm": _finite(_norm(_weights(layer))),
                "update_ratio": _finite(self._ratio[k] / n),
            })
        record["warnings"] = self._check(record)
        self.model.history.diagnostics.append(record)

    # -- measurement ------------------------------------------------------------------------------
    def _snapshot(self):
        for i, saved in self._before.items():
            for k, v in saved.items():
                np.copyto(v, self.model.layers[i].params[k])

    def _measure(self):
        """One sampled batch: each block's activations, recomputed with the pre-step parameters
        from the batch's rows, and the gradient and update norms of its weights."""
        ends = {pi if ai is None else ai: k for k, (pi, ai) in enumerate(self.blocks)}
        a = self._rows
        for i, layer in enumerate(self.model.body):
            if i in self._past:
                self._weight_steps(self._block[i], layer)
                z, a = a, self._past[i].forward(a)      # inference mode: caches nothing
            else:
                z, a = a, layer.forward(a)              # Dropout: the identity here
            if i in ends:
                self._activation_stats(ends[i], layer, z, a)
        self._n_sampled += 1

    def _weight_steps(self, k, layer):
        """‖∂L/∂W‖ of this batch and ‖ΔW‖/‖W‖ of its step, for block ``k``."""
        before = _weights(layer, self._before[self.blocks[k][0]])
        self._grad[k] += _norm(_weights(layer, layer.grads))
        self._ratio[k] += (_norm([w - b for w, b in zip(_weights(layer), before)])
                           / max(_norm(before), 1e-30))

    def _activation_stats(self, k, layer, z, a):
        """Block ``k``'s output ``a`` (its activation's, computed from ``z``; or its logits)."""
        if isinstance(layer, (L.ReLU, L.LeakyReLU)):
            fired = (z > 0).any(axis=0)
            self._fired[k] = fired if self._fired[k] is None else self._fired[k] | fired
        lo_hi = SATURATION.get(type(layer).__name__)
        if lo_hi is not None:
            self._saturated[k] += np.count_nonzero((a < lo_hi[0]) | (a > lo_hi[1]))
        self._sum[k] += float(a.sum(dtype=np.float64))
        self._sumsq[k] += float(np.einsum("ij,ij->", a, a, dtype=np.float64))
        self._n_values[k] += a.size

    # -- warnings ---------------------------------------------------------------------------------
    def _check(self, record):
        found = []
        hidden = record["layers"][:-1]
        for s in record["layers"]:
            name = f"layer {s['layer']}"
            dead, sat, ratio = s["dead_fraction"], s["saturated_fraction"], s["update_ratio"]
            if dead is not None and dead >= DEAD_WARN:
                units = "ReLUs" if s["activation"] == "ReLU" else "LeakyReLUs"
                found.append(("dead", s["layer"],
                              f"{dead:.0%} of {name}'s {units} never fire: lower the learning rate "
                              "or use He init"))
            if sat is not None and sat >= SATURATED_WARN:
                found.append(("saturated", s["layer"],
                              f"{sat:.0%} of {name}'s {s['activation']} outputs are saturated, where "
                              "the gradient is almost 0: scale the inputs to [0, 1], use Glorot init "
                              "or lower the learning rate"))
            if ratio is None:
                continue
            if ratio > UPDATE_HIGH:
                found.append(("update_high", s["layer"],
                              f"{name}'s weights change by {ratio:.1%} per step (‖ΔW‖/‖W‖; 0.1% to 1% "
                              "is typical): lower the learning rate"))
            elif ratio < UPDATE_LOW:
                found.append(("update_low", s["layer"],
                              f"{name}'s weights barely change ({ratio:.1e} per step, 1e-3 is "
                              "typical): raise the learning rate, or check that gradients reach it"))
        if hidden:
            first, last = record["layers"][0]["grad_norm"], record["layers"][-1]["grad_norm"]
            if first is not None and last and first < VANISHING * last:
                found.append(("vanishing", 1,
                              f"gradients vanish on the way down: ‖dW‖ of layer 1 is {first / last:.1e} "
                              "times the output layer's; use ReLU with He init, or fewer layers"))
        messages = []
        for kind, layer, text in found:
            messages.append(text)
            self.warnings.append(f"epoch {record['epoch'] + 1}: {text}")
            if self.warn and (kind, layer) not in self._warned:
                self._warned.add((kind, layer))
                warnings.warn(text, DiagnosticWarning, stacklevel=2)
        return messages


def format_diagnostics(record):
    """One epoch's diagnostics as an aligned text table (for the CLI and notebooks)."""
    head = ("layer", "units", "activation", "mean", "std", "dead", "saturated", "‖dW‖", "‖ΔW‖/‖W‖")
    rows = [head]
    num = lambda v, spec: "-" if v is None else format(v, spec)
    for s in record["layers"]:
        rows.append((str(s["layer"]), str(s["units"]), s["activation"], num(s["act_mean"], ".3g"),
                     num(s["act_std"], ".3g"), num(s["dead_fraction"], ".0%"),
                     num(s["saturated_fraction"], ".0%"), num(s["grad_norm"], ".2e"),
                     num(s["update_ratio"], ".2e")))
    lines = console.table(rows, right=range(len(head))).splitlines()
    lines += [f"warning: {w}" for w in record.get("warnings", [])]
    return "\n".join(lines)
