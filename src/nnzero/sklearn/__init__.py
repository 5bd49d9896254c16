"""scikit-learn estimators on the nnzero core: ``MLPClassifier`` and ``MLPRegressor``.

    from nnzero.sklearn import MLPClassifier
    clf = make_pipeline(StandardScaler(), MLPClassifier((256, 128), dropout=0.2, early_stopping=True))
    clf.fit(X, y).score(X_test, y_test)

Parameters mean what they mean in ``sklearn.neural_network.MLPClassifier``; ours are ``dropout``
(rate after each hidden activation), ``dtype`` (None: X's float type, as scikit-learn's own MLP;
'float32', the fast one, or 'float64' to force one),
``schedule`` (nnzero's 'constant', 'cosine', 'step', 'warmup' or a config dict, over ``max_iter``
epochs; it replaces sklearn's ``learning_rate``/``power_t``), ``callbacks`` (nnzero callbacks,
e.g. ``nz.EarlyStopping``) and, for the classifier, ``class_weight``. Differences: solvers are
'adam', 'sgd' and 'adamw' (no 'lbfgs'); weights start Glorot-uniform as in sklearn, biases at
zero; the output is a softmax over every class, two included: ``coefs_[-1]`` is (n_hidden, n_classes).

Objective, the same as sklearn's, so ``alpha`` and ``learning_rate_init`` carry over: with
sample weights w_i (``sample_weight`` × ``class_weight``; all 1 by default)

    J = Σ_i w_i·ℓ_i / Σ_i w_i  +  α / (2·Σ_i w_i) · Σ_layers ‖W‖²      (biases are not penalised)

ℓ is the cross-entropy, or half the squared error averaged over outputs. A batch of m rows is
given weights w/mean(w) (×½ for the regressor) and the penalty becomes weight decay
λ = α/(m·mean(w)) in the optimizer (g ← g + λ·W, weights only). Full-batch this is exactly J;
per mini-batch it is sklearn's batch objective in expectation. With solver='adamw', ``alpha`` is
instead AdamW's decoupled decay (W ← W·(1 − lr·α) each step) and adds nothing to the loss.

Stopping follows sklearn: after each epoch the loss (with its penalty) is appended to
``loss_curve_``; training stops once it has not fallen below ``best_loss_ − tol`` for more than
``n_iter_no_change`` epochs, or, with ``early_stopping``, once the held-out score (accuracy, or
R² for the regressor, on a stratified ``validation_fraction`` of the data) has not risen above
best + tol; the weights of the best score are then restored. Reaching ``max_iter`` first emits
a ``ConvergenceWarning``. Fitted models save to nnzero's safetensors files: ``est.save(path)``,
``MLPClassifier.load(path)``.
"""

import numpy as np

try:
    from sklearn.base import ClassifierMixin, RegressorMixin
    from sklearn.metrics import accuracy_score, r2_score
    from sklearn.utils.multiclass import check_classification_targets
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError("nnzero.sklearn needs scikit-learn: pip install 'nnzero[sklearn]'") from exc

from ..errors import ConfigError, DataError
from .base import _BaseMLP

__all__ = ["MLPClassifier", "MLPRegressor"]


def _store_params(est, params):
    """sklearn's rule for __init__: store every argument as given, validate nothing."""
    for name, value in params.items():
        if name not in ("self", "__class__"):
            setattr(est, name, value)


_COMMON_DOC = """
    hidden_layer_sizes : int or tuple of int, default (100,)   width of each hidden layer.
    activation : 'relu' | 'tanh' | 'logistic' | 'identity' | 'leaky_relu', default 'relu'.
    solver : 'adam' | 'sgd' | 'adamw', default 'adam'.
    alpha : float, default 1e-4   L2 strength (see the module docstring for the exact mapping).
    batch_size : 'auto' (= min(200, n)) | int | None (full batch).
    learning_rate_init : float, default 1e-3.    max_iter : int, default 200 (epochs).
    shuffle, random_state, tol, verbose, warm_start, momentum, nesterovs_momentum,
    early_stopping, validation_fraction, beta_1, beta_2, epsilon, n_iter_no_change : as sklearn.
    dropout : float in [0, 1), default 0   dropout rate after each hidden activation.
    dtype : None (default) | 'float32' | 'float64'   the one float type of weights and computation;
        None follows X as scikit-learn does (float32 X → float32, anything else → float64).
    schedule : None | 'cosine' | 'step' | 'warmup' | dict | Schedule   learning-rate schedule.
    callbacks : list of nnzero callbacks, called every epoch (``self.model`` is ``model_``).

    Attributes: ``model_`` (the nnzero Sequential), ``history_`` (its History of the last call),
    ``coefs_``/``intercepts_`` (the model's own arrays, W (n_in, n_out) and b (n_out,) per layer),
    ``loss_curve_``, ``loss_``, ``best_loss_``, ``validation_scores_``, ``best_validation_score_``,
    ``n_iter_`` (epochs of the last call), ``t_``, ``n_features_in_``, ``n_outputs_``, ``n_layers_``.
"""


class MLPClassifier(ClassifierMixin, _BaseMLP):
    __doc__ = """A multi-layer perceptron classifier trained by nnzero (softmax output, cross-entropy).

    class_weight : None | 'balanced' | {label: weight}   multiplies ``sample_weight`` per class.
    """ + _COMMON_DOC + """    ``classes_`` : the sorted labels, any type (strings too).
    """

    _is_classifier = True
    _score_fn = staticmethod(accuracy_score)

    def __init__(self, hidden_layer_sizes=(100,), activation="relu", *, solver="adam", alpha=1e-4,
                 batch_size="auto", learning_rate_init=1e-3, max_iter=200, shuffle=True,
                 random_state=None, tol=1e-4, verbose=False, warm_start=False, momentum=0.9,
                 nesterovs_momentum=True, early_stopping=False, validation_fraction=0.1, beta_1=0.9,
                 beta_2=0.999, epsilon=1e-8, n_iter_no_change=10, dropout=0.0, dtype=None,
                 schedule=None, callbacks=None, class_weight=None):
        _store_params(self, locals())

    def fit(self, X, y, sample_weight=None):
        """Train on X (n, d) and labels y (n,) of any type for ``max_iter`` epochs (or until
        converged); returns self."""
        return self._fit(X, y, sample_weight, partial=False)

    def partial_fit(self, X, y, sample_weight=None, classes=None):
        """One epoch over (X, y), keeping the weights and the optimizer's state between calls.
        ``classes`` (every label that will ever appear) is required on the first call."""
        return self._fit(X, y, sample_weight, partial=True, classes=classes)

    def _encode_target(self, y, first, partial, classes, dtype):
        """Labels → indices into ``classes_`` (int64, (n,)); sets ``classes_`` on a first call."""
        check_classification_targets(y)
        if first:
            if partial and classes is None:
                raise ConfigError("classes must be passed on the first call to partial_fit")
            labels = np.unique(y if classes is None else classes)
            if len(labels) < 2:
                raise DataError(f"{type(self).__name__} needs at least 2 classes; y has 1 class, {labels[0]!r}")
            self.classes_ = labels
            self.n_outputs_ = len(labels)
        elif classes is not None and not np.array_equal(np.unique(classes), self.classes_):
            raise DataError(f"classes={np.unique(classes).tolist()} differ from the classes of the "
                            f"first call, {self.classes_.tolist()}")
        pos = np.minimum(np.searchsorted(self.classes_, y), len(self.classes_) - 1)
        unknown = self.classes_[pos] != y
        if unknown.any():
            raise DataError(f"y has labels {np.unique(y[unknown])[:5].tolist()} that are not among "
                            f"classes_ {self.classes_.tolist()}")
        if not partial and not first and len(np.unique(pos)) != len(self.classes_):
            raise DataError(f"warm_start needs y with the classes of the previous fit, "
                            f"{self.classes_.tolist()}; y has {np.unique(y).tolist()}")
        return pos.astype(np.int64)

    def predict_proba(self, X):
        """Class probabilities (n, n_classes), columns in ``classes_`` order, rows summing to 1."""
        X = self._check_predict_input(X)
        return self.model_.predict_proba(X).astype(np.float64)

    def predict_log_proba(self, X):
        """log of :meth:`predict_proba`."""
        return np.log(self.predict_proba(X))

    def predict(self, X):
        """Labels (n,) from ``classes_``: the most probable class of each row."""
        idx = self._predict_raw(self._check_predict_input(X))
        return self.classes_[idx]


class MLPRegressor(RegressorMixin, _BaseMLP):
    __doc__ = """A multi-layer perceptron regressor trained by nnzero (linear output, squared error).
    y may be (n,) or (n, k): several outputs are fitted jointly.
    """ + _COMMON_DOC

    _score_fn = staticmethod(r2_score)

    def __init__(self, hidden_layer_sizes=(100,), activation="relu", *, solver="adam", alpha=1e-4,
                 batch_size="auto", learning_rate_init=1e-3, max_iter=200, shuffle=True,
                 random_state=None, tol=1e-4, verbose=False, warm_start=False, momentum=0.9,
                 nesterovs_momentum=True, early_stopping=False, validation_fraction=0.1, beta_1=0.9,
                 beta_2=0.999, epsilon=1e-8, n_iter_no_change=10, dropout=0.0, dtype=None,
                 schedule=None, callbacks=None):
        _store_params(self, locals())

    def fit(self, X, y, sample_weight=None):
        """Train on X (n, d) and targets y (n,) or (n, k); returns self."""
        return self._fit(X, y, sample_weight, partial=False)

    def partial_fit(self, X, y, sample_weight=None):
        """One epoch over (X, y), keeping the weights and the optimizer's state between calls."""
        return self._fit(X, y, sample_weight, partial=True)

    def _encode_target(self, y, first, partial, classes, dtype):
        y = y.reshape(len(y), -1)
        if first:
            self.n_outputs_ = y.shape[1]
        elif y.shape[1] != self.n_outputs_:
            raise DataError(f"y has {y.shape[1]} outputs, but the model was fitted with {self.n_outputs_}")
        return np.ascontiguousarray(y, dtype=dtype)

    def predict(self, X):
        """Predictions (n,) for one output, (n, k) for k."""
        out = self._predict_raw(self._check_predict_input(X)).astype(np.float64)
        return out.ravel() if self.n_outputs_ == 1 else out

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags
