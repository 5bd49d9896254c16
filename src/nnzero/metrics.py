"""Classification metrics on integer or arbitrary labels."""

import numpy as np

from .errors import ShapeError


def _pair(y_true, y_pred):
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    if y_true.shape != y_pred.shape or y_true.ndim != 1:
        raise ShapeError(f"expected two 1-D label arrays of equal length, got {y_true.shape} and {y_pred.shape}")
    return y_true, y_pred


def accuracy(y_true, y_pred):
    """Fraction of labels predicted exactly: mean(y_true == y_pred)."""
    y_true, y_pred = _pair(y_true, y_pred)
    return float(np.mean(y_true == y_pred)) if y_true.size else float("nan")


def confusion_matrix(y_true, y_pred, labels=None):
    """C[i, j] = number of samples of class labels[i] predicted as labels[j]; (k, k) int64."""
    y_true, y_pred = _pair(y_true, y_pred)
    labels = np.unique(np.concatenate([y_true, y_pred])) if labels is None else np.asarray(labels)
    k = len(labels)
    order = np.argsort(labels)
    t = order[np.searchsorted(labels[order], y_true)]
    p = order[np.searchsorted(labels[order], y_pred)]
    return np.bincount(t * k + p, minlength=k * k).reshape(k, k)


def precision_recall_f1(cm):
    """Per-class precision C_ii/Σ_j C_ji, recall C_ii/Σ_j C_ij and F1 = 2·TP / (2·TP + FP + FN)
    from a confusion matrix (k, k).

    A class never predicted has precision NaN (0/0), one never present recall NaN; its F1 is
    still defined (0 when it is present but never predicted, or predicted but never present), and
    NaN only for a class neither present nor predicted."""
    cm = np.asarray(cm, dtype=np.float64)
    tp = np.diag(cm)
    predicted, present = cm.sum(axis=0), cm.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        precision = tp / predicted
        recall = tp / present
        f1 = 2 * tp / (predicted + present)          # 2·TP + FP + FN = predicted + present
    return precision, recall, f1


def macro_average(cm):
    """Macro-averaged (precision, recall, F1): the plain mean over the classes that are present
    or predicted, an undefined (0/0) precision or recall counting as 0, as scikit-learn's
    ``precision_recall_fscore_support(average="macro")`` does by default. Skipping the undefined
    ones instead would let a class the model never predicts raise the average."""
    cm = np.asarray(cm, dtype=np.float64)
    seen = (cm.sum(axis=0) + cm.sum(axis=1)) > 0
    if not seen.any():
        return float("nan"), float("nan"), float("nan")
    return tuple(float(np.nan_to_num(v[seen], nan=0.0).mean()) for v in precision_recall_f1(cm))
