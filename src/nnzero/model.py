"""Sequential: a stack of layers, its forward and backward pass, and inference.

The training loop itself lives in ``training.py`` (one layer below: it sees the model only
through its public surface); ``Sequential.fit`` hands over to it.

    model = nz.Sequential([nz.Dense(784, 256), nz.ReLU(), nz.Dense(256, 10), nz.Softmax()])
    history = model.fit(X, y, epochs=10, optimizer=nz.Adam(1e-3), seed=0)
    model.predict(X); model.predict_proba(X); model.evaluate(X, y)
"""

import numpy as np

from . import layers as L
from . import console, engine, losses, training
from .callbacks import History
from .errors import ConfigError, DataError, NotFittedError, ShapeError
from .rows import as_lazy, is_lazy

DTYPES = {"float32": np.float32, "float64": np.float64}


def as_dtype(dtype):
    """np.float32 or np.float64 from a name or a NumPy dtype."""
    name = np.dtype(dtype).name if not isinstance(dtype, str) else dtype
    if name not in DTYPES:
        raise ConfigError(f"dtype must be 'float32' or 'float64', got {dtype!r}")
    return np.dtype(DTYPES[name])


class Sequential:
    """A feedforward network: ``layers`` applied in order.

    ``loss`` is 'cross_entropy' (classification; a final ``Softmax`` layer is fused into the
    loss while training) or 'mse' (regression). ``dtype`` is the one float type used end to end.
    Learned: ``classes_`` (the label of each output unit, for classification).
    """

    def __init__(self, layers, loss="cross_entropy", dtype="float32"):
        layers = list(layers)
        if not layers:
            raise ConfigError("Sequential needs at least one layer")
        for layer in layers:
            if not isinstance(layer, L.Layer):
                raise ConfigError(f"Sequential takes nnzero layers, got {type(layer).__name__}")
        sized = [layer for layer in layers if layer.n_in is not None]
        if not sized:
            raise ConfigError("Sequential needs at least one Dense layer (or another layer that "
                              "fixes the number of input features)")
        self.layers = layers
        self.loss = losses.get(loss)
        self.dtype = as_dtype(dtype)
        self.classes_ = None
        self.history = None
        self.built = False
        self.stop_training = False
        self.train_state = None
        # The output Softmax, handled here once: cross-entropy takes logits and applies the
        # softmax itself (log-sum-exp), predict_proba applies it to forward's logits, and every
        # other pass runs ``body``, the layers without it. summary() still shows it.
        self.fused_softmax = isinstance(layers[-1], L.Softmax) and self.is_classifier
        self.body = layers[:-1] if self.fused_softmax else layers
        # Shapes are checked now, so a 784→256 followed by a 128→10 fails at construction.
        n = self.n_features = sized[0].n_in
        for layer in layers:
            n = layer.output_size(n)
        self.n_outputs = n

    @property
    def is_classifier(self):
        return isinstance(self.loss, losses.SoftmaxCrossEntropy)

    def build(self, seed=None, rng=None):
        """Initialise every parameter from ``rng`` (or ``np.random.default_rng(seed)``)."""
        rng = np.random.default_rng(seed) if rng is None else rng
        n = self.n_features
        for layer in self.layers:
            n = layer.build(n, rng, self.dtype)
        self.built = True
        return self

    def require_built(self):
        if not self.built:
            raise NotFittedError("this model has no weights yet: call fit() (or build()) first")

    @property
    def params(self):
        """All parameters as ``{"<layer index>.<name>": array}`` (the arrays themselves)."""
        return {f"{i}.{k}": v for i, layer in enumerate(self.layers) for k, v in layer.params.items()}

    @property
    def grads(self):
        return {f"{i}.{k}": v for i, layer in enumerate(self.layers) for k, v in layer.grads.items()}

    def get_weights(self):
        """A copy of every parameter, keyed as ``params``."""
        return {k: v.copy() for k, v in self.params.items()}

    def set_weights(self, weights):
        """Copy ``weights`` (keyed as ``params``) into the model, checking keys and shapes."""
        self.require_built()
        params = self.params
        if set(weights) != set(params):
            raise ShapeError(f"weights have keys {sorted(weights)}, expected {sorted(params)}")
        for k, p in params.items():
            w = np.asarray(weights[k])
            if w.shape != p.shape:
                raise ShapeError(f"weight {k} has shape {w.shape}, expected {p.shape}")
            p[...] = w

    def parameter_shapes(self):
        """``{"<layer index>.<name>": shape}`` as the layers declare them, before any weight is
        allocated (model files are checked against it; counts and summaries come from it)."""
        shapes, n = {}, self.n_features
        for i, layer in enumerate(self.layers):
            shapes.update({f"{i}.{k}": tuple(s) for k, s in layer.parameter_shapes(n).items()})
            n = layer.output_size(n)
        return shapes

    def count_params(self):
        return sum(int(np.prod(s)) for s in self.parameter_shapes().values())

    # -- passes ------------------------------------------------------------------------------------
    def forward(self, x, training=False):
        """The network's output for ``x`` (n, n_features): logits (n, C) for a classifier (a
        final Softmax is left to the loss and to predict_proba), else the last layer's output."""
        for layer in self.body:
            x = layer.forward(x, training=training)
        return x

    def backward(self, grad):
        """Backpropagate dL/d(forward's output) through the layers, filling every ``grads``."""
        for layer in reversed(self.body):
            grad = layer.backward(grad)
        return grad

    # -- input checking ----------------------------------------------------------------------------
    def check_X(self, X, name="X"):
        """``X`` as a C-contiguous 2-D array of the model's dtype, or a clear error. A memory
        map (or LazyRows) stays on disk: LazyRows of the model's dtype, checked in chunks."""
        lazy = is_lazy(X)
        if not lazy:
            X = np.asarray(X)
        if X.dtype == object or not (np.issubdtype(X.dtype, np.number) or X.dtype == bool):
            raise DataError(f"{name} must be numeric, got dtype {X.dtype}")
        if X.ndim == 1 and X.size == self.n_features:
            raise ShapeError(f"{name} must be 2-D (n_samples, {self.n_features}); got a single "
                             f"sample of shape {X.shape}: use X.reshape(1, -1)")
        if X.ndim != 2:
            raise ShapeError(f"{name} must be 2-D (n_samples, {self.n_features}), got shape {X.shape}")
        if X.shape[0] == 0:
            raise DataError(f"{name} is empty: got 0 samples")
        if X.shape[1] != self.n_features:
            raise ShapeError(f"model expected {self.n_features} input features, got {X.shape[1]}")
        if lazy:
            return as_lazy(X, self.dtype).check_finite(name)
        X = np.ascontiguousarray(X, dtype=self.dtype)
        if not np.isfinite(X).all():
            raise DataError(f"{name} contains NaN or infinite values")
        return X

    def encode_labels(self, y, n, name="y"):
        """Classification labels → output-unit indices (int64, (n,)) through ``classes_``."""
        y = np.asarray(y)
        if y.ndim == 2 and y.shape[1] == 1:
            y = y[:, 0]
        if y.ndim != 1 or y.shape[0] != n:
            raise ShapeError(f"{name} must have shape ({n},), got {y.shape}")
        # Built but never fitted: labels are output indices, as predict() returns them.
        classes = self.classes_ if self.classes_ is not None else np.arange(self.n_outputs)
        if y.dtype.kind == "f" and not np.isfinite(y).all():
            raise DataError(f"{name} contains NaN or infinite values")
        try:
            pos = np.searchsorted(classes, y)
        except TypeError:
            raise DataError(f"{name} labels of type {y.dtype} cannot be compared with the model's "
                            f"classes {classes.tolist()}") from None
        pos = np.minimum(pos, len(classes) - 1)
        bad = classes[pos] != y
        if bad.any():
            unknown = np.unique(y[bad])[:5].tolist()
            raise DataError(f"{name} has labels {unknown} that are not among the model's classes "
                            f"{classes.tolist()}")
        return pos.astype(np.int64)

    def targets(self, y, n, name="y"):
        """What the loss compares the outputs with: output-unit indices (n,) for a classifier
        (through ``classes_``), else regression targets (n, n_outputs) of the model's dtype."""
        if self.is_classifier:
            return self.encode_labels(y, n, name)
        y = np.asarray(y, dtype=self.dtype)
        if y.ndim == 1:
            y = y[:, None]
        if y.shape != (n, self.n_outputs):
            raise ShapeError(f"{name} must have shape ({n}, {self.n_outputs}), got {y.shape}")
        if not np.isfinite(y).all():
            raise DataError(f"{name} contains NaN or infinite values")
        return np.ascontiguousarray(y)

    def set_classes(self, y, classes=None):
        """Choose ``classes_``: given, integer labels 0..k−1 for k outputs, or the sorted unique labels."""
        if classes is None:
            y = np.asarray(y).ravel()
            uniq = np.unique(y)
            integral = y.dtype.kind in "iub" or (y.dtype.kind == "f" and np.all(uniq == np.round(uniq)))
            if integral and uniq.size and uniq.min() >= 0 and uniq.max() < self.n_outputs:
                classes = np.arange(self.n_outputs).astype(y.dtype)   # digits 0..9 keep their meaning
            else:
                classes = uniq
        classes = np.asarray(classes)
        if classes.ndim != 1 or len(np.unique(classes)) != len(classes):
            raise DataError(f"classes must be distinct 1-D labels, got {classes!r}")
        if len(classes) != self.n_outputs:
            raise ShapeError(f"the model has {self.n_outputs} outputs but the labels have "
                             f"{len(classes)} classes {classes.tolist()[:12]}")
        self.classes_ = np.sort(classes)

    # -- inference (stores nothing) ---------------------------------------------------------------
    def _outputs(self, X, batch_size=4096):
        """``forward`` over X in chunks, in inference mode (through ``engine.infer``: the same
        bits as ``forward``, with fewer temporary arrays)."""
        self.require_built()
        X = self.check_X(X)
        return engine.infer(self.body, X, self.n_outputs, self.dtype, batch_size)

    def predict_proba(self, X):
        """Class probabilities (n, C), rows summing to 1: the max-shifted softmax of the logits."""
        if not self.is_classifier:
            raise ConfigError("predict_proba needs a classifier (loss='cross_entropy')")
        return L.softmax(self._outputs(X))

    def predict(self, X):
        """Predicted labels (n,) from ``classes_``; for regression, the outputs (n, k)."""
        out = self._outputs(X)
        if not self.is_classifier:
            return out
        idx = out.argmax(axis=1)
        return self.classes_[idx] if self.classes_ is not None else idx

    def evaluate(self, X, y, batch_size=4096):
        """``{"loss": ..., "accuracy": ...}`` on (X, y); accuracy is NaN for regression."""
        self.require_built()
        X = self.check_X(X)
        loss, acc = training.loss_and_accuracy(self, X, self.targets(y, len(X)), batch_size=batch_size)
        return {"loss": loss, "accuracy": acc}

    def fit(self, X, y, *, epochs=10, batch_size=128, optimizer=None, validation_data=None,
            validation_split=0.0, callbacks=None, seed=None, verbose="auto", shuffle=True,
            sample_weight=None, classes=None, diagnostics=False, resume=None, augment=None) -> History:
        """Train on X (n, n_features) and labels y (n,) (targets (n, k) for regression); returns
        the :class:`~nnzero.callbacks.History` (loss, accuracy, val_loss, val_accuracy, lr, time).

        epochs, batch_size (None: full batch), optimizer (an optimizer or a name; default
        Adam(1e-3)), validation_data=(Xv, yv) or validation_split (a stratified fraction),
        callbacks, seed (one Generator for the whole run), verbose (0, 1, 2 or "auto": a live
        bar on a terminal), shuffle, sample_weight (n,), classes (all labels, when y lacks
        some), diagnostics (per-layer statistics in history.diagnostics), resume (the state
        of :func:`nnzero.load_checkpoint`), augment (e.g. :class:`nnzero.Augment`: every
        training batch warped afresh). Details: :func:`nnzero.training.fit`.
        """
        return training.fit(self, X, y, epochs=epochs, batch_size=batch_size, optimizer=optimizer,
                            validation_data=validation_data, validation_split=validation_split,
                            callbacks=callbacks, seed=seed, verbose=verbose, shuffle=shuffle,
                            sample_weight=sample_weight, classes=classes, diagnostics=diagnostics,
                            resume=resume, augment=augment)

    # -- description -------------------------------------------------------------------------------
    def summary(self, print_fn=None):
        """Print a table of layers, output shapes and parameter counts, as Keras does: line by
        line through ``print_fn`` (default ``print``); returns None. ``summary_text()`` returns it."""
        for line in self.summary_text().splitlines():
            (print if print_fn is None else print_fn)(line)

    def summary_text(self):
        """The table ``summary()`` prints, as one string."""
        rows = [("#", "layer", "output", "params")]
        n = self.n_features
        for i, layer in enumerate(self.layers):
            count = sum(int(np.prod(s)) for s in layer.parameter_shapes(n).values())
            n = layer.output_size(n)
            rows.append((str(i), repr(layer), f"(n, {n})", f"{count:,}"))
        head, *body = console.table(rows, right={3}).splitlines()
        sep = "-" * len(head)
        notes = [f"total parameters: {self.count_params():,}   loss: {self.loss.name}   dtype: {self.dtype.name}"]
        if self.fused_softmax:
            notes.append("(the Softmax output is fused into the cross-entropy loss; forward gives logits)")
        return "\n".join([head, sep, *body, sep, *notes])

    def config(self):
        """Architecture as JSON-able data (for model files)."""
        return {
            "layers": [{"type": type(layer).__name__, "config": layer.config()} for layer in self.layers],
            "loss": self.loss.name,
            "dtype": self.dtype.name,
        }

    @classmethod
    def from_config(cls, config, custom_layers=None):
        """The model ``config()`` describes; ``custom_layers``: layer classes not registered
        with :func:`nnzero.layers.register` (a list, or a dict name → class)."""
        layers = [L.from_config(spec.get("type"), spec.get("config", {}), custom_layers)
                  for spec in config["layers"]]
        return cls(layers, loss=config.get("loss", "cross_entropy"), dtype=config.get("dtype", "float32"))

    # The file writer lives in the files layer above this one (nnzero.serialization), which
    # sets this hook when it is imported (the package imports it with any name that makes
    # models: nz.Sequential, nz.mlp, nz.load, ...): the model never imports the layer above it.
    file_writer = None

    def save(self, path, **metadata):
        """Write a safetensors model file: the same as ``nz.save(model, path, **metadata)``."""
        if Sequential.file_writer is None:
            raise ConfigError("model.save needs nnzero's file layer, not imported yet: import "
                              "nnzero.serialization first, or write the file with nnzero.save(model, path)")
        Sequential.file_writer(self, path, **metadata)

    def __repr__(self):
        return f"Sequential({self.layers!r}, loss={self.loss.name!r}, dtype={self.dtype.name!r})"


def mlp(n_in, hidden, n_out, activation="relu", dropout=0.0, init=None, input_dropout=0.0,
        dtype="float32", loss="cross_entropy", softmax=True):
    """A multilayer perceptron: (Dropout →) Dense → activation (→ Dropout) per hidden size, then
    Dense → Softmax (a classifier; ``softmax=False`` ends in the Dense, e.g. with ``loss="mse"``).

    ``activation``: a name in ``layers.ACTIVATIONS``, a function returning a layer (e.g.
    ``lambda: LeakyReLU(0.1)``), or None for none. ``init`` defaults to 'glorot' for tanh and
    sigmoid, 'he' otherwise. ``input_dropout`` drops input features (Hinton et al. 2012)."""
    if isinstance(activation, str) and activation not in L.ACTIVATIONS:
        raise ConfigError(f"unknown activation {activation!r}; expected one of {sorted(L.ACTIVATIONS)}")
    make = L.ACTIVATIONS[activation] if isinstance(activation, str) else activation
    init = init or ("glorot" if activation in ("tanh", "sigmoid") else "he")
    stack, n = [], n_in
    if input_dropout:
        stack.append(L.Dropout(input_dropout))
    for h in hidden:
        stack += [L.Dense(n, h, init=init)] + ([make()] if make is not None else [])
        if dropout:
            stack.append(L.Dropout(dropout))
        n = h
    stack += [L.Dense(n, n_out, init=init)] + ([L.Softmax()] if softmax else [])
    return Sequential(stack, loss=loss, dtype=dtype)
