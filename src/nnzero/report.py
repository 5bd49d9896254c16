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


def write_report(model, out_dir, X_test=None, y_test=None, test_name="test"):
    """Write the figures and ``index.html`` into ``out_dir`` (created if needed); return the
    path of ``index.html``. ``X_test`` (n, d) must be preprocessed like the training data;
    ``test_name`` says what those rows are (e.g. "mnist test set"). Every file is written
    atomically (temporary file, fsync, rename)."""
    model.require_built()
    if (X_test is None) != (y_test is None):
        raise ConfigError("give both X_test and y_test, or neither")
    plt = _pyplot()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    sections, notes, tables = [], [], []
    history = model.history if model.history is not None and len(model.history) else None

    evaluation = None
    if X_test is not None:
        X = model.check_X(X_test, "X_test")
        if len(np.asarray(y_test)) != len(X):
            raise ShapeError(f"y_test has {len(np.asarray(y_test))} labels for {len(X)} samples")
        evaluation = model.evaluate(X, y_test)

    if history is not None:
        fig, caption = _curves(plt, history, model.is_classifier, evaluation, test_name)
        sections.append(_save(plt, fig, out, "curves.png", "Loss and accuracy per epoch", caption))
    else:
        notes.append("No training history in this model, so no learning curves.")

    if X_test is not None and model.is_classifier:
        _classifier_sections(plt, model, X, y_test, out, test_name, sections, tables)

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

    settings = _settings_table(getattr(model, "metadata", None) or {})
    if settings:
        tables.append(("Settings of the run", settings))
    index = out / "index.html"
    _write(index, _html(model, sections, notes, evaluation, test_name, tables).encode("utf-8"))
    return index


def _classifier_sections(plt, model, X, y_test, out, test_name, sections, tables):
    """The confusion matrix, the per-class table and the misclassified samples of the test rows
    (appended to ``sections`` and ``tables``)."""
    proba = model.predict_proba(X)
    pred = model.classes_[proba.argmax(axis=1)]
    y = np.asarray(y_test).ravel()
    cm = metrics.confusion_matrix(y, pred, labels=model.classes_)
    sections.append(_save(plt, _confusion(plt, cm, model.classes_), out, "confusion.png",
                          "Confusion matrix",
                          f"Confusion matrix on the {test_name}: row = true class, column = predicted "
                          "class, each cell the number of samples. Colours show each row's share: "
                          "green the correct ones on the diagonal, red the errors (on their own scale, "
                          "so that a few mistakes are visible next to thousands of right answers)."))
    tables.append(("Per-class precision and recall", _class_table(cm, model.classes_, test_name)))
    wrong = np.flatnonzero(pred != y)
    if len(wrong) and _side(X.shape[1]):
        sections.append(_save(plt, _mistakes(plt, X, y, pred, proba, wrong), out,
                              "misclassified.png", "Misclassified test samples",
                              f"The first {min(len(wrong), MAX_MISTAKES)} of {len(wrong)} misclassified "
                              f"samples of the {test_name}: true label → predicted label (its probability)."))


def _write(path, data):
    with atomic_write(path) as f:
        f.write(data)


def _save(plt, fig, out, name, title, caption):
    try:
        with atomic_write(out / name) as f:
            fig.savefig(f, dpi=100, format="png")
    finally:
        plt.close(fig)
    return name, title, caption


def _class_table(cm, classes, test_name):
    """Rows [class, precision, recall, support] of the confusion matrix."""
    precision, recall, _ = metrics.precision_recall_f1(cm)
    num = lambda v: "–" if math.isnan(v) else f"{v:.4f}"
    rows = [["class", "precision", "recall", f"samples in the {test_name}"]]
    rows += [[str(c), num(p), num(r), str(int(n))] for c, p, r, n in zip(classes, precision, recall, cm.sum(axis=1))]
    return rows


def _settings_table(doc):
    """Rows [setting, value] from a model file's metadata: data, preprocessing, training."""
    rows = [["setting", "value"]]
    dataset = doc.get("dataset") or {}
    if dataset.get("name"):
        rows.append(["data", f"{dataset['name']} ({dataset.get('n_train', '?')} training rows, "
                             f"{dataset.get('n_test', '?')} test rows)"])
    spec = doc.get("preprocessing")
    if spec:
        rows.append(["preprocessing", spec["kind"] if spec["kind"] != "scale" else f"x · {spec['factor']:.6g}"])
    for key, value in (doc.get("training") or {}).items():
        if key in ("out", "checkpoint") or isinstance(value, dict) and key != "schedule":
            continue
        if isinstance(value, dict):
            value = " ".join(f"{k}={v}" for k, v in value.items())
        elif isinstance(value, float):
            value = f"{value:.6g}"
        elif isinstance(value, list):
            value = ",".join(map(str, value)) or "none"
        rows.append([key, "–" if value is None else str(value)])
    return rows if len(rows) > 1 else None


# ---------------------------------------------------------------------------------------------
# Figures
# ---------------------------------------------------------------------------------------------

def _curves(plt, history, classifier, evaluation=None, test_name="test"):
    """Loss and accuracy per epoch: training (solid), validation (dashed) when the run held
    some out, and the test result after training (a star at the last epoch). Returns the
    figure and a caption that names exactly what is drawn."""
    from matplotlib.ticker import MaxNLocator

    keys = [("loss", "loss")] + ([("accuracy", "accuracy")] if classifier else [])
    fig, axes = plt.subplots(1, len(keys), figsize=(5 * len(keys), 3.6), squeeze=False)
    epochs = np.arange(1, len(history) + 1)
    has_val = any(np.isfinite(np.asarray(history["val_" + k], dtype=float)).any() for k, _ in keys)
    for ax, (key, label) in zip(axes[0], keys):
        ax.plot(epochs, np.asarray(history[key], dtype=float), "-", marker="o", markersize=3, label="training")
        val = np.asarray(history["val_" + key], dtype=float)
        if np.isfinite(val).any():
            ax.plot(epochs, val, "--", marker="o", markersize=3, label="validation")
        if evaluation is not None and math.isfinite(evaluation[key]):
            ax.plot([epochs[-1]], [evaluation[key]], "*", markersize=12, color="C3",
                    label=f"{test_name} (after training): {evaluation[key]:.4f}")
        ax.set_xlabel("epoch")
        ax.set_ylabel(label)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    drawn = ["training (solid)"] + (["validation (dashed)"] if has_val else [])
    caption = f"{' and '.join(drawn).capitalize()} loss and accuracy per epoch"
    caption += "." if has_val else "; this run held out no validation rows, so there is no validation curve."
    if evaluation is not None:
        caption += (f" The star is the {test_name}, measured once after training. Training accuracy is "
                    "measured on the rows the model learned from, so it overstates what it does on new data.")
    return fig, caption


def _confusion(plt, cm, classes):
    """Counts in every cell; colour by the row's share (recall on the diagonal, in green; the
    errors in red on a scale up to the largest error share, so they are not washed out)."""
    k = len(classes)
    share = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1)
    off = ~np.eye(k, dtype=bool)
    top = max(float(share[off].max()) if k > 1 else 0.0, 1e-9)
    rgba = plt.get_cmap("Reds")(np.where(off, share / top, 0.0) * 0.85)
    greens = plt.get_cmap("Greens")(0.25 + 0.6 * np.diag(share))
    rgba[np.arange(k), np.arange(k)] = greens
    rgba[off & (cm == 0)] = (1, 1, 1, 1)
    size = max(4.5, 0.5 * k + 2)
    fig, ax = plt.subplots(figsize=(size + 1.2, size))
    ax.imshow(rgba, interpolation="nearest")
    mappable = plt.cm.ScalarMappable(cmap=plt.get_cmap("Reds"), norm=plt.Normalize(0, top / 0.85))
    bar = fig.colorbar(mappable, ax=ax, fraction=0.046)
    bar.set_label("errors: share of the true class's samples")
    if k <= 30:
        ticks = np.arange(k)
        ax.set_xticks(ticks, [str(c) for c in classes])
        ax.set_yticks(ticks, [str(c) for c in classes])
        for i in range(k):
            for j in range(k):
                if cm[i, j]:
                    text = f"{cm[i, j]}\n{share[i, j]:.0%}" if i == j else str(cm[i, j])
                    dark = i == j and share[i, j] > 0.6 or i != j and share[i, j] / top > 0.6
                    ax.text(j, i, text, ha="center", va="center", fontsize=7 if k > 12 else 8,
                            color="white" if dark else "black")
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    acc = np.trace(cm) / max(cm.sum(), 1)
    ax.set_title(f"accuracy {acc:.2%}: {cm.sum() - np.trace(cm)} errors of {cm.sum()}")
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

def _html(model, sections, notes, evaluation, test_name, tables):
    esc = html.escape
    parts = ["<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
             "<title>nnzero report</title>",
             "<style>body{font-family:sans-serif;max-width:1100px;margin:2em auto;padding:0 1em}"
             "img{max-width:100%;border:1px solid #ddd}pre{background:#f6f6f6;padding:1em;overflow:auto}"
             "figure{margin:2em 0}figcaption{color:#444}table{border-collapse:collapse}"
             "td,th{padding:2px 10px;border-bottom:1px solid #ddd;text-align:right}"
             "td:first-child,th:first-child{text-align:left}</style>",
             "</head>", "<body>", "<h1>nnzero report</h1>",
             f"<pre>{esc(model.summary_text())}</pre>"]
    if evaluation is not None:
        acc = evaluation["accuracy"]
        shown = f"accuracy {acc:.2%}, " if not math.isnan(acc) else ""
        parts.append(f"<p>On the {esc(test_name)}: {shown}loss {evaluation['loss']:.4f}.</p>")
    if notes:
        parts.append("<h2>Notes</h2><ul>" + "".join(f"<li>{esc(n)}</li>" for n in notes) + "</ul>")
    for name, title, caption in sections:
        parts += [f"<figure><h2>{esc(title)}</h2>",
                  f'<img src="{esc(name)}" alt="{esc(caption)}">',
                  f"<figcaption>{esc(caption)}</figcaption></figure>"]
    for title, rows in tables:
        parts.append(f"<h2>{esc(title)}</h2><table>")
        parts.append("<tr>" + "".join(f"<th>{esc(c)}</th>" for c in rows[0]) + "</tr>")
        parts += ["<tr>" + "".join(f"<td>{esc(c)}</td>" for c in row) + "</tr>" for row in rows[1:]]
        parts.append("</table>")
    parts += ["</body>", "</html>", ""]
    return "\n".join(parts)
