"""The machinery shared by nnzero's scikit-learn estimators: parameter checks, the network and
optimizer they describe, ``fit``/``partial_fit`` on an nnzero Sequential under scikit-learn's
objective and stopping rule (see :mod:`nnzero.sklearn`), and model files.
"""

import math
import warnings

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state
from sklearn.utils.class_weight import compute_class_weight
from sklearn.utils.validation import (
    _check_sample_weight,
    check_is_fitted,
    validate_data,
)

from .. import layers as L
from .. import optimizers, serialization
from ..callbacks import Callback
from ..errors import ConfigError, DataError, ModelFileError, is_int
from ..model import Sequential, as_dtype, mlp
from ..training import stratified_split

# The activation names the estimators take: nnzero's and scikit-learn's ('logistic', 'identity').
ACTIVATIONS = {**{name: name for name in L.ACTIVATIONS}, **L.SKLEARN_ACTIVATIONS}


class _FromEpoch:
    """``schedule`` evaluated ``offset`` epochs in, out of ``total``: partial_fit trains one epoch
    per call, so the schedule advances by one epoch per call over ``max_iter`` calls."""

    def __init__(self, schedule, offset, total):
        self.schedule, self.offset, self.total = schedule, offset, total

    def __call__(self, epoch, epochs):
        return self.schedule(self.offset + epoch, self.total)

    def config(self):
        return self.schedule.config()


class _Monitor(Callback):
    """sklearn's per-epoch bookkeeping and stopping rule, as an nnzero callback (see module doc)."""

    def __init__(self, est, decay, n_train, val):
        self.est, self.decay, self.n_train, self.val = est, decay, n_train, val
        self.stopped = False

    def on_epoch_end(self, epoch, logs=None):
        est = self.est
        penalty = 0.5 * self.decay * sum(float(np.dot(W.ravel(), W.ravel()))
                                           for W in self.model.params.values() if W.ndim == 2)
        est.loss_ = logs["loss"] + penalty
        est.loss_curve_.append(est.loss_)
        est.n_iter_ += 1
        est.t_ += self.n_train
        if self.val is not None:
            Xv, yv, wv = self.val
            score = est._score_fn(yv, est._predict_raw(Xv), sample_weight=wv)
            est.validation_scores_.append(score)
            if est.verbose:
                print(f"validation score {score:.6f}", flush=True)
            worse = score < est.best_validation_score_ + est.tol
            if score > est.best_validation_score_:
                est.best_validation_score_ = score
                est._best_weights = self.model.get_weights()
        else:
            worse = est.loss_ > est.best_loss_ - est.tol
            est.best_loss_ = min(est.best_loss_, est.loss_)
        est._no_improvement_count = est._no_improvement_count + 1 if worse else 0
        if est._no_improvement_count > est.n_iter_no_change:
            self.stopped = self.model.stop_training = True

    def on_train_end(self, logs=None):
        if self.val is not None and self.est._best_weights is not None:
            self.model.set_weights(self.est._best_weights)


class _BaseMLP(BaseEstimator):
    """The shared core of MLPClassifier and MLPRegressor; see the module docstring."""

    _is_classifier = False

    # -- settings ------------------------------------------------------------------------------
    def _settings(self):
        """Validate the parameters (sklearn: __init__ only stores them) → (hidden, dtype)."""
        sizes, vf = self.hidden_layer_sizes, self.validation_fraction
        hidden = tuple(sizes) if isinstance(sizes, (list, tuple, np.ndarray)) else (sizes,)
        if self.solver == "lbfgs":
            raise ConfigError("solver 'lbfgs' is not available: nnzero trains with mini-batch "
                              "gradients; use 'adam', 'sgd' or 'adamw'")
        for name, ok, expected in (
                ("hidden_layer_sizes", all(is_int(h, 1) for h in hidden), "positive integers"),
                ("activation", self.activation in ACTIVATIONS, f"one of {sorted(ACTIVATIONS)}"),
                ("solver", self.solver in ("adam", "sgd", "adamw"), "'adam', 'sgd' or 'adamw'"),
                ("max_iter", is_int(self.max_iter, 1), "a positive integer"),
                ("n_iter_no_change", is_int(self.n_iter_no_change, 1), "a positive integer"),
                ("alpha", _is_real(self.alpha), "a finite number ≥ 0"),
                ("tol", _is_real(self.tol), "a finite number ≥ 0"),
                ("batch_size", isinstance(self.batch_size, str) and self.batch_size == "auto"
                 or self.batch_size is None or is_int(self.batch_size, 1),
                 "'auto', None (full batch) or a positive integer"),
                ("validation_fraction", not self.early_stopping or _is_real(vf) and 0 < vf < 1, "in (0, 1)"),
                ("callbacks", self.callbacks is None or isinstance(self.callbacks, (list, tuple)),
                 "a list of nnzero callbacks")):
            if not ok:
                raise ConfigError(f"{name} must be {expected}, got {getattr(self, name)!r}")
        return hidden, None if self.dtype is None else as_dtype(self.dtype)

    def _build(self, hidden, n_features, n_outputs, dtype):
        return mlp(n_features, hidden, n_outputs, activation=ACTIVATIONS[self.activation], init="glorot",
                   dropout=self.dropout, softmax=self._is_classifier, dtype=dtype,
                   loss="cross_entropy" if self._is_classifier else "mse")

    def _make_optimizer(self):
        schedule = optimizers.get_schedule(self.schedule)
        if self.solver == "sgd":
            return optimizers.SGD(self.learning_rate_init, momentum=self.momentum, schedule=schedule,
                                  nesterov=bool(self.nesterovs_momentum and self.momentum))
        cls = optimizers.Adam if self.solver == "adam" else optimizers.AdamW
        return cls(self.learning_rate_init, beta1=self.beta_1, beta2=self.beta_2, eps=self.epsilon,
                   weight_decay=0.0, schedule=schedule)

    # -- training ------------------------------------------------------------------------------
    def _fit(self, X, y, sample_weight, partial, classes=None):
        hidden, dtype = self._settings()
        if partial and self.early_stopping:
            raise ConfigError("partial_fit does not support early_stopping=True")
        first = not hasattr(self, "model_") or not (partial or self.warm_start)
        if dtype is None:       # follow X, as scikit-learn does: float32 stays, anything else is float64
            dtype = self.model_.dtype if not first else (np.float64, np.float32)
        X, y = validate_data(self, X, y, reset=first, dtype=dtype, order="C",
                             multi_output=not self._is_classifier, y_numeric=not self._is_classifier)
        dtype = X.dtype
        target = self._encode_target(y, first, partial, classes, dtype)
        weight = self._weights(X, target, sample_weight, partial)
        if first:
            self.model_ = self._build(hidden, X.shape[1], self.n_outputs_, dtype)
            self._seeds = check_random_state(self.random_state)
            self.loss_curve_, self.t_ = [], 0
            self._no_improvement_count = 0
            self.best_loss_ = None if self.early_stopping else math.inf
            self.validation_scores_ = [] if self.early_stopping else None
            self.best_validation_score_ = -math.inf if self.early_stopping else None
        seed = int(self._seeds.randint(np.iinfo(np.int32).max))
        val = None
        if self.early_stopping:
            split_rng = np.random.default_rng(np.random.SeedSequence(seed).spawn(4)[3])  # 0-2: the core's
            tr, va = stratified_split(target if self._is_classifier else np.zeros(len(X)),
                                      self.validation_fraction, split_rng, stratify=self._is_classifier)
            if len(va) < 2:
                raise DataError(f"the validation set has {len(va)} sample(s) of {len(X)}: increase "
                                "validation_fraction or give more data")
            val = (X[va], target[va], None if weight is None else weight[va])
            X, target, weight = X[tr], target[tr], None if weight is None else weight[tr]
            self._best_weights = None
        n = len(X)
        m = min(200, n) if self.batch_size == "auto" else n if self.batch_size is None else min(self.batch_size, n)
        mean_w = 1.0 if weight is None else float(weight.mean())
        if mean_w == 0:
            raise DataError("sample weights are all zero on the training part; at least one must be > 0")
        core_weight = None if weight is None else weight / mean_w
        if not self._is_classifier:  # the core's MSE is Σ(ŷ−y)²; sklearn's loss is half of it
            core_weight = np.full(n, 0.5) if core_weight is None else 0.5 * core_weight
        if first or not partial or not hasattr(self, "_optimizer"):   # warm_start: new optimizer, as sklearn
            self._optimizer = self._make_optimizer()
        opt = self._optimizer
        decay = self.alpha / (m * mean_w)
        opt.weight_decay = float(self.alpha) if self.solver == "adamw" else decay
        base = opt.schedule.schedule if isinstance(opt.schedule, _FromEpoch) else opt.schedule
        opt.schedule = _FromEpoch(base, len(self.loss_curve_), self.max_iter) if partial else base
        self.n_iter_ = 0
        monitor = _Monitor(self, 0.0 if self.solver == "adamw" else decay, n, val)
        self.model_.fit(X, target, epochs=1 if partial else self.max_iter, batch_size=m, optimizer=opt,
                        callbacks=[monitor, *(self.callbacks or [])], seed=seed,
                        verbose=min(int(self.verbose), 2), shuffle=self.shuffle, sample_weight=core_weight,
                        classes=np.arange(len(self.classes_)) if self._is_classifier else None)
        self.history_ = self.model_.history
        self._sync()
        if not partial and not monitor.stopped and self.n_iter_ == self.max_iter:
            warnings.warn(f"{type(self).__name__}: max_iter={self.max_iter} epochs reached and the "
                          f"optimization hasn't converged yet (tol={self.tol}).", ConvergenceWarning, stacklevel=3)
        return self

    def _sync(self):
        """Point the learned attributes at the model's arrays (no copies)."""
        dense = [layer for layer in self.model_.layers if isinstance(layer, L.Dense)]
        self.coefs_ = [d.params["W"] for d in dense]
        self.intercepts_ = [d.params["b"] for d in dense]
        self.n_layers_ = len(dense) + 1
        self.out_activation_ = "softmax" if self._is_classifier else "identity"
        if self._is_classifier:
            self.model_.classes_ = self.classes_     # so model_.predict and saved files give labels

    def _weights(self, X, target, sample_weight, partial):
        """Per-row weights (float64, (n,)) from sample_weight × class_weight, or None."""
        cw = getattr(self, "class_weight", None)
        if sample_weight is None and cw is None:
            return None
        w = _check_sample_weight(sample_weight, X, dtype=np.float64, ensure_non_negative=True)
        if cw is not None:
            if partial and cw == "balanced":
                raise ConfigError("class_weight='balanced' needs the whole data set: not supported in "
                                  "partial_fit; pass a dict of class weights")
            per_class = compute_class_weight(cw, classes=self.classes_, y=self.classes_[target])
            w = w * per_class[target]
        return w

    def _predict_raw(self, X):
        """Model outputs for validated X: class indices, or (n, k) regression outputs."""
        if self._is_classifier:
            return self.model_.predict_proba(X).argmax(axis=1)
        return self.model_.predict(X)

    def _check_predict_input(self, X):
        check_is_fitted(self)
        return validate_data(self, X, reset=False, dtype=self.model_.dtype, order="C")

    # -- files ---------------------------------------------------------------------------------
    def save(self, path):
        """Write a safetensors model file (see :mod:`nnzero.serialization`): the network, ``classes_``, and
        under ``training["sklearn"]`` this estimator's parameters and curves. Callbacks are not
        saved. ``nz.load(path)`` reads it as a plain Sequential whose ``predict`` gives labels."""
        check_is_fitted(self)
        params = {k: v for k, v in self.get_params().items() if k != "callbacks"}
        if params["schedule"] is not None:
            params["schedule"] = optimizers.get_schedule(params["schedule"]).config()
        params["hidden_layer_sizes"] = list(self._settings()[0])
        model = self.model_
        if self._is_classifier and self.classes_.dtype == object:   # e.g. strings in an object array
            model.classes_ = self.classes_.astype(str)
        try:
            serialization.save(model, path, training={"sklearn": {
                "estimator": type(self).__name__, "params": params, "loss_curve": self.loss_curve_,
                "validation_scores": self.validation_scores_, "n_iter": self.n_iter_, "t": self.t_}})
        finally:
            self._sync()

    @classmethod
    def load(cls, path):
        """The fitted estimator saved by :meth:`save` at ``path``, ready to predict (and to go on
        with ``partial_fit`` or ``warm_start``, with a fresh optimizer). Raises ModelFileError."""
        model = serialization.load(path)
        meta = (model.metadata.get("training") or {}).get("sklearn")
        if not isinstance(meta, dict) or meta.get("estimator") != cls.__name__:
            found = meta.get("estimator") if isinstance(meta, dict) else "a plain nnzero model"
            raise ModelFileError(f"{path}: expected a file written by {cls.__name__}.save, found {found!r}")
        try:
            params = dict(meta["params"])
            params["hidden_layer_sizes"] = tuple(params["hidden_layer_sizes"])
            est = cls(**params)
            hidden, dtype = est._settings()
            expected = est._build(hidden, model.n_features, model.n_outputs, dtype or model.dtype).config()
            curve = [float(v) for v in meta["loss_curve"]]
            scores = None if meta["validation_scores"] is None else [float(v) for v in meta["validation_scores"]]
            n_iter, t = int(meta["n_iter"]), int(meta["t"])
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelFileError(f"{path}: invalid {cls.__name__} settings: {exc}") from None
        if expected != model.config():
            raise ModelFileError(f"{path}: the network does not match the saved {cls.__name__} parameters")
        est.model_, est.n_features_in_, est.n_outputs_ = model, model.n_features, model.n_outputs
        if cls._is_classifier:
            est.classes_ = np.asarray(model.classes_)
        est.loss_curve_, est.validation_scores_, est.n_iter_, est.t_ = curve, scores, n_iter, t
        est.loss_ = curve[-1] if curve else None
        est.best_loss_ = None if est.early_stopping else min(curve, default=math.inf)
        est.best_validation_score_ = max(scores or [], default=-math.inf) if est.early_stopping else None
        est.history_ = model.history
        est._seeds, est._no_improvement_count = check_random_state(est.random_state), 0
        est._sync()
        return est

    @classmethod
    def from_model(cls, model):
        """A fitted estimator around an nnzero network (a Sequential or a model-file path), such
        as one from ``nnzero train``, ``nz.from_sklearn`` or ``nz.from_torch``. Hidden sizes,
        activation, dropout and dtype are read off the network, which must have this estimator's
        shape: (Dense → activation (→ Dropout)) per hidden layer, Dense (→ Softmax). The estimator
        takes rows as they are, so a file's 'scale' or 'standardize' preprocessing is folded into
        the first layer (W ← W/σ, b ← b − (μ/σ)·W); 'binarize' is an error (put
        ``sklearn.preprocessing.Binarizer`` in front)."""
        import copy

        from ..serialization import load

        model = load(model) if isinstance(model, (str, bytes)) or hasattr(model, "__fspath__") else copy.deepcopy(model)
        if not isinstance(model, Sequential) or not model.built:
            raise ConfigError(f"{cls.__name__}.from_model expected a fitted nnzero Sequential or a model file, got {model!r:.80}")
        names = {L.ReLU: "relu", L.LeakyReLU: "leaky_relu", L.Tanh: "tanh", L.Sigmoid: "logistic"}
        acts = {names[type(layer)] for layer in model.layers if type(layer) in names}
        rates = {layer.rate for layer in model.layers if isinstance(layer, L.Dropout)}
        dense = [layer for layer in model.layers if isinstance(layer, L.Dense)]
        est = cls(hidden_layer_sizes=tuple(d.n_out for d in dense[:-1]), activation=(acts or {"identity"}).pop(),
                  dropout=rates.pop() if len(rates) == 1 else 0.0, dtype=model.dtype.name)
        describe = lambda m: [(type(layer).__name__, {k: v for k, v in layer.config().items() if k != "init"})
                              for layer in m.layers]
        hidden, dtype = est._settings()
        if (len(acts) > 1 or rates or model.is_classifier != cls._is_classifier
                or describe(est._build(hidden, model.n_features, model.n_outputs, dtype)) != describe(model)):
            raise ConfigError(f"{cls.__name__}.from_model: the network {[name for name, _ in describe(model)]} "
                              f"does not have the shape of {cls.__name__}({hidden}, activation={est.activation!r})")
        spec = (getattr(model, "metadata", None) or {}).get("preprocessing") or {"kind": "none"}
        if spec["kind"] == "binarize":
            raise ConfigError(f"{cls.__name__}.from_model: the model binarizes its input; use "
                              f"make_pipeline(Binarizer(threshold={spec['threshold']}), {cls.__name__}.from_model(...))")
        W, b = dense[0].params["W"], dense[0].params["b"]
        if spec["kind"] == "scale":             # (f·x)·W = x·(f·W)
            W *= W.dtype.type(spec["factor"])
        elif spec["kind"] == "standardize":     # ((x − μ)/σ)·W + b = x·(W/σ) + (b − (μ/σ)·W)
            mu, sigma = np.asarray(spec["mean"]), np.asarray(spec["std"])
            b -= ((mu / sigma) @ W).astype(b.dtype)
            W /= sigma[:, None].astype(W.dtype)
        est.model_, est.n_features_in_, est.n_outputs_ = model, model.n_features, model.n_outputs
        if cls._is_classifier:
            est.classes_ = np.asarray(model.classes_ if model.classes_ is not None else np.arange(model.n_outputs))
        est.loss_curve_, est.validation_scores_, est.n_iter_, est.t_, est.loss_ = [], None, 0, 0, None
        est.best_loss_, est.best_validation_score_, est.history_ = math.inf, None, model.history
        est._seeds, est._no_improvement_count = check_random_state(est.random_state), 0
        est._sync()
        return est


def _is_real(v):
    return isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool) and 0 <= v < math.inf
