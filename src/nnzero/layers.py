"""Layers: Dense, Dropout and the activations.

Every layer maps a batch of rows to a batch of rows::

    out = layer.forward(x, training=False)     # x (n, d_in) -> out (n, d_out)
    grad_in = layer.backward(grad_out)         # dL/d out (n, d_out) -> dL/d x (n, d_in)

Parameters and their gradients live in two dicts with the same keys (``params["W"]``,
``grads["W"]``). The derivative of each rule sits right under it.

This is the plain code, written to be read: with ``training=True`` a layer keeps what its
``backward`` needs; with ``training=False`` (inference) it keeps nothing. ``fit`` runs the same
arithmetic through its fast path (``nnzero.engine``: reused buffers, one parameter vector), and
tests check that both give the same bits.
"""

import numpy as np

from . import initializers
from .errors import ConfigError, ShapeError, positive_int


class Layer:
    """Base class: no parameters, identity shapes.

    The protocol a layer follows (a new layer overrides what it needs):

    - ``parameter_shapes(n_in)`` declares its parameters, ``{name: shape}`` (none by default);
      counts, summaries, model files, checkpoints and gradient checks all work from it;
    - ``init_parameters(shapes, rng, dtype)`` gives their first values (zeros by default);
    - ``output_size(n_in)`` the number of output features (n_in by default);
    - ``forward(x, training)`` and ``backward(grad_out)`` (which fills ``self.grads``);
    - ``config()`` its constructor arguments, so a model file can rebuild it (see :func:`register`).

    ``n_in``: the input features the layer requires, when it fixes them (Dense does); the first
    such layer sets the model's input size.
    """

    n_in = None

    def __init__(self):
        self.params = {}
        self.grads = {}

    def __getstate__(self):
        # Pickles (scikit-learn users rely on them) carry parameters, not what a training pass
        # kept for its backward.
        state = dict(self.__dict__)
        for name in self.caches:
            state.pop(name, None)
        return state

    #: Attributes a training-mode ``forward`` keeps for ``backward`` (left out of pickles).
    caches = ("_x", "_mask", "_scale", "_a", "_p", "_slope")

    def parameter_shapes(self, n_in):
        """The parameters this layer declares for ``n_in`` input features: {name: shape}."""
        return {}

    def init_parameters(self, shapes, rng, dtype):
        """First values of the declared parameters (zeros unless a layer says otherwise)."""
        return {k: np.zeros(shape, dtype=dtype) for k, shape in shapes.items()}

    def build(self, n_in, rng, dtype):
        """Create the declared parameters (and zero gradients); return the output size."""
        n_out = self.output_size(n_in)
        self.params = self.init_parameters(self.parameter_shapes(n_in), rng, dtype)
        self.grads = {k: np.zeros_like(v) for k, v in self.params.items()}
        return n_out

    def output_size(self, n_in):
        return n_in

    def config(self):
        """The constructor arguments, as JSON-able values (for model files)."""
        return {}

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.config().items())
        return f"{type(self).__name__}({args})"


class Dense(Layer):
    """Z = X·W + b;  X (n, d_in), W (d_in, d_out), b (d_out,) -> Z (n, d_out).

    Backward, with G = dL/dZ (n, d_out):  dW = Xᵀ·G,  db = Σ_rows G,  dX = G·Wᵀ.
    ``init`` is 'he' (default, for ReLU), 'glorot' (tanh/sigmoid) or 'seed' (0.1·randn, b = 0.01).
    """

    def __init__(self, n_in, n_out, init="he"):
        super().__init__()
        n_in, n_out = positive_int("Dense n_in", n_in), positive_int("Dense n_out", n_out)
        initializers.get(init)  # fail at construction, not at fit time
        self.n_in, self.n_out, self.init = n_in, n_out, init
        self._x = None

    def parameter_shapes(self, n_in):
        return {"W": (self.n_in, self.n_out), "b": (self.n_out,)}

    def init_parameters(self, shapes, rng, dtype):
        return {"W": initializers.get(self.init)(rng, self.n_in, self.n_out, dtype),
                "b": np.full(self.n_out, initializers.BIAS_INIT[self.init], dtype=dtype)}

    def output_size(self, n_in):
        if n_in != self.n_in:
            raise ShapeError(f"Dense expected {self.n_in} input features, got {n_in}")
        return self.n_out

    def forward(self, x, training=False):
        if x.ndim != 2 or x.shape[1] != self.n_in:
            raise ShapeError(f"Dense expected {self.n_in} input features, got shape {x.shape}")
        if training:
            self._x = x
        return x @ self.params["W"] + self.params["b"]         # (n, d_in)·(d_in, d_out) + (d_out,)

    def backward(self, grad_out):
        self.grads["W"] = self._x.T @ grad_out                  # (d_in, n)·(n, d_out)
        self.grads["b"] = grad_out.sum(axis=0)                  # (d_out,)
        return grad_out @ self.params["W"].T                    # (n, d_out)·(d_out, d_in)

    def config(self):
        return {"n_in": self.n_in, "n_out": self.n_out, "init": self.init}


class ReLU(Layer):
    """a = max(z, 0);  da/dz = 1 where z > 0, else 0 (we take 0 at the kink)."""

    def forward(self, x, training=False):
        if training:
            self._mask = x > 0
        return np.maximum(x, 0)

    def backward(self, grad_out):
        return grad_out * self._mask


class LeakyReLU(Layer):
    """a = z if z > 0 else α·z;  da/dz = 1 or α."""

    def __init__(self, alpha=0.01):
        super().__init__()
        if not 0 <= alpha < 1:
            raise ConfigError(f"LeakyReLU alpha must be in [0, 1), got {alpha!r}")
        self.alpha = float(alpha)

    def forward(self, x, training=False):
        slope = np.where(x > 0, x.dtype.type(1), x.dtype.type(self.alpha))
        if training:
            self._slope = slope
        return x * slope

    def backward(self, grad_out):
        return grad_out * self._slope

    def config(self):
        return {"alpha": self.alpha}


class Tanh(Layer):
    """a = tanh(z);  da/dz = 1 − a²."""

    def forward(self, x, training=False):
        a = np.tanh(x)
        if training:
            self._a = a
        return a

    def backward(self, grad_out):
        a = self._a
        return grad_out * (1 - a * a)


class Sigmoid(Layer):
    """a = 1 / (1 + e^(−z));  da/dz = a·(1 − a)."""

    def forward(self, x, training=False):
        # exp of a non-positive number never overflows: split by sign.
        e = np.exp(-np.abs(x))
        a = np.where(x >= 0, 1 / (1 + e), e / (1 + e)).astype(x.dtype, copy=False)
        if training:
            self._a = a
        return a

    def backward(self, grad_out):
        a = self._a
        return grad_out * a * (1 - a)


class Softmax(Layer):
    """p_k = e^(z_k − max z) / Σ_j e^(z_j − max z), row by row;  z (n, C) -> p (n, C).

    Backward (Jacobian-vector product):  dz = p ⊙ (g − Σ_k g_k p_k).
    As the output layer with cross-entropy, Sequential fuses it into the loss instead, whose
    gradient is simply (p − onehot(y)) / n; see docs/math.md.
    """

    def forward(self, x, training=False):
        p = softmax(x)
        if training:
            self._p = p
        return p

    def backward(self, grad_out):
        p = self._p
        return p * (grad_out - np.sum(grad_out * p, axis=1, keepdims=True))


def softmax(z):
    """Max-shifted softmax over the last axis; the shift keeps e^z from overflowing."""
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    e /= e.sum(axis=-1, keepdims=True)
    return e


class Dropout(Layer):
    """Inverted dropout: a = x ⊙ m / (1 − rate), m_ij ~ Bernoulli(1 − rate); identity at inference.

    Backward: dx = g ⊙ m / (1 − rate). The mask is drawn from the run's Generator
    (``self.rng``, set by ``Sequential.fit``), so training is reproducible.
    """

    def __init__(self, rate=0.5):
        super().__init__()
        if not 0 <= rate < 1:
            raise ConfigError(f"Dropout rate must be in [0, 1), got {rate!r}")
        self.rate = float(rate)
        self.rng = None

    def forward(self, x, training=False):
        if not training:
            return x                      # inference leaves the layer untouched
        if self.rate == 0:
            self._scale = None
            return x
        if self.rng is None:
            raise ConfigError("Dropout needs a Generator: train it through Sequential.fit")
        m = keep_mask(self.rng, x.shape, self.rate)
        self._scale = m * x.dtype.type(1 / (1 - self.rate))   # m / (1 − rate): 0 or 1/(1 − rate)
        return x * self._scale

    def backward(self, grad_out):
        if self._scale is None:
            return grad_out
        return grad_out * self._scale

    def config(self):
        return {"rate": self.rate}


def keep_mask(rng, shape, rate):
    """m_ij = [u_ij ≥ rate], u_ij uniform on [0, 1) to 32 bits: True with probability 1 − rate.

    The u_ij are the generator's raw 64-bit words split in two, 2-3x faster than drawing floats
    (and the rate is honoured to 2⁻³², finer than float32); fit's fast path draws the same way."""
    n = int(np.prod(shape))
    bits = rng.bit_generator.random_raw((n + 1) // 2).view(np.uint32)[:n].reshape(shape)
    return bits >= round(rate * 2**32)


ACTIVATIONS = {"relu": ReLU, "leaky_relu": LeakyReLU, "tanh": Tanh, "sigmoid": Sigmoid}
#: scikit-learn's activation names → nnzero's (``None``: 'identity', no activation layer).
SKLEARN_ACTIVATIONS = {"relu": "relu", "tanh": "tanh", "logistic": "sigmoid", "identity": None}
LAYERS = {cls.__name__: cls for cls in (Dense, ReLU, LeakyReLU, Tanh, Sigmoid, Softmax, Dropout)}


def register(cls):
    """Make a Layer subclass known to model files by its class name (usable as a decorator);
    ``nz.load(path, custom_layers=[cls])`` does the same for one load."""
    if not (isinstance(cls, type) and issubclass(cls, Layer)):
        raise ConfigError(f"register takes a Layer subclass, got {cls!r}")
    LAYERS[cls.__name__] = cls
    return cls


def from_config(name, config, custom_layers=None):
    """Rebuild a layer from its class name and ``config()`` (used when loading model files).
    ``custom_layers``: extra classes, a list or a dict name → class."""
    known = dict(LAYERS)
    if isinstance(custom_layers, dict):
        known.update(custom_layers)
    elif custom_layers:
        known.update({cls.__name__: cls for cls in custom_layers})
    try:
        cls = known[name]
    except (KeyError, TypeError):
        raise ConfigError(f"unknown layer type {name!r}; expected one of {sorted(known)} (a layer "
                          "of your own: nnzero.layers.register it, or pass custom_layers)") from None
    if not isinstance(config, dict):
        raise ConfigError(f"layer {name} config must be a mapping, got {type(config).__name__}")
    try:
        return cls(**config)
    except TypeError as exc:
        raise ConfigError(f"bad config for layer {name}: {exc}") from None
