"""Image augmentation: the warp's geometry, the bilinear sampler against SciPy, repeatability,
the elastic field's size and smoothness, dtypes, and clear errors for inputs that are not images."""

import numpy as np
import pytest
from scipy import ndimage

import nnzero as nz
from nnzero.augment import Augment, bilinear
from nnzero.errors import ConfigError, ShapeError

NONE = dict(shift=0, rotate=0, scale=0, shear=0, elastic=0)


def images(n=8, side=28, seed=0, dtype=np.float32):
    return np.random.default_rng(seed).random((n, side * side)).astype(dtype)


def test_no_warp_returns_the_images_exactly():
    X = images()
    out = Augment(**NONE)(X, np.random.default_rng(0))
    assert out.dtype == X.dtype and np.array_equal(out, X)


def test_bilinear_matches_scipy_map_coordinates():
    rng = np.random.default_rng(1)
    X = images(6, 20, dtype=np.float64).reshape(6, 20, 20)
    sx = rng.uniform(-3, 23, (6, 400))                   # inside, across the edges and outside
    sy = rng.uniform(-3, 23, (6, 400))
    sx[0, :20], sy[0, :20] = np.arange(20), 19.0          # exactly on the last row
    sx[1, :5] = [-1, 20, 19, 0, 19.999]
    got = bilinear(X, sx.copy(), sy.copy(), fill=0.25)
    for i in range(6):
        # grid-constant: the image extended by the fill, interpolated across the edge as we do
        want = ndimage.map_coordinates(X[i], [sy[i], sx[i]], order=1, mode="grid-constant", cval=0.25)
        np.testing.assert_allclose(got[i], want, rtol=0, atol=1e-12)


def test_points_between_the_edge_and_the_padding_blend_with_the_fill():
    X = np.ones((1, 4, 4))
    # half a pixel left of column 0: (1 − 0.5)·fill + 0.5·1
    got = bilinear(X, np.array([[-0.5, 3.5, 1.0]]), np.array([[1.0, 2.0, -0.25]]), fill=0.0)
    np.testing.assert_allclose(got, [[0.5, 0.5, 0.75]])


def test_a_pure_shift_moves_every_pixel_by_the_same_amount_within_the_range():
    aug = Augment(**{**NONE, "shift": 2.0})
    sx, sy = aug.source_points(50, 28, 28, np.random.default_rng(3))
    gy, gx = np.mgrid[0:28, 0:28]
    dx, dy = sx - gx.ravel(), sy - gy.ravel()
    assert np.allclose(dx, dx[:, :1], atol=1e-5) and np.allclose(dy, dy[:, :1], atol=1e-5)
    assert np.abs(dx).max() <= 2 and np.abs(dy).max() <= 2 and np.abs(dx).max() > 1.5


def test_rotation_keeps_distances_to_the_centre_and_turns_within_the_range():
    aug = Augment(**{**NONE, "rotate": 30.0})
    sx, sy = aug.source_points(40, 28, 28, np.random.default_rng(4), np.float64)
    gy, gx = np.mgrid[0:28, 0:28]
    px, py = gx.ravel() - 13.5, gy.ravel() - 13.5
    qx, qy = sx - 13.5, sy - 13.5
    np.testing.assert_allclose(np.hypot(qx, qy), np.hypot(px, py) * np.ones((40, 1)), atol=1e-9)
    angle = np.degrees(np.arctan2(qy, qx) - np.arctan2(py, px))
    angle = (angle + 180) % 360 - 180
    far = np.hypot(px, py) > 3
    assert np.abs(angle[:, far]).max() <= 30 + 1e-6
    assert np.ptp(angle[:, far], axis=1).max() < 1e-6          # one angle per image


def test_scale_and_shear_are_the_affine_map_documented():
    aug = Augment(**{**NONE, "scale": 0.2, "shear": 0.3})
    sx, sy = aug.source_points(30, 28, 28, np.random.default_rng(5), np.float64)
    gy, gx = np.mgrid[0:28, 0:28]
    px, py = gx.ravel() - 13.5, gy.ravel() - 13.5
    # A = σ·[[1, k], [0, 1]]: y' = σ·y, x' = σ·(x + k·y)
    sigma = (sy[:, -1] - 13.5) / py[-1]
    k = ((sx[:, -1] - 13.5) / sigma - px[-1]) / py[-1]
    np.testing.assert_allclose(sx - 13.5, sigma[:, None] * (px + k[:, None] * py), atol=1e-9)
    np.testing.assert_allclose(sy - 13.5, sigma[:, None] * py, atol=1e-9)
    assert np.all(np.abs(sigma - 1) <= 0.2) and np.all(np.abs(k) <= 0.3)


def test_elastic_field_has_the_requested_size_and_is_smooth():
    aug = Augment(**{**NONE, "elastic": 1.5, "elastic_sigma": 4.0})
    sx, sy = aug.source_points(2000, 28, 28, np.random.default_rng(6), np.float64)
    gy, gx = np.mgrid[0:28, 0:28]
    dx = (sx - gx.ravel()).reshape(-1, 28, 28)
    dy = (sy - gy.ravel()).reshape(-1, 28, 28)
    assert abs(dx.mean()) < 0.05 and abs(dy.mean()) < 0.05                # no drift (std 1.5)
    std = np.concatenate([dx, dy]).std(axis=0)                    # per pixel, over 2×2000 fields
    assert np.all(np.abs(std - 1.5) < 0.1)                        # the same size everywhere
    neighbours = np.corrcoef(dx[:, 10, 10], dx[:, 10, 11])[0, 1]
    far = np.corrcoef(dx[:, 10, 2], dx[:, 10, 20])[0, 1]
    assert neighbours > 0.9 and abs(far) < 0.1                    # smooth, and local
    assert abs(np.corrcoef(dx[:, 10, 10], dy[:, 10, 10])[0, 1]) < 0.1


def test_same_generator_state_same_warp_and_each_call_draws_anew():
    X = images()
    aug = Augment(elastic=1.5)
    a = aug(X, np.random.default_rng(7))
    b = aug(X, np.random.default_rng(7))
    rng = np.random.default_rng(7)
    c, d = aug(X, rng), aug(X, rng)
    assert np.array_equal(a, b) and np.array_equal(a, c) and not np.array_equal(c, d)
    assert not np.array_equal(a, X)


def test_dtype_follows_the_images_and_out_is_filled():
    for dtype in (np.float32, np.float64):
        X = images(dtype=dtype)
        out = np.empty_like(X)
        res = Augment(elastic=1.0)(X, np.random.default_rng(0), out=out)
        assert res is out and out.dtype == dtype and np.isfinite(out).all()
        sx, sy = Augment(elastic=1.0).source_points(8, 28, 28, np.random.default_rng(0), dtype)
        assert sx.dtype == sy.dtype == dtype                    # no float64 on the float32 path
    assert Augment()(images(dtype=np.float64)[:, :] > 0.5, np.random.default_rng(0)).dtype == np.float32


def test_large_batches_are_warped_in_chunks_with_exact_indices():
    # 4100 images of 64×64 pixels: over 2^24 padded pixels, so the float32 index would be inexact.
    X = np.random.default_rng(0).random((4100, 64 * 64), dtype=np.float32)
    out = Augment(**NONE)(X, np.random.default_rng(0))
    assert np.array_equal(out, X)


def test_image_shape_for_rectangular_images():
    X = np.random.default_rng(0).random((4, 12)).astype(np.float32)
    out = Augment(**NONE, image_shape=(3, 4))(X, np.random.default_rng(0))
    assert np.array_equal(out, X)
    with pytest.raises(ShapeError, match="3x4 has 12 pixels, but the inputs have 13 features"):
        Augment(image_shape=(3, 4))(np.zeros((2, 13), np.float32), np.random.default_rng(0))


def test_non_image_inputs_are_a_clear_error():
    with pytest.raises(ShapeError, match="783 features is not a square image; give Augment\\(image_shape"):
        Augment()(np.zeros((2, 783), np.float32), np.random.default_rng(0))
    X = np.random.default_rng(0).random((40, 10)).astype(np.float32)
    model = nz.mlp(10, [4], 2)
    with pytest.raises(ShapeError, match="10 features is not a square image"):
        model.fit(X, np.arange(40) % 2, epochs=1, augment=Augment(), seed=0)
    assert model.history is None or len(model.history) == 0
    with pytest.raises(ConfigError, match="augment must be callable"):
        model.fit(X, np.arange(40) % 2, epochs=1, augment="elastic", seed=0)


@pytest.mark.parametrize("bad, message", [
    (dict(shift=-1), "shift must be a number in \\[0, 10000\\), got -1"),
    (dict(rotate=200), "rotate must be"), (dict(scale=1.0), "scale must be"),
    (dict(elastic_sigma=0.1), "elastic_sigma must be"), (dict(shear=True), "shear must be"),
    (dict(image_shape=(28,)), "image_shape must be \\(height, width\\)"),
    (dict(image_shape=(28, 1)), "image_shape must be"),
])
def test_bad_settings_are_refused(bad, message):
    with pytest.raises(ConfigError, match=message):
        Augment(**bad)


def test_config_round_trip_presets_and_repr():
    aug = Augment(shift=1.5, elastic=2.0, image_shape=(28, 28))
    assert Augment.from_config(aug.config()) == aug
    assert aug.config()["image_shape"] == [28, 28]
    assert Augment.preset("elastic", shift=1.0).config()["shift"] == 1.0
    assert "elastic=2.0" in repr(aug) and "rotate" not in repr(aug)
    with pytest.raises(ConfigError, match="unknown augmentation preset 'wobbly'"):
        Augment.preset("wobbly")
    with pytest.raises(ConfigError, match="keys among"):
        Augment.from_config({"shift": 1, "colour": 2})


def test_fit_with_augmentation_repeats_from_its_seed_and_records_the_settings(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.random((96, 64)).astype(np.float32)
    y = (X[:, :32].sum(axis=1) > X[:, 32:].sum(axis=1)).astype(int)
    weights = []
    for seed in (3, 3, 4):
        model = nz.mlp(64, [16], 2)
        model.fit(X, y, epochs=2, batch_size=32, augment=Augment(elastic=1.0), seed=seed)
        weights.append(model.get_weights())
    plain = nz.mlp(64, [16], 2)
    plain.fit(X, y, epochs=2, batch_size=32, seed=3)
    same = lambda a, b: all(np.array_equal(a[k], b[k]) for k in a)
    assert same(weights[0], weights[1]) and not same(weights[0], weights[2])
    assert not same(weights[0], plain.get_weights())
    model.save(tmp_path / "m.safetensors")
    recorded = nz.load(tmp_path / "m.safetensors").metadata["training"]["augment"]
    assert recorded == Augment(elastic=1.0).config()
