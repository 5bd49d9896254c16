"""A figure of augmented samples: what the network saw while it trained (``nnzero report``)."""

import numpy as np

from .augment import Augment


def augmented_samples(plt, X, augment, samples=8, copies=5, seed=0):
    """A grid: the first ``samples`` rows of X (n, H·W) in the top row, then ``copies`` rows of
    random warps of them by ``augment`` (an :class:`~nnzero.Augment` or its settings dict), drawn
    from a Generator seeded with ``seed`` — examples of the training distribution, not the
    run's own draws."""
    if isinstance(augment, dict):
        augment = Augment.from_config(augment)
    X = np.asarray(X)[:samples]
    h, w = augment.shape_for(X.shape[1])
    rng = np.random.default_rng(seed)
    rows = [X] + [augment(X, rng) for _ in range(copies)]
    lo, hi = float(X.min()), float(X.max())
    fig, axes = plt.subplots(len(rows), len(X), figsize=(1.1 * len(X), 1.1 * len(rows)), squeeze=False)
    for i, row in enumerate(rows):
        for j, image in enumerate(row):
            ax = axes[i, j]
            ax.imshow(image.reshape(h, w), cmap="gray", vmin=lo, vmax=hi, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
        axes[i, 0].set_ylabel("original" if i == 0 else f"warp {i}", fontsize=8)
    fig.tight_layout(pad=0.3)
    return fig
