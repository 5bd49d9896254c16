"""The report's augmented.png: present for a model trained with augmentation, absent otherwise."""

import numpy as np
import pytest

import nnzero as nz

pytest.importorskip("matplotlib")
from nnzero.augment_grid import augmented_samples  # noqa: E402
from nnzero.report import _pyplot, write_report  # noqa: E402


@pytest.fixture(scope="module")
def models(mnist_small, tmp_path_factory):
    (X, y), (Xt, yt) = mnist_small
    out = {}
    for name, augment in (("plain", None), ("augmented", nz.Augment(elastic=1.0))):
        model = nz.mlp(784, [16], 10)
        model.fit(X[:500], y[:500], epochs=1, batch_size=100, augment=augment, seed=0)
        path = tmp_path_factory.mktemp(name) / "m.safetensors"
        model.save(path)
        out[name] = nz.load(path)                 # the settings come from the file, as in `nnzero report`
    return out, Xt[:50], yt[:50]


def test_augmented_samples_are_in_the_report_of_an_augmented_model(models, tmp_path):
    import matplotlib.image

    loaded, X, y = models
    index = write_report(loaded["augmented"], tmp_path / "a", X, y)
    assert (tmp_path / "a" / "augmented.png").exists()
    assert 'src="augmented.png"' in index.read_text(encoding="utf-8")
    h, w, _ = matplotlib.image.imread(tmp_path / "a" / "augmented.png").shape
    assert h >= 300 and w >= 500
    write_report(loaded["plain"], tmp_path / "p", X, y)
    assert not (tmp_path / "p" / "augmented.png").exists()


def test_the_grid_shows_originals_then_warps_of_them(mnist_small):
    plt = _pyplot()
    (X, _), _ = mnist_small
    fig = augmented_samples(plt, X[:20], {**nz.Augment().config()}, samples=4, copies=2)
    shown = [ax.images[0].get_array() for ax in fig.axes]
    plt.close(fig)
    assert len(shown) == 12
    assert all(np.array_equal(shown[j], X[j].reshape(28, 28)) for j in range(4))      # top row: originals
    assert not any(np.array_equal(shown[4 + j], X[j].reshape(28, 28)) for j in range(4))
