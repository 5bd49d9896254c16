"""Your own digit images, prepared the way MNIST's were.

    x = nz.images.load_digit("my_seven.png")     # (784,) float32 in [0, 1]
    model.predict_proba(x[None])

MNIST's digits (LeCun et al.) were size-normalised to fit a 20×20 box, keeping their aspect
ratio, with anti-aliasing, then placed in a 28×28 image so that their centre of mass sits at the
centre. ``preprocess_digit`` repeats that on any grayscale array:

1. light background (judged on the border pixels) → invert, so the ink is bright on black;
2. subtract the background level, scale the ink to a maximum of 1, zero the faint noise;
3. crop to the ink: its bounding box sets the scale, longer side → 20 pixels;
4. resample with a triangle (bilinear, anti-aliased when shrinking) filter so that the ink's
   centre of mass lands on the centre of the 28×28 grid, at sub-pixel precision.

Only reading files needs Pillow (``pip install nnzero[image]``); it is imported on first use.
"""

import math
import os
import warnings

import numpy as np

from . import budget
from .errors import DataError
from .safety import check_input

SIDE, BOX = 28, 20            # MNIST: 28×28 images, the digit fitted in a 20×20 box
NOISE = 0.1                   # ink below this fraction of the maximum is treated as background
MIN_CONTRAST = 0.1            # ink must differ from the background by this much (of full scale)
MAX_PIXELS = 89_478_485       # Pillow's own warning level (~ a 9459×9459 image): no digit is larger
MAX_SIDE = 2048               # larger images are reduced to this before the float work


def preprocess_digit(image):
    """A 2-D grayscale image (h, w) → MNIST-like input (784,) float32 in [0, 1].

    ``image``: floats in [0, 1] or integers in 0..255, dark ink on a light background or light
    on dark. Raises DataError for a non-2-D, non-finite, out-of-range or blank image.
    """
    a = np.asarray(image)
    if a.ndim != 2 or min(a.shape) < 1:
        raise DataError(f"a digit image must be a 2-D grayscale array, got shape {a.shape}")
    if not (np.issubdtype(a.dtype, np.number) or a.dtype == bool):
        raise DataError(f"a digit image must be numeric, got dtype {a.dtype}")
    if np.issubdtype(a.dtype, np.integer):
        if a.min() < 0 or a.max() > 255:
            raise DataError(f"integer pixels must be in 0..255, got {a.min()}..{a.max()}")
        a = a / 255.0
    else:
        a = a.astype(np.float64)
        if not np.isfinite(a).all():
            raise DataError("the digit image contains NaN or infinite pixels")
        if a.min() < 0 or a.max() > 1:
            raise DataError(f"float pixels must be in [0, 1], got {a.min():.4g}..{a.max():.4g}")

    border = np.concatenate([a[0], a[-1], a[:, 0], a[:, -1]])
    background = float(np.median(border))
    if background > 0.5:                    # dark ink on light paper: make the ink bright
        a, background = 1.0 - a, 1.0 - background
    a = np.clip(a - background, 0.0, None)
    peak = float(a.max())
    if peak < MIN_CONTRAST:
        raise DataError(f"no ink found: the image is blank (ink differs from the background by "
                        f"{peak:.3f}, expected at least {MIN_CONTRAST})")
    a /= peak
    a[a < NOISE] = 0.0

    rows, cols = np.flatnonzero(a.any(axis=1)), np.flatnonzero(a.any(axis=0))
    height, width = rows[-1] - rows[0] + 1, cols[-1] - cols[0] + 1
    scale = BOX / max(height, width)       # output pixels per input pixel
    total = a.sum()
    # Centre of mass in continuous coordinates (pixel i covers [i, i + 1], centre i + 0.5).
    cy = float((a.sum(axis=1) * (np.arange(a.shape[0]) + 0.5)).sum() / total)
    cx = float((a.sum(axis=0) * (np.arange(a.shape[1]) + 0.5)).sum() / total)
    Ry = _resample_matrix(a.shape[0], scale, cy)          # (28, h)
    Rx = _resample_matrix(a.shape[1], scale, cx)          # (28, w)
    out = Ry @ a @ Rx.T                                   # (28, h)·(h, w)·(w, 28)
    out /= out.max()                                      # MNIST strokes peak at full intensity
    return out.astype(np.float32).reshape(-1)


def _resample_matrix(n_in, scale, centre):
    """R (28, n_in): row j holds the weights of input pixels for output pixel j, whose centre
    j + 0.5 maps back to the input position s_j = (j + 0.5 − 14) / scale + centre.

    Triangle filter of half-width max(1, 1/scale) input pixels: bilinear interpolation when
    enlarging, an anti-aliasing average when shrinking. Input outside the image counts as 0.
    """
    s = (np.arange(SIDE) + 0.5 - SIDE / 2) / scale + centre          # (28,)
    support = max(1.0, 1.0 / scale)
    lo, hi = math.floor(s.min() - support) - 1, math.ceil(s.max() + support) + 1
    i = np.arange(lo, hi)
    w = np.maximum(0.0, 1.0 - np.abs(i + 0.5 - s[:, None]) / support)   # (28, hi − lo)
    w /= w.sum(axis=1, keepdims=True)
    R = np.zeros((SIDE, n_in))
    inside = (i >= 0) & (i < n_in)
    R[:, i[inside]] = w[:, inside]
    return R


def load_digit(source):
    """Read an image file (PNG, JPEG, ...) or a PIL image of one handwritten digit and return the
    MNIST-like input (784,) float32 in [0, 1] (see :func:`preprocess_digit`).

    Colour is converted to grayscale; transparency is flattened onto a background that contrasts
    with the ink; a photo's EXIF orientation is applied. Raises DataError for unreadable files.
    """
    try:
        from PIL import Image, ImageOps
    except ImportError:
        raise DataError("reading images needs Pillow: pip install 'nnzero[image]'") from None
    if isinstance(source, Image.Image):
        img, name = source, "the image"
    else:
        name = str(source)
        if isinstance(source, (str, os.PathLike)):
            check_input(source, "image file")  # before opening: a FIFO would block
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")       # Pillow's notes on damaged metadata
                img = _open_checked(Image, source, name)
                img.load()
        except DataError:
            raise
        except FileNotFoundError:
            raise DataError(f"image file {name} does not exist") from None
        except Exception as exc:  # noqa: BLE001 - a decoder's failure on a bad file, whatever its type
            # Pillow reports broken files as OSError, ValueError, SyntaxError, struct.error, ...
            raise DataError(f"cannot read {name} as an image: {exc}") from None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            img = ImageOps.exif_transpose(img)
    except Exception:  # a broken EXIF block should not stop us reading the pixels
        pass
    img = _shrunk(img)
    try:
        return preprocess_digit(_grayscale(img))
    except DataError as exc:
        raise DataError(f"{name}: {exc}") from None


def _open_checked(Image, source, name):
    """Image.open (which reads only the header), then the pixel count and the decoded size
    checked before a pixel is decoded: a clear error instead of Pillow's bomb warning/error."""
    limit = Image.MAX_IMAGE_PIXELS
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            Image.MAX_IMAGE_PIXELS = None            # our own check below, with our own words
            img = Image.open(source)
    finally:
        Image.MAX_IMAGE_PIXELS = limit
    width, height = img.size
    pixels = width * height
    if pixels > MAX_PIXELS:
        img.close()
        raise DataError(f"{name}: the image is {width}×{height} = {pixels / 1e6:.0f} million pixels, more "
                        f"than the {MAX_PIXELS / 1e6:.0f} million a digit image may have; scale it down first")
    per_pixel = 4 * max(len(img.getbands()), 1)      # at most 4 bytes a band (modes I, F)
    budget.check(pixels * per_pixel, f"{name}: decoding the {width}×{height} image")
    return img


def _shrunk(img):
    """A very large image reduced (box filter, by an integer factor) to at most MAX_SIDE pixels a
    side before the float work, which needs ~30 bytes a pixel: the result differs only in rounding,
    as the digit ends up 20 pixels tall anyway."""
    factor = math.ceil(max(img.size) / MAX_SIDE)
    if factor <= 1:
        return img
    if img.mode == "P":
        img = img.convert("RGBA")
    try:
        return img.reduce(factor)
    except (ValueError, NotImplementedError):
        return img


def _grayscale(img):
    """A PIL image → 2-D float array in [0, 1]."""
    if img.mode in ("I", "I;16", "I;16B", "I;16L", "F"):      # 16/32-bit grayscale
        a = np.asarray(img, dtype=np.float64)
        if not np.isfinite(a).all():
            raise DataError("the image contains NaN or infinite pixels")
        lo, hi = a.min(), a.max()
        return (a - lo) / (hi - lo) if hi > lo else np.zeros_like(a)
    if img.mode == "P":
        img = img.convert("RGBA")
    if img.mode in ("RGBA", "LA", "RGBa", "La"):
        rgba = np.asarray(img.convert("RGBA"), dtype=np.float64) / 255
        alpha = rgba[..., 3]
        gray = rgba[..., :3] @ np.array([0.299, 0.587, 0.114])      # ITU-R 601, as PIL's "L"
        if (alpha < 1).any():
            # Mostly transparent: the opaque pixels are the strokes, so the paper gets the
            # opposite shade. Mostly opaque: they are the paper, and holes get its shade.
            opaque = alpha > 0.5
            if opaque.mean() < 0.5:
                ink = float(gray[opaque].mean()) if opaque.any() else 0.0
                paper = 1.0 if ink < 0.5 else 0.0
            else:
                paper = float(np.median(gray[opaque]))
            gray = alpha * gray + (1 - alpha) * paper
        return gray
    return np.asarray(img.convert("L"), dtype=np.float64) / 255
