"""Image augmentation for training: random affine warps and elastic deformation, NumPy only.

    aug = nz.Augment(shift=2, rotate=12, scale=0.1, shear=0.15, elastic=1.5)
    model.fit(X, y, augment=aug, seed=0)     # every batch is warped afresh, after the gather

Each training image (a row of ``X``: H·W pixels, row-major) is resampled at warped coordinates.
For output pixel p = (x, y), with the image centre c, the source point is

    s(p) = A·(p − c) + c + t + d(p)

A (2, 2) = rotation(θ) · shear(k) · scale(σ), θ ~ U(±rotate)°, k ~ U(±shear), σ ~ U(1 ± scale);
t ~ U(±shift) pixels (each axis); d (H, W, 2) an elastic displacement field, each component
``elastic`` · (cos φ·F_i + sin φ·F_j) with φ ~ U(0, 2π) and F_i, F_j drawn from a fixed bank of
smooth unit-variance fields: white noise on a coarse grid (a point every ``elastic_sigma`` pixels)
smoothed by a Gaussian of width ``elastic_sigma``, G_y·N·G_xᵀ (Simard et al. 2003 smooth
full-resolution noise the same way). Mixing bank fields costs a few gathers per batch instead of
fresh smoothing. The output is the bilinear interpolation of the image at s(p); points outside
the image read ``fill``. Shapes: batch (n, H·W) → (n, H·W).

The draws come from the generator ``fit`` passes in (the run's training stream), so a run is
repeatable from its seed and a checkpoint resumes it exactly. The images must be square unless
``image_shape=(H, W)`` is given; anything else is not an image and is refused.
"""

import math

import numpy as np

from .errors import ConfigError, ShapeError, is_int

DEFAULTS = {"shift": 2.0, "rotate": 12.0, "scale": 0.1, "shear": 0.15, "elastic": 0.0,
            "elastic_sigma": 4.0, "fill": 0.0, "image_shape": None}

CHUNK = 4096          # images warped at a time
BANK = 512            # smooth fields precomputed per image shape, mixed per image
BANK_SEED = 20030803  # the bank is fixed (Simard et al., ICDAR 2003, August 3-6)

# Named settings for `nnzero train --augment PRESET`.
PRESETS = {
    "affine": {"shift": 2.0, "rotate": 12.0, "scale": 0.1, "shear": 0.15, "elastic": 0.0},
    "elastic": {"shift": 1.5, "rotate": 10.0, "scale": 0.1, "shear": 0.1, "elastic": 1.0},
    "light": {"shift": 1.0, "rotate": 8.0, "scale": 0.05, "shear": 0.1, "elastic": 0.0},
}


def _number(name, value, lo=0.0, hi=math.inf):
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) \
            or not (lo <= float(value) < hi):
        raise ConfigError(f"Augment {name} must be a number in [{lo:g}, {hi:g}), got {value!r}")
    return float(value)


class Augment:
    """Random affine + elastic warps of square images, applied to each training batch.

    shift          pixels, t ~ U(−shift, shift) on each axis
    rotate         degrees, θ ~ U(−rotate, rotate)
    scale          relative, σ ~ U(1 − scale, 1 + scale)
    shear          k ~ U(−shear, shear): x' = x + k·y
    elastic        pixels, standard deviation of each displacement component (0: none)
    elastic_sigma  pixels, the smoothness (correlation length) of the displacement field
    fill           value read outside the image (0: the background of images scaled to [0, 1])
    image_shape    (H, W); default: the square root of the number of features
    """

    def __init__(self, shift=2.0, rotate=12.0, scale=0.1, shear=0.15, elastic=0.0, elastic_sigma=4.0,
                 fill=0.0, image_shape=None):
        self.shift = _number("shift", shift, hi=1e4)
        self.rotate = _number("rotate", rotate, hi=180.0 + 1e-9)
        self.scale = _number("scale", scale, hi=1.0)
        self.shear = _number("shear", shear, hi=10.0)
        self.elastic = _number("elastic", elastic, hi=1e4)
        self.elastic_sigma = _number("elastic_sigma", elastic_sigma, lo=0.5, hi=1e4)
        self.fill = _number("fill", fill, lo=-math.inf)
        if image_shape is not None:
            shape = tuple(image_shape) if isinstance(image_shape, (tuple, list)) else None
            if shape is None or len(shape) != 2 or not all(is_int(s, 2) for s in shape):
                raise ConfigError(f"Augment image_shape must be (height, width) with sides ≥ 2, got {image_shape!r}")
            image_shape = tuple(int(s) for s in shape)
        self.image_shape = image_shape
        self._cache = {}

    # -- description --------------------------------------------------------------------------
    def config(self):
        """The settings as JSON-able data (stored in model files)."""
        c = {k: getattr(self, k) for k in DEFAULTS}
        c["image_shape"] = None if self.image_shape is None else list(self.image_shape)
        return c

    @classmethod
    def from_config(cls, config):
        if not isinstance(config, dict) or set(config) - set(DEFAULTS):
            raise ConfigError(f"Augment settings must be a dict with keys among {sorted(DEFAULTS)}, got {config!r}")
        return cls(**config)

    @classmethod
    def preset(cls, name, **overrides):
        """An Augment from a named preset (``affine``, ``elastic``, ``light``), with overrides."""
        if name not in PRESETS:
            raise ConfigError(f"unknown augmentation preset {name!r}; expected one of {sorted(PRESETS)}")
        return cls(**{**PRESETS[name], **overrides})

    def __repr__(self):
        c = self.config()
        return "Augment(" + ", ".join(f"{k}={c[k]!r}" for k in DEFAULTS if c[k] != DEFAULTS[k]) + ")"

    def __eq__(self, other):
        return isinstance(other, Augment) and self.config() == other.config()

    # -- shapes -------------------------------------------------------------------------------
    def shape_for(self, n_features):
        """(H, W) of rows with ``n_features`` pixels; a clear error when they are not an image."""
        if self.image_shape is not None:
            h, w = self.image_shape
            if h * w != n_features:
                raise ShapeError(f"Augment image_shape {h}x{w} has {h * w} pixels, but the inputs have "
                                 f"{n_features} features")
            return h, w
        side = math.isqrt(n_features)
        if side * side != n_features or side < 4:
            raise ShapeError(f"augmentation needs image inputs: {n_features} features is not a square "
                             "image; give Augment(image_shape=(height, width)) if the rows are images")
        return side, side

    def _tables(self, h, w, dtype):
        """Per-shape constants: the centred pixel grid and the bank of elastic fields."""
        key = (h, w, np.dtype(dtype).str)
        if key not in self._cache:
            gy, gx = np.mgrid[0:h, 0:w]
            cy, cx = (h - 1) / 2, (w - 1) / 2
            self._cache[key] = {
                "gx": (gx.ravel() - cx).astype(dtype), "gy": (gy.ravel() - cy).astype(dtype),
                "cx": cx, "cy": cy,
                "bank": _bank(h, w, self.elastic_sigma, dtype) if self.elastic else None}
        return self._cache[key]

    # -- the warp -----------------------------------------------------------------------------
    def __call__(self, X, rng, out=None):
        """Warped copies of the images in X (n, H·W), drawn from ``rng``; written into ``out``."""
        X = np.asarray(X)
        if X.ndim != 2:
            raise ShapeError(f"Augment expects a batch of rows (n, H·W), got shape {X.shape}")
        h, w = self.shape_for(X.shape[1])
        dtype = X.dtype if X.dtype.kind == "f" else np.dtype(np.float32)
        if out is None:
            out = np.empty(X.shape, dtype=dtype)
        # Chunks keep the buffers small and the float32 gather indices exact (< 2^24).
        step = min(CHUNK, (1 << 24) // ((h + 2) * (w + 2)))
        for i in range(0, len(X), step):
            rows = X[i:i + step]
            sx, sy = self.source_points(len(rows), h, w, rng, dtype)
            bilinear(rows.reshape(len(rows), h, w), sx, sy, self.fill, out=out[i:i + step])
        return out

    def source_points(self, n, h, w, rng, dtype=np.float32):
        """(sx, sy), each (n, H·W): where each output pixel reads the input image. The arrays
        are buffers this object reuses on its next call."""
        dtype = np.dtype(dtype)
        f = dtype.type
        t = self._tables(h, w, dtype)
        sx, sy, tmp = self._buffers(n, h * w, dtype)
        u = rng.random((5, n, 1), dtype=dtype) * f(2) - f(1)       # the affine draws, U(−1, 1)
        theta = u[0] * f(math.radians(self.rotate))
        k = u[1] * f(self.shear)
        s = f(1) + u[2] * f(self.scale)
        cos, sin = np.cos(theta), np.sin(theta)
        # A = R(θ)·[[1, k], [0, 1]]·σ  →  s(p) = A·(p − c) + c + t
        a11, a12, a21, a22 = s * cos, s * (cos * k - sin), s * sin, s * (sin * k + cos)
        tx = u[3] * f(self.shift) + f(t["cx"])
        ty = u[4] * f(self.shift) + f(t["cy"])
        gx, gy = t["gx"], t["gy"]
        for dst, a, b, c in ((sx, a11, a12, tx), (sy, a21, a22, ty)):
            np.multiply(a, gx, out=dst)                             # (n, H·W)
            dst += np.multiply(b, gy, out=tmp)
            dst += c
        if self.elastic:
            self._add_displacements(sx, sy, t, rng, dtype)
        return sx, sy

    def _buffers(self, n, p, dtype):
        key = ("buffers", n, p, dtype.str)
        if key not in self._cache:
            self._cache = {k: v for k, v in self._cache.items() if k[0] != "buffers"}   # one batch size
            self._cache[key] = tuple(np.empty((n, p), dtype=dtype) for _ in range(3))
        return self._cache[key]

    def _add_displacements(self, sx, sy, t, rng, dtype):
        """Add smooth random fields (std ``elastic`` px per component) to sx and sy.

        Each component of each image is cos φ·F_i + sin φ·F_j: two fields of the bank mixed at a
        random angle φ, which keeps the variance 1 and gives a fresh field from a few draws —
        gathers and products, no per-batch matrix product (tiny BLAS calls crawl on busy cores).
        """
        bank = t["bank"]                                            # (BANK, H·W), unit variance
        n = len(sx)
        pick = rng.integers(0, len(bank), size=(4, n))
        phi = rng.random((2, n, 1), dtype=dtype) * dtype.type(2 * math.pi)
        a, b = np.cos(phi), np.sin(phi)
        a *= dtype.type(self.elastic)
        b *= dtype.type(self.elastic)
        tmp = self._buffers(n, sx.shape[1], dtype)[2]
        for c, dst in enumerate((sx, sy)):
            np.take(bank, pick[2 * c], axis=0, out=tmp)
            tmp *= a[c]
            dst += tmp
            np.take(bank, pick[2 * c + 1], axis=0, out=tmp)
            tmp *= b[c]
            dst += tmp


def _bank(h, w, sigma, dtype):
    """(BANK, H·W) smooth unit-variance fields G_y·N·G_xᵀ, N white noise on a coarse grid.
    The same in every run (a fixed seed): the runs differ in how they mix them."""
    Gy, Gx = _smoother(h, sigma, np.float64), _smoother(w, sigma, np.float64)
    noise = np.random.default_rng(BANK_SEED).standard_normal((BANK, Gy.shape[1], Gx.shape[1]))
    bank = (Gy @ noise @ Gx.T).reshape(BANK, h * w)
    bank -= bank.mean(axis=0)                                      # exactly zero mean and unit
    bank /= np.sqrt((bank ** 2).mean(axis=0))                      # variance per pixel over the bank
    return bank.astype(dtype)


def _smoother(size, sigma, dtype):
    """(size, k): Gaussian weights from k coarse grid points (spacing ≈ sigma) to each pixel,
    each row scaled to unit norm so G·N (N white, unit variance) has unit variance per pixel."""
    k = max(2, math.ceil((size - 1) / sigma) + 3)                   # one point beyond each edge
    points = np.linspace(-sigma, size - 1 + sigma, k)
    x = np.arange(size)[:, None]
    G = np.exp(-0.5 * ((x - points[None, :]) / sigma) ** 2)
    G /= np.sqrt((G ** 2).sum(axis=1, keepdims=True))
    return G.astype(dtype)


def bilinear(images, sx, sy, fill=0.0, out=None):
    """Bilinear samples of ``images`` (n, H, W) at points (sx, sy), each (n, P) → (n, P).

    v = (1−fy)·((1−fx)·I[y0, x0] + fx·I[y0, x0+1]) + fy·((1−fx)·I[y0+1, x0] + fx·I[y0+1, x0+1]),
    with x0 = ⌊sx⌋, fx = sx − x0 (same for y). The images are padded by one pixel of ``fill`` and
    the points clipped to the padding. Horizontal neighbours (I[j], I[j+1]) are read as one complex
    number through an overlapping view, so two gathers (top pair, bottom pair) fetch all four.
    sx and sy are overwritten.
    """
    n, h, w = images.shape
    dtype = sx.dtype
    hp, wp = h + 2, w + 2
    m = n * hp * wp
    flat = np.full(m + wp + 1, fill, dtype=dtype)
    flat[:m].reshape(n, hp, wp)[:, 1:-1, 1:-1] = images
    # pairs[j] = I[j] + i·I[j+1]: records of two floats that overlap by one (stride = one float)
    pairs = np.ndarray((m + wp,), dtype=np.dtype(f"c{2 * dtype.itemsize}"), buffer=flat,
                       strides=(dtype.itemsize,))
    np.clip(sx, -1, w, out=sx)
    np.clip(sy, -1, h, out=sy)
    x0 = np.floor(sx)
    y0 = np.floor(sy)
    np.minimum(x0, w - 1, out=x0)                                   # sx = w reads the padding at fx = 1
    np.minimum(y0, h - 1, out=y0)
    fx = np.subtract(sx, x0, out=sx)
    fy = np.subtract(sy, y0, out=sy)
    # flat index of the top-left neighbour, +1 row +1 column for the padding (exact: < 2^24)
    y0 *= dtype.type(wp)
    y0 += x0
    y0 += (np.arange(n, dtype=dtype) * dtype.type(hp * wp) + dtype.type(wp + 1))[:, None]
    index = y0.astype(np.intp)
    z = np.take(pairs, index)                                       # (I[y0, x0], I[y0, x0+1])
    index += wp
    bottom = np.take(pairs, index)                                  # (I[y0+1, x0], I[y0+1, x0+1])
    bottom -= z
    bottom *= fy
    z += bottom                                                     # (1−fy)·top + fy·bottom, both columns
    r = z.view(dtype).reshape(n, -1, 2)
    if out is None:
        out = np.empty(sx.shape, dtype=dtype)
    np.subtract(r[..., 1], r[..., 0], out=out)
    out *= fx
    out += r[..., 0]
    return out
