"""Layers: Dense, Dropout and the activations.

Every layer maps a batch of rows to a batch of rows::

    out = layer.forward(x, training=False)     # x (n, d_in) -> out (n, d_out)
    grad_in = layer.backward(grad_out)         # dL/d out (n, d_out) -> dL/d x (n, d_in)

Parameters and their gradients live in two dicts with the same keys (``params["W"]``,
``grads["W"]``). The derivative of each rule sits right under it.

Speed: with ``training=True`` a layer writes into buffers it reuses from batch to batch (the
arrays it returns are overwritten by its next call), and keeps the little it needs for
``backward``. With ``training=False`` (inference) it allocates fresh arrays and keeps nothing.
"""

import numpy as np

from . import initializers
from .errors import ConfigError, ShapeError


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
    such layer sets the model's input size. ``input_grad``: Sequential sets it to False on the
    first layer with parameters, whose dL/dX nothing consumes (it may then return None).
    """

    n_in = None
    input_grad = True

    def __init__(self):
        self.params = {}
        self.grads = {}
        self._buffers = {}

    # -- helpers ------------------------------------------------------------------------------
    def _buffer(self, name, shape, dtype, fill=None):
        """A reusable array for the training hot path, one per (name, shape, dtype): the full
        batches and the last, shorter one each keep their own. ``fill``: its constant value."""
        key = (name, shape, np.dtype(dtype).char)
        buf = self._buffers.get(key)
        if buf is None:
            buf = self._buffers[key] = np.empty(shape, dtype=dtype)
            if fill is not None:
                buf.fill(fill)
        return buf

    def __getstate__(self):
        # Pickles (scikit-learn users rely on them) carry parameters, not training scratch space.
        state = dict(self.__dict__)
        state["_buffers"] = {}
        for name in ("_x", "_mask", "_scale", "_a", "_p", "_slope"):
            state.pop(name, None)
        return state

    def parameter_shapes(self, n_in):
        """The parameters this layer declares for ``n_in`` input features: {name: shape}."""
        return {}

    def init_parameters(self, shapes, rng, dtype):
        """First values of the declared parameters (zeros unless a layer says otherwise)."""
        return {k: np.zeros(shape, dtype=dtype) for k, shape in shapes.items()}

    def build(self, n_in, rng, dtype):
        """Create the declared parameters (and zero gradients); return the output size."""
        n_out = self.output_size(n_in)
        self._buffers = {}
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
        for name, v in (("n_in", n_in), ("n_out", n_out)):
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
                raise ConfigError(f"Dense {name} must be a positive integer, got {v!r}")
        initializers.get(init)  # fail at construction, not at fit time
        self.n_in, self.n_out, self.init = int(n_in), int(n_out), init
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
        W, b = self.params["W"], self.params["b"]
        if x.ndim != 2 or x.shape[1] != self.n_in:
            raise ShapeError(f"Dense expected {self.n_in} input features, got shape {x.shape}")
        if not training:
            z = x @ W                                           # (n, d_in)·(d_in, d_out)
            z += b                                              # in place: no second (n, d_out) array
            return z
        self._x = x
        z = np.matmul(x, W, out=self._buffer("z", (x.shape[0], self.n_out), W.dtype))
        z += b
        return z

    def backward(self, grad_out):
        x, W = self._x, self.params["W"]
        np.matmul(x.T, grad_out, out=self.grads["W"])          # (d_in, n)·(n, d_out)
        np.sum(grad_out, axis=0, out=self.grads["b"])
        if not self.input_grad:
            return None
        dx = self._buffer("dx", x.shape, W.dtype)
        return np.matmul(grad_out, W.T, out=dx)                 # (n, d_out)·(d_out, d_in)

    def config(self):
        return {"n_in": self.n_in, "n_out": self.n_out, "init": self.init}


class ReLU(Layer):
    """a = max(z, 0);  da/dz = 1 where z > 0, else 0 (we take 0 at the kink)."""

    def forward(self, x, training=False):
        # Against an array of zeros NumPy runs its SIMD loop; against the scalar 0, a loop
        # 2-3x slower (measured on (128, 256) float32). A row of zeros, broadcast, is nearly as fast.
        if not training:
            return np.maximum(x, np.zeros(x.shape[-1:], x.dtype))
        zeros = self._buffer("zeros", x.shape, x.dtype, fill=0)
        out = np.maximum(x, zeros, out=self._buffer("out", x.shape, x.dtype))
        self._mask = np.greater(x, 0, out=self._buffer("mask", x.shape, bool))
        return out

    def backward(self, grad_out):
        return np.multiply(grad_out, self._mask, out=self._buffer("g", grad_out.shape, grad_out.dtype))


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
        # m_ij = [u_ij ≥ rate] with u_ij uniform on 32 bits: the generator's raw 64-bit words,
        # split in two, 2-3x faster than drawing floats (rate honoured to 2⁻³², finer than float32).
        n = x.size
        bits = self.rng.bit_generator.random_raw((n + 1) // 2).view(np.uint32)[:n].reshape(x.shape)
        scale = self._buffer("scale", x.shape, x.dtype)
        # scale = m / (1 − rate), built in place: 1/(1−rate) where kept, 0 where dropped.
        np.greater_equal(bits, round(self.rate * 2**32), out=scale, casting="unsafe")
        scale *= x.dtype.type(1 / (1 - self.rate))
        self._scale = scale
        return np.multiply(x, scale, out=self._buffer("out", x.shape, x.dtype))

    def backward(self, grad_out):
        if self._scale is None:
            return grad_out
        return np.multiply(grad_out, self._scale, out=self._buffer("g", grad_out.shape, grad_out.dtype))

    def config(self):
        return {"rate": self.rate}


ACTIVATIONS = {"relu": ReLU, "leaky_relu": LeakyReLU, "tanh": Tanh, "sigmoid": Sigmoid}
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
