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
    """Per-class precision C_ii/Σ_j C_ji, recall C_ii/Σ_j C_ij and F1 from a confusion matrix.

    A class never predicted has precision NaN (0/0), never present has recall NaN."""
    cm = np.asarray(cm, dtype=np.float64)
    tp = np.diag(cm)
    with np.errstate(invalid="ignore", divide="ignore"):
        precision = tp / cm.sum(axis=0)
        recall = tp / cm.sum(axis=1)
        f1 = 2 * precision * recall / (precision + recall)
    return precision, recall, f1
