"""A training report with pictures: PNG figures and an ``index.html`` that shows them.

    nz.report.write_report(model, "report/", X_test, y_test)   # -> Path("report/index.html")

Figures (each written only when its data exists): ``curves.png`` loss and accuracy per epoch,
train vs validation (from ``model.history``); ``confusion.png`` the test confusion matrix;
``weights.png`` the first layer's weights, one image per hidden unit; ``misclassified.png``
test samples the model gets wrong; ``augmented.png`` random warps of test images with the
model's augmentation settings (when it was trained with augmentation); ``diagnostics.png`` the per-layer statistics of a run
trained with ``diagnostics=True``. Needs matplotlib (``pip install nnzero[plot]``), imported
on first use with the file-only Agg backend.
"""

import html
import math
from pathlib import Path

import numpy as np

from . import layers as L
from . import metrics
from ._atomic import atomic_write
from .errors import ConfigError, ShapeError

MAX_UNITS = 64        # weight images shown
MAX_MISTAKES = 36     # misclassified samples shown


def _pyplot():
    try:
        import matplotlib
    except ImportError:
        raise ConfigError("the report needs matplotlib: pip install 'nnzero[plot]'") from None
    matplotlib.use("Agg", force=False)   # files only; never opens a window
    import matplotlib.pyplot as plt

    return plt


def _side(n):
    """The side of a square image with n pixels, or None."""
    s = math.isqrt(n)
    return s if s * s == n and s >= 4 else None


def write_report(model, out_dir, X_test=None, y_test=None):
    """Write the figures and ``index.html`` into ``out_dir`` (created if needed); return the
    path of ``index.html``. ``X_test`` (n, d) must be preprocessed like the training data."""
    model.require_built()
    if (X_test is None) != (y_test is None):
        raise ConfigError("give both X_test and y_test, or neither")
    plt = _pyplot()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    sections, notes = [], []
    history = model.history if model.history is not None and len(model.history) else None

    if history is not None:
        sections.append(_save(plt, _curves(plt, history, model.is_classifier), out, "curves.png",
                              "Loss and accuracy per epoch",
                              "Training (solid) and validation (dashed) loss and accuracy per epoch."))
    else:
        notes.append("No training history in this model, so no learning curves.")

    evaluation = None
    if X_test is not None:
        X = model.check_X(X_test, "X_test")
        if len(np.asarray(y_test)) != len(X):
            raise ShapeError(f"y_test has {len(np.asarray(y_test))} labels for {len(X)} samples")
        evaluation = model.evaluate(X, y_test)
        if model.is_classifier:
            proba = model.predict_proba(X)
            pred = model.classes_[proba.argmax(axis=1)]
            y = np.asarray(y_test).ravel()
            cm = metrics.confusion_matrix(y, pred, labels=model.classes_)
            sections.append(_save(plt, _confusion(plt, cm, model.classes_), out, "confusion.png",
                                  "Confusion matrix",
                                  "Test confusion matrix: row = true class, column = predicted class."))
            wrong = np.flatnonzero(pred != y)
            if len(wrong) and _side(X.shape[1]):
                sections.append(_save(plt, _mistakes(plt, X, y, pred, proba, wrong), out,
                                      "misclassified.png", "Misclassified test samples",
                                      f"The first {min(len(wrong), MAX_MISTAKES)} of {len(wrong)} misclassified "
                                      "test samples: true label → predicted label (its probability)."))

    augment = ((getattr(model, "metadata", None) or {}).get("training") or {}).get("augment")
    if augment and X_test is not None:
        from .augment_grid import augmented_samples

        sections.append(_save(plt, augmented_samples(plt, X, augment), out, "augmented.png",
                              "Augmented samples: what the network was trained on",
                              "Top row: test images; below: random warps of them with the model's "
                              "augmentation settings, as each training batch was warped."))

    dense = next(layer for layer in model.layers if isinstance(layer, L.Dense))
    sections.append(_save(plt, _weights(plt, dense.params["W"]), out, "weights.png",
                          "First layer weights",
                          "Each image is one first-layer unit's weights W[:, j] over the input pixels: "
                          "red pixels raise its weighted sum, blue ones lower it."))

    diagnostics = history.diagnostics if history is not None else []
    if diagnostics:
        sections.append(_save(plt, _diagnostics(plt, diagnostics), out, "diagnostics.png",
                              "Per-layer diagnostics",
                              "Per layer and epoch: activation standard deviation, fraction of dead "
                              "ReLUs, gradient norm ‖dW‖ and update-to-weight ratio ‖ΔW‖/‖W‖."))
        for rec in diagnostics:
            notes += [f"epoch {rec['epoch'] + 1}: {w}" for w in rec.get("warnings", [])]

    index = out / "index.html"
    with atomic_write(index) as f:           # like every file nnzero writes: temp, fsync, rename
        f.write(_html(model, sections, notes, evaluation).encode("utf-8"))
    return index


def _save(plt, fig, out, name, title, caption):
    try:
        with atomic_write(out / name) as f:
            fig.savefig(f, dpi=100, format="png")
    finally:
        plt.close(fig)
    return name, title, caption


# ---------------------------------------------------------------------------------------------
# Figures
# ---------------------------------------------------------------------------------------------

def _curves(plt, history, classifier):
    keys = [("loss", "loss")] + ([("accuracy", "accuracy")] if classifier else [])
    fig, axes = plt.subplots(1, len(keys), figsize=(5 * len(keys), 3.6), squeeze=False)
    epochs = np.arange(1, len(history) + 1)
    for ax, (key, label) in zip(axes[0], keys):
        for prefix, style, who in (("", "-", "train"), ("val_", "--", "validation")):
            values = np.asarray(history[prefix + key], dtype=float)
            if np.isfinite(values).any():
                ax.plot(epochs, values, style, marker="o", markersize=3, label=who)
        ax.set_xlabel("epoch")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    return fig


def _confusion(plt, cm, classes):
    k = len(classes)
    size = max(4.0, 0.45 * k + 1.5)
    fig, ax = plt.subplots(figsize=(size + 1, size))
    im = ax.imshow(cm, cmap="Blues")
    fig.colorbar(im, ax=ax, fraction=0.046)
    if k <= 30:
        ticks = np.arange(k)
        ax.set_xticks(ticks, [str(c) for c in classes])
        ax.set_yticks(ticks, [str(c) for c in classes])
        for i in range(k):
            for j in range(k):
                if cm[i, j]:
                    ax.text(j, i, str(cm[i, j]), ha="center", va="center", fontsize=7,
                            color="white" if cm[i, j] > cm.max() / 2 else "black")
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    acc = np.trace(cm) / max(cm.sum(), 1)
    ax.set_title(f"test accuracy {acc:.2%} ({cm.sum() - np.trace(cm)} errors of {cm.sum()})")
    fig.tight_layout()
    return fig


def _grid(n):
    cols = math.ceil(math.sqrt(n))
    return math.ceil(n / cols), cols


def _weights(plt, W):
    n_in, units = W.shape
    side = _side(n_in)
    if side is None:                                  # not an image: show the matrix itself
        fig, ax = plt.subplots(figsize=(7, 4))
        lim = float(np.abs(W).max()) or 1.0
        im = ax.imshow(W.T, cmap="RdBu_r", vmin=-lim, vmax=lim, aspect="auto", interpolation="nearest")
        ax.set_xlabel("input feature")
        ax.set_ylabel("unit")
        fig.colorbar(im, ax=ax)
        fig.tight_layout()
        return fig
    shown = min(units, MAX_UNITS)
    rows, cols = _grid(shown)
    # One mosaic image (one imshow, fast) of tiles separated by a 1-pixel NaN gap drawn white;
    # each unit on its own symmetric scale, so faint and strong units are both visible.
    step = side + 1
    mosaic = np.full((rows * step - 1, cols * step - 1), np.nan)
    for j in range(shown):
        w = W[:, j].reshape(side, side)
        r, c = divmod(j, cols)
        mosaic[r * step:r * step + side, c * step:c * step + side] = w / (float(np.abs(w).max()) or 1.0)
    fig, ax = plt.subplots(figsize=(1.0 * cols + 0.6, 1.0 * rows + 0.6))
    cmap = plt.get_cmap("RdBu_r").with_extremes(bad="white")
    ax.imshow(mosaic, cmap=cmap, vmin=-1, vmax=1, interpolation="nearest")
    ax.axis("off")
    ax.set_title(f"first-layer weights, {shown} of {units} units (red +, blue −)")
    fig.tight_layout()
    return fig


def _mistakes(plt, X, y, pred, proba, wrong):
    side = _side(X.shape[1])
    idx = wrong[:MAX_MISTAKES]
    rows, cols = _grid(len(idx))
    fig, axes = plt.subplots(rows, cols, figsize=(1.3 * cols, 1.5 * rows), squeeze=False)
    for ax, i in zip(axes.flat, idx):
        ax.imshow(X[i].reshape(side, side), cmap="gray_r", interpolation="nearest")
        ax.set_title(f"{y[i]} → {pred[i]} ({proba[i].max():.0%})", fontsize=8)
    for ax in axes.flat:
        ax.axis("off")
    fig.tight_layout()
    return fig


def _diagnostics(plt, records):
    panels = [("act_std", "activation std", False), ("dead_fraction", "dead ReLUs (fraction)", False),
              ("grad_norm", "gradient norm ‖dW‖", True), ("update_ratio", "update ratio ‖ΔW‖/‖W‖", True)]
    fig, axes = plt.subplots(2, 2, figsize=(10, 6.5))
    epochs = np.array([r["epoch"] + 1 for r in records])
    n_layers = len(records[0]["layers"])
    for ax, (key, label, log) in zip(axes.flat, panels):
        positive = False
        for k in range(n_layers):
            values = np.array([np.nan if r["layers"][k][key] is None else r["layers"][k][key]
                               for r in records], dtype=float)
            if np.isfinite(values).any():
                positive |= bool((values > 0).any())
                s = records[0]["layers"][k]
                ax.plot(epochs, values, marker="o", markersize=3,
                        label=f"layer {s['layer']} ({s['activation']})")
        if log and positive:          # all-zero gradients (dead layers) cannot be log-scaled
            ax.set_yscale("log")
        if key == "dead_fraction":
            ax.set_ylim(-0.02, 1.02)
        ax.set_title(label, fontsize=10)
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
        if ax.lines:
            ax.legend(fontsize=7)
        else:
            empty = "no ReLU layers" if key == "dead_fraction" else "no data"
            ax.text(0.5, 0.5, empty, ha="center", va="center", transform=ax.transAxes)
    fig.tight_layout()
    return fig


# ---------------------------------------------------------------------------------------------
# HTML
# ---------------------------------------------------------------------------------------------

def _html(model, sections, notes, evaluation):
    esc = html.escape
    parts = ["<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
             "<title>nnzero report</title>",
             "<style>body{font-family:sans-serif;max-width:1100px;margin:2em auto;padding:0 1em}"
             "img{max-width:100%;border:1px solid #ddd}pre{background:#f6f6f6;padding:1em;overflow:auto}"
             "figure{margin:2em 0}figcaption{color:#444}</style>",
             "</head>", "<body>", "<h1>nnzero report</h1>",
             f"<pre>{esc(model.summary_text())}</pre>"]
    if evaluation is not None:
        acc = evaluation["accuracy"]
        shown = f"accuracy {acc:.2%}, " if not math.isnan(acc) else ""
        parts.append(f"<p>Test set: {shown}loss {evaluation['loss']:.4f}.</p>")
    if notes:
        parts.append("<h2>Notes</h2><ul>" + "".join(f"<li>{esc(n)}</li>" for n in notes) + "</ul>")
    for name, title, caption in sections:
        parts += [f"<figure><h2>{esc(title)}</h2>",
                  f'<img src="{esc(name)}" alt="{esc(caption)}">',
                  f"<figcaption>{esc(caption)}</figcaption></figure>"]
    parts += ["</body>", "</html>", ""]
    return "\n".join(parts)
