"""Optimizers and learning-rate schedules.

An optimizer takes the model's parameters and gradients, two dicts with the same keys
(``"0.W"``, ``"0.b"``, ...), and updates the parameters in place::

    optimizer.step(params, grads, lr)

It owns its state (velocity, Adam's m and v, the step count t) in ``self.state``, keyed the
same way, so a checkpoint can save and restore it exactly. Weight decay applies to weight
matrices (ndim ≥ 2) only, never to biases.

A schedule maps training progress to a multiplier of the base learning rate:
``lr = optimizer.lr · schedule(epoch, epochs)`` where ``epoch`` is fractional (batch 3 of 10 in
the second epoch is 1.3), evaluated at every step.
"""

import math

import numpy as np

from .errors import ConfigError


def _check_positive(name, value, allow_zero=False):
    ok = isinstance(value, (int, float, np.floating, np.integer)) and not isinstance(value, bool)
    if not ok or not math.isfinite(value) or value < 0 or (value == 0 and not allow_zero):
        bound = "≥ 0" if allow_zero else "> 0"
        raise ConfigError(f"{name} must be a finite number {bound}, got {value!r}")
    return float(value)


def _decays(p):
    """Weight decay applies to matrices, not to bias vectors."""
    return p.ndim >= 2


FLAT = "*"   # the key under which the flat path updates all parameters at once


class Optimizer:
    """Base class: a base learning rate, a schedule, and per-parameter state.

    A new optimizer declares its ``name`` (how model files and the CLI call it) and its state
    ``slots`` (one array per slot and parameter, saved as ``optimizer.<slot>.<param>`` in
    checkpoints), writes ``_update`` and ``config``, and is added to ``OPTIMIZERS`` below:
    the registries and the checkpoint format derive from these declarations.
    """

    name = None              # e.g. "adam"
    slots = ()               # e.g. ("m_sum", "v_sum")
    decoupled = False        # True: weight decay shrinks w directly (AdamW), not through g
    #: State slots that decay geometrically, each with the attribute holding its factor per step
    #: (Adam's m by β₁): they are kept out of the subnormal range (see ``_flush_subnormals``).
    decaying = {}

    def __init__(self, lr, weight_decay=0.0, schedule=None):
        self.lr = _check_positive("learning rate", lr)
        self.weight_decay = _check_positive("weight_decay", weight_decay, allow_zero=True)
        self.schedule = get_schedule(schedule)
        self.state = {}
        self.t = 0
        self._tmp = {}
        self._flat = {}

    def active_slots(self):
        """The state slots this instance keeps (all of ``slots`` unless its settings need fewer)."""
        return self.slots

    def lr_at(self, epoch, epochs):
        """The learning rate at fractional ``epoch`` of ``epochs`` (a Python float)."""
        return self.lr * float(self.schedule(epoch, epochs))

    def step(self, params, grads, lr=None, flat=None):
        """Update every parameter in place, with learning rate ``lr`` (default: the base lr).

        ``flat=(p, g)``: the same parameters and gradients as two vectors of which the arrays in
        ``params``/``grads`` are consecutive views, in order (``Sequential.flat_parameters()``).
        The update is elementwise, so running it once over the vectors gives bit-for-bit the
        result of running it array by array, with a few NumPy calls instead of a few per array.
        """
        self.t += 1
        lr = self.lr if lr is None else float(lr)
        decay = self.weight_decay
        if decay and self.decoupled:
            for p in params.values():
                if _decays(p):
                    p *= 1 - lr * decay                       # AdamW: shrink w directly
        if flat is not None:
            p, g = flat
            if decay and not self.decoupled:
                g = self._l2_flat(params, g)
            self._layout = params
            self._update(FLAT, p, g, lr)
        else:
            for key, p in params.items():
                g = grads[key]
                if decay and not self.decoupled and _decays(p):
                    g = self._plus_scaled(key, g, decay, p)        # g + λ·w
                self._update(key, p, g, lr)
        self._flush_subnormals()

    def _flush_subnormals(self):
        """Every k steps, set to 0 the state values below a threshold τ, so that none decays into
        the subnormal floats (|x| < tiny = 1.2e-38 in float32), where every multiply is many times
        slower on Intel cores. A slot multiplied by β each step takes k steps to fall from τ to
        τ·βᵏ; with k = min(64, ⌊ln 10⁻³ / ln β⌋) and τ = tiny/βᵏ that is still ≥ tiny, and τ ≤
        1000·tiny is far too small for the value to matter to any update (Adam's ε is 1e-8)."""
        for slot, attr in self.decaying.items():
            beta = getattr(self, attr)
            if beta <= 0:
                continue                                       # nothing decays: the slot is g itself
            k = int(min(64, max(1, math.floor(math.log(1e-3) / math.log(beta)))))
            if self.t % k:
                continue
            prefix = slot + "."
            for key, a in self.state.items():
                if key.startswith(prefix):
                    tau = np.finfo(a.dtype).tiny / beta ** k
                    np.putmask(a, np.less(np.abs(a), tau), 0)

    def _l2_flat(self, params, g):
        """g + λ·w for the weight matrices, g for the biases, as one vector."""
        out, tmp = self._scratch(FLAT, g), self._scratch("tmp." + FLAT, g)
        np.copyto(out, g)
        outs, tmps = _split(out, params), _split(tmp, params)
        for key, w in params.items():
            if _decays(w):
                outs[key] += np.multiply(w, self.weight_decay, out=tmps[key])
        return out

    def _scratch(self, key, like):
        buf = self._tmp.get(key)
        if buf is None or buf.shape != like.shape or buf.dtype != like.dtype:
            buf = self._tmp[key] = np.empty_like(like)
        return buf

    def _plus_scaled(self, key, g, c, a):
        """g + c·a into this parameter's scratch buffer, with no temporary array.
        (``g`` may itself be that buffer.)"""
        out = self._scratch(key, a)
        if out is g:
            out += np.multiply(a, c, out=self._scratch("tmp." + key, a))
        else:
            np.multiply(a, c, out=out)
            out += g
        return out

    def _slot(self, name, key, like):
        """State array ``name`` of parameter ``key`` (zeros at first). For the flat path, one
        vector whose consecutive views are the per-parameter arrays in ``self.state``, so that
        checkpoints stay per parameter whichever path wrote them."""
        if key == FLAT:
            flat = self._flat.get(name)
            if flat is None or flat.shape != like.shape or flat.dtype != like.dtype:
                flat = self._flat[name] = np.zeros_like(like)
                for k, view in _split(flat, self._layout).items():
                    old = self.state.get(f"{name}.{k}")
                    if old is not None:
                        view[...] = old
                    self.state[f"{name}.{k}"] = view
            return flat
        full = f"{name}.{key}"
        if full not in self.state:
            self.state[full] = np.zeros_like(like)
        return self.state[full]

    # -- state for checkpoints -----------------------------------------------------------------
    def state_dict(self):
        """Arrays (copies) and the step count: everything needed to resume exactly."""
        return {"t": self.t, "arrays": {k: v.copy() for k, v in self.state.items()}}

    def load_state_dict(self, state):
        self.t = int(state["t"])
        self.state = {k: np.array(v, copy=True) for k, v in state["arrays"].items()}
        self._flat = {}                      # rebuilt from self.state at the next flat step

    def __getstate__(self):
        # Pickles and deep copies keep the per-parameter state; flat vectors and scratch space
        # are rebuilt on the next step (a copy of views would no longer share memory).
        state = dict(self.__dict__)
        state.update(_tmp={}, _flat={})
        state.pop("_layout", None)
        return state

    def config(self):
        return {"lr": self.lr, "weight_decay": self.weight_decay, "schedule": self.schedule.config()}

    def __repr__(self):
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in self.config().items())})"


def _split(flat, like):
    """Consecutive views of vector ``flat`` shaped like the arrays of dict ``like``."""
    views, offset = {}, 0
    for key, a in like.items():
        views[key] = flat[offset:offset + a.size].reshape(a.shape)
        offset += a.size
    return views


class SGD(Optimizer):
    """Gradient descent with optional (Nesterov) momentum, as ``torch.optim.SGD``.

    g ← g + λ·w  (weights only);   v ← μ·v + g;   step = g + μ·v (Nesterov) or v;   w ← w − lr·step.
    With μ = 0 this is plain w ← w − lr·g.
    """

    decaying = {"velocity": "momentum"}

    name = "sgd"
    slots = ("velocity",)

    def active_slots(self):
        return self.slots if self.momentum else ()       # plain gradient descent keeps no state

    def __init__(self, lr=0.01, momentum=0.0, nesterov=False, weight_decay=0.0, schedule=None):
        super().__init__(lr, weight_decay, schedule)
        self.momentum = _check_positive("momentum", momentum, allow_zero=True)
        if self.momentum >= 1:
            raise ConfigError(f"momentum must be in [0, 1), got {momentum!r}")
        if nesterov and self.momentum == 0:
            raise ConfigError("nesterov=True needs momentum > 0")
        self.nesterov = bool(nesterov)

    def _update(self, key, p, g, lr):
        if self.momentum:
            v = self._slot("velocity", key, p)
            v *= self.momentum
            v += g
            if self.nesterov:
                g = self._plus_scaled(key, g, self.momentum, v)       # g + μ·v
            else:
                g = v
        # g is the gradient, v, or the key's scratch buffer: never "tmp." + key, free for lr·g.
        p -= np.multiply(g, lr, out=self._scratch("tmp." + key, p))

    def config(self):
        return {**super().config(), "momentum": self.momentum, "nesterov": self.nesterov}


class Adam(Optimizer):
    """Adam (Kingma & Ba), as ``torch.optim.Adam``; ``weight_decay`` is L2 added to the gradient.

    g ← g + λ·w (weights only);  m ← β₁m + (1−β₁)g;  v ← β₂v + (1−β₂)g²;
    w ← w − lr · (m / (1−β₁ᵗ)) / (√(v / (1−β₂ᵗ)) + ε)

    The averages are kept as weighted sums, two passes fewer per step than the EMAs (see
    ``_update``): state ``m_sum`` = Σᵢ β₁^(t−i)·gᵢ = m/(1−β₁) and ``v_sum`` = Σᵢ β₂^(t−i)·gᵢ².
    """

    name = "adam"
    slots = ("m_sum", "v_sum")
    decaying = {"m_sum": "beta1", "v_sum": "beta2"}

    def __init__(self, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0, schedule=None):
        super().__init__(lr, weight_decay, schedule)
        for name, b in (("beta1", beta1), ("beta2", beta2)):
            if not 0 <= b < 1:
                raise ConfigError(f"Adam {name} must be in [0, 1), got {b!r}")
        self.beta1, self.beta2 = float(beta1), float(beta2)
        self.eps = _check_positive("eps", eps)

    def _update(self, key, p, g, lr):
        # Bias correction is division by the total weight: with W₁ = Σ_{i<t} β₁^i = (1−β₁ᵗ)/(1−β₁),
        # m / (1−β₁ᵗ) = m_sum / W₁, the weighted average of the gradients so far (v likewise).
        m, v = self._slot("m_sum", key, p), self._slot("v_sum", key, p)
        tmp = self._scratch("tmp." + key, p)
        b1, b2, t = self.beta1, self.beta2, self.t
        m *= b1
        m += g                                                 # m_sum ← β₁·m_sum + g
        v *= b2
        v += np.multiply(g, g, out=tmp)                        # v_sum ← β₂·v_sum + g²
        w1, w2 = (1 - b1 ** t) / (1 - b1), (1 - b2 ** t) / (1 - b2)
        # lr·(m_sum/W₁) / (√(v_sum/W₂) + ε)  =  (lr·√W₂/W₁) · m_sum / (√v_sum + ε·√W₂)
        np.sqrt(v, out=tmp)
        tmp += self.eps * math.sqrt(w2)
        np.divide(m, tmp, out=tmp)
        tmp *= lr * math.sqrt(w2) / w1
        p -= tmp

    def config(self):
        return {**super().config(), "beta1": self.beta1, "beta2": self.beta2, "eps": self.eps}


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter), as ``torch.optim.AdamW``:
    w ← w·(1 − lr·λ) before the Adam step, weights only. Default λ = 0.01 as in PyTorch."""

    name = "adamw"
    decoupled = True

    def __init__(self, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.01, schedule=None):
        super().__init__(lr, beta1, beta2, eps, weight_decay, schedule)


OPTIMIZERS = {cls.name: cls for cls in (SGD, Adam, AdamW)}


def get(name, **kwargs):
    """An optimizer from its name ('sgd', 'adam', 'adamw') and keyword arguments."""
    try:
        cls = OPTIMIZERS[str(name).lower()]
    except KeyError:
        raise ConfigError(f"unknown optimizer {name!r}; expected one of {sorted(OPTIMIZERS)}") from None
    return cls(**kwargs)


# ---------------------------------------------------------------------------------------------
# Learning-rate schedules: callables (epoch: float, epochs: int) -> multiplier of the base lr.
# ---------------------------------------------------------------------------------------------


class Schedule:
    def config(self):
        return {"name": self.name, **vars(self)}

    def __repr__(self):
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in vars(self).items())})"


class Constant(Schedule):
    """factor = 1."""

    name = "constant"

    def __call__(self, epoch, epochs):
        return 1.0


class StepDecay(Schedule):
    """factor = γ^⌊epoch / step_size⌋: multiply the lr by γ every ``step_size`` epochs."""

    name = "step"

    def __init__(self, step_size=10, gamma=0.1):
        self.step_size = _check_positive("step_size", step_size)
        self.gamma = _check_positive("gamma", gamma)

    def __call__(self, epoch, epochs):
        return self.gamma ** math.floor(epoch / self.step_size + 1e-9)


class Cosine(Schedule):
    """factor = f_min + (1 − f_min)·(1 + cos(π·e/E))/2 after a linear warm-up of ``warmup`` epochs,
    where e counts from the end of warm-up and E = epochs − warmup. Ends at ``min_factor``."""

    name = "cosine"

    def __init__(self, warmup=0.0, min_factor=0.0):
        self.warmup = _check_positive("warmup", warmup, allow_zero=True)
        self.min_factor = _check_positive("min_factor", min_factor, allow_zero=True)

    def __call__(self, epoch, epochs):
        if epoch < self.warmup:
            return max(epoch / self.warmup, 0.01)
        span = max(epochs - self.warmup, 1e-12)
        frac = min((epoch - self.warmup) / span, 1.0)
        return self.min_factor + (1 - self.min_factor) * 0.5 * (1 + math.cos(math.pi * frac))


class Warmup(Schedule):
    """Linear warm-up from 0.01 to 1 over ``epochs`` epochs, then constant."""

    name = "warmup"

    def __init__(self, warmup=1.0):
        self.warmup = _check_positive("warmup", warmup)

    def __call__(self, epoch, epochs):
        return min(1.0, max(epoch / self.warmup, 0.01))


SCHEDULES = {"constant": Constant, "step": StepDecay, "cosine": Cosine, "warmup": Warmup}


def get_schedule(schedule):
    """A schedule from None (constant), a name, a config dict or an instance."""
    if schedule is None:
        return Constant()
    if isinstance(schedule, Schedule):
        return schedule
    if isinstance(schedule, str):
        schedule = {"name": schedule}
    if isinstance(schedule, dict):
        kwargs = dict(schedule)
        name = kwargs.pop("name", None)
        if name in SCHEDULES:
            try:
                return SCHEDULES[name](**kwargs)
            except TypeError as exc:
                raise ConfigError(f"bad settings for schedule {name!r}: {exc}") from None
        raise ConfigError(f"unknown schedule {name!r}; expected one of {sorted(SCHEDULES)}")
    if callable(schedule):
        return schedule
    raise ConfigError(f"schedule must be a name, dict or Schedule, got {type(schedule).__name__}")
