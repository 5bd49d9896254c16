"""Digit images prepared like MNIST: invariant to position, size and polarity; read by a model."""

import numpy as np
import pytest

import nnzero as nz
from nnzero.images import load_digit, preprocess_digit

PIL = pytest.importorskip("PIL")
from PIL import Image, ImageDraw  # noqa: E402

SEVEN = [(60, 40), (140, 40), (90, 170)]


def draw(strokes=SEVEN, size=200, shift=(0, 0), scale=1.0, ink=0, paper=255, width=16, mode="L"):
    """A digit drawn as a thick polyline on a size×size canvas, moved and scaled."""
    img = Image.new(mode, (size, size), paper)
    pts = [(x * scale + shift[0], y * scale + shift[1]) for x, y in strokes]
    ImageDraw.Draw(img).line(pts, fill=ink, width=round(width * scale), joint="curve")
    return img


def draw_zero():
    img = Image.new("L", (200, 200), 255)
    ImageDraw.Draw(img).ellipse((55, 30, 145, 170), outline=0, width=16)
    return img


def centre_of_mass(x):
    img = x.reshape(28, 28)
    rows, cols = np.mgrid[0:28, 0:28] + 0.5
    return (img * rows).sum() / img.sum(), (img * cols).sum() / img.sum()


def test_output_is_mnist_like():
    x = load_digit(draw_zero())
    assert x.shape == (784,) and x.dtype == np.float32
    assert x.min() == 0 and x.max() == 1
    assert centre_of_mass(x) == pytest.approx((14, 14), abs=0.01)
    img = x.reshape(28, 28)
    rows = np.flatnonzero((img > 0.3).any(axis=1))
    assert rows[-1] - rows[0] + 1 == 20                 # the taller side fills the 20-pixel box
    # A symmetric digit sits in the middle: the 20-pixel box leaves about 4 empty rows each side.
    assert img[:3].max() == img[-3:].max() == img[:, :3].max() == img[:, -3:].max() == 0


@pytest.mark.parametrize("variant, kwargs, tolerance", [
    ("shifted", {"shift": (-45, 25)}, 1e-6),          # centring by mass: the same pixels exactly
    ("inverted", {"ink": 255, "paper": 0}, 1e-6),     # light on dark is already MNIST's polarity
    ("twice as large", {"size": 400, "scale": 2.0}, 0.005),
    ("half the size", {"size": 100, "scale": 0.5}, 0.01),
    ("colour", {"mode": "RGB", "ink": (200, 30, 30), "paper": (250, 250, 240)}, 0.01),
])
def test_same_digit_gives_the_same_input(variant, kwargs, tolerance):
    base = load_digit(draw())
    other = load_digit(draw(**kwargs))
    # Mean absolute difference per pixel; resampling a redrawn stroke differs only at its edges.
    assert np.abs(other - base).mean() <= tolerance, variant


def test_transparent_canvas_is_flattened_onto_contrasting_paper():
    base = load_digit(draw())
    strokes = draw(mode="RGBA", ink=(0, 0, 0, 255), paper=(0, 0, 0, 0))   # black ink, clear canvas
    assert np.abs(load_digit(strokes) - base).mean() <= 1e-6


def test_reads_files(tmp_path):
    draw().save(tmp_path / "seven.png")
    draw().convert("RGB").save(tmp_path / "seven.jpg", quality=95)
    base = load_digit(draw())
    assert np.array_equal(load_digit(tmp_path / "seven.png"), base)
    assert np.abs(load_digit(str(tmp_path / "seven.jpg")) - base).mean() < 0.01   # JPEG noise


def test_preprocess_arrays_of_either_range():
    gray = np.asarray(draw())
    assert np.array_equal(preprocess_digit(gray), preprocess_digit(gray / 255.0))
    assert np.array_equal(preprocess_digit(gray), load_digit(draw()))


@pytest.mark.slow
def test_a_trained_model_reads_drawn_digits(mnist_small):
    (X, y), _ = mnist_small
    model = nz.mlp(784, [64], 10)
    model.fit(X, y, epochs=5, batch_size=64, seed=0)
    digits = {0: draw_zero(), 1: draw([(100, 30), (100, 170)]), 7: draw(SEVEN)}
    X_drawn = np.stack([load_digit(img) for img in digits.values()])
    assert model.predict(X_drawn).tolist() == list(digits)


@pytest.mark.parametrize("image, message", [
    (np.full((30, 30), 255, dtype=np.uint8), "no ink found: the image is blank"),
    (np.full((30, 30), 0.5), "no ink found"),
    (np.zeros((3, 4, 5)), "must be a 2-D grayscale array, got shape (3, 4, 5)"),
    (np.array([[0, 300]]), "integer pixels must be in 0..255, got 0..300"),
    (np.array([[0.0, 1.5]]), "float pixels must be in [0, 1], got 0..1.5"),
    (np.array([[0.0, np.nan]]), "NaN or infinite"),
    (np.array([["a"]]), "must be numeric"),
])
def test_bad_arrays_are_data_errors(image, message):
    with pytest.raises(nz.DataError) as exc:
        preprocess_digit(image)
    assert message in str(exc.value)


def test_bad_files_are_data_errors(tmp_path):
    with pytest.raises(nz.DataError, match="no such file"):
        load_digit(tmp_path / "missing.png")
    (tmp_path / "bad.png").write_bytes(b"not an image")
    with pytest.raises(nz.DataError, match="cannot read .*bad.png as an image"):
        load_digit(tmp_path / "bad.png")
    Image.new("L", (40, 40), 255).save(tmp_path / "blank.png")
    with pytest.raises(nz.DataError, match="blank.png: no ink found"):
        load_digit(tmp_path / "blank.png")


def test_explain_command_reads_an_image(tmp_path, capsys):
    io = pytest.importorskip("nnzero.serialization")
    from nnzero.cli import main

    model = nz.mlp(784, [8], 10).build(seed=0)
    io.save(model, tmp_path / "m.safetensors", preprocessing={"kind": "scale", "factor": 1 / 255})
    draw().save(tmp_path / "seven.png")
    assert main(["explain", str(tmp_path / "m.safetensors"), "--image", str(tmp_path / "seven.png")]) == 0
    out = capsys.readouterr().out
    # The stored preprocessing (x/255) sees the image as 0..255 pixels, so the input is load_digit's.
    expected = load_digit(draw())
    assert f"input x: shape (784,)  min 0  max 1  mean {float(expected.mean()):.4g}" in out
    assert "predicted class:" in out
