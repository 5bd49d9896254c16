"""Optimizers and learning-rate schedules.

An optimizer takes the model's parameters and gradients, two dicts with the same keys
(``"0.W"``, ``"0.b"``, ...), and updates the parameters in place::

    optimizer.step(params, grads, lr)

It owns its state (velocity, Adam's m and v, the step count t) in ``self.state``, keyed
``"<slot>.<param>"``. This is the plain code, as the papers write it; ``fit`` runs the same rules
through ``nnzero.engine``, which keeps its state in the same dict, in the form checkpoints store
(for Adam the weighted sums ``m_sum`` = m/(1−β₁) and ``v_sum`` = v/(1−β₂)), so a checkpoint resumes
exactly. Weight decay applies to weight matrices (ndim ≥ 2) only, never to biases.

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


def flush_period(beta):
    """k = min(64, ⌊ln 10⁻³ / ln β⌋): how often state decaying by β per step is flushed."""
    return int(min(64, max(1, math.floor(math.log(1e-3) / math.log(beta)))))


def flush_subnormals(a, beta):
    """Set to 0 the values of ``a`` below τ = tiny/βᵏ (k = ``flush_period(beta)``), in place.

    Run every k steps on state that is multiplied by β each step, it keeps that state out of the
    subnormal floats (|x| < tiny = 1.2e-38 in float32), where every multiply is many times slower
    on Intel cores: a value above τ takes k steps to fall to τ·βᵏ ≥ tiny, and τ ≤ 1000·tiny is far
    too small to matter to any update (Adam's ε is 1e-8)."""
    tau = np.finfo(a.dtype).tiny / beta ** flush_period(beta)
    np.putmask(a, np.less(np.abs(a), tau), 0)


class Optimizer:
    """Base class: a base learning rate, a schedule, and per-parameter state.

    ``step(params, grads, lr)`` is the plain update, array by array, as the papers write it.
    ``fit`` runs the same rules through its fast path (``nnzero.engine``), which keeps the state
    as the model file stores it (``saved_slots``); tests check the two paths agree.

    A new optimizer declares its ``name`` (how model files and the CLI call it) and its state
    ``slots``, writes ``update`` and ``config``, and is added to ``OPTIMIZERS`` below: the
    registries and the checkpoint format derive from these declarations.
    """

    name = None              # e.g. "adam"
    slots = ()               # e.g. ("m", "v"): one array per slot and parameter
    decoupled = False        # True: weight decay shrinks w directly (AdamW), not through g
    #: State slots that decay geometrically, each with the attribute holding its factor per step
    #: (Adam's m by β₁): they are kept out of the subnormal range (see ``flush_subnormals``).
    decaying = {}

    def __init__(self, lr, weight_decay=0.0, schedule=None):
        self.lr = _check_positive("learning rate", lr)
        self.weight_decay = _check_positive("weight_decay", weight_decay, allow_zero=True)
        self.schedule = get_schedule(schedule)
        self.state = {}
        self.t = 0

    def active_slots(self):
        """The state slots this instance keeps (all of ``slots`` unless its settings need fewer)."""
        return self.slots

    def lr_at(self, epoch, epochs):
        """The learning rate at fractional ``epoch`` of ``epochs`` (a Python float)."""
        return self.lr * float(self.schedule(epoch, epochs))

    def step(self, params, grads, lr=None):
        """Update every parameter in place, with learning rate ``lr`` (default: the base lr).
        ``params``, ``grads``: dicts of arrays with the same keys (``model.params``, ``model.grads``)."""
        self.t += 1
        lr = self.lr if lr is None else float(lr)
        for key, p in params.items():
            g = grads[key]
            if self.weight_decay and _decays(p):
                if self.decoupled:
                    p *= 1 - lr * self.weight_decay             # AdamW: shrink w directly
                else:
                    g = g + self.weight_decay * p               # L2: g + λ·w
            state = {slot: self._slot(slot, key, p) for slot in self.active_slots()}
            self.update(p, g, state, lr)
        for slot, attr in self.decaying.items():
            beta = getattr(self, attr)
            if beta > 0 and self.t % flush_period(beta) == 0:
                for key in params:
                    flush_subnormals(self.state[f"{slot}.{key}"], beta)

    def _slot(self, slot, key, like):
        """State array ``slot`` of parameter ``key`` (zeros at first)."""
        full = f"{slot}.{key}"
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

    def config(self):
        return {"lr": self.lr, "weight_decay": self.weight_decay, "schedule": self.schedule.config()}

    def __repr__(self):
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in self.config().items())})"


class SGD(Optimizer):
    """Gradient descent with optional (Nesterov) momentum, as ``torch.optim.SGD``.

    g ← g + λ·w  (weights only);   v ← μ·v + g;   step = g + μ·v (Nesterov) or v;   w ← w − lr·step.
    With μ = 0 this is plain w ← w − lr·g.
    """

    name = "sgd"
    slots = ("velocity",)
    decaying = {"velocity": "momentum"}

    def __init__(self, lr=0.01, momentum=0.0, nesterov=False, weight_decay=0.0, schedule=None):
        super().__init__(lr, weight_decay, schedule)
        self.momentum = _check_positive("momentum", momentum, allow_zero=True)
        if self.momentum >= 1:
            raise ConfigError(f"momentum must be in [0, 1), got {momentum!r}")
        if nesterov and self.momentum == 0:
            raise ConfigError("nesterov=True needs momentum > 0")
        self.nesterov = bool(nesterov)

    def active_slots(self):
        return self.slots if self.momentum else ()       # plain gradient descent keeps no state

    def update(self, p, g, state, lr):
        step = g
        if self.momentum:
            v = state["velocity"]
            v[...] = self.momentum * v + g
            step = g + self.momentum * v if self.nesterov else v
        p -= lr * step

    def config(self):
        return {**super().config(), "momentum": self.momentum, "nesterov": self.nesterov}


class Adam(Optimizer):
    """Adam (Kingma & Ba 2015, Algorithm 1), as ``torch.optim.Adam``; ``weight_decay`` is L2
    added to the gradient (weights only):

    m ← β₁·m + (1−β₁)·g;   v ← β₂·v + (1−β₂)·g²;   m̂ = m/(1−β₁ᵗ);   v̂ = v/(1−β₂ᵗ);
    w ← w − lr·m̂/(√v̂ + ε)
    """

    name = "adam"
    slots = ("m", "v")
    decaying = {"m": "beta1", "v": "beta2"}

    def __init__(self, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0, schedule=None):
        super().__init__(lr, weight_decay, schedule)
        for name, b in (("beta1", beta1), ("beta2", beta2)):
            if not 0 <= b < 1:
                raise ConfigError(f"Adam {name} must be in [0, 1), got {b!r}")
        self.beta1, self.beta2 = float(beta1), float(beta2)
        self.eps = _check_positive("eps", eps)

    def update(self, p, g, state, lr):
        b1, b2, t = self.beta1, self.beta2, self.t
        m, v = state["m"], state["v"]
        m[...] = b1 * m + (1 - b1) * g
        v[...] = b2 * v + (1 - b2) * g * g
        m_hat = m / (1 - b1 ** t)
        v_hat = v / (1 - b2 ** t)
        p -= lr * m_hat / (np.sqrt(v_hat) + self.eps)

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
