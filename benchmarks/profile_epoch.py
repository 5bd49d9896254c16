"""Where one nnzero training epoch spends its time (benchmark network 784-256-128-10, Adam 1e-3).

    python benchmarks/profile_epoch.py [--batch-size 128] [--top 25] [--no-cprofile]

Three views of the same epoch, after one warm-up epoch (buffers allocated, Adam state built):

1. Breakdown by step, measured inside a real ``fit`` epoch by wrapping the engine's kernels
   (``forward``/``backward`` of each layer), the loss and the optimizer update with timers. "loop" is what is left:
   shuffling, the batch gather, the accuracy count, Python overhead of the loop.
2. The floor: the epoch's eight matrix products per batch (3 forward, 3 weight gradients, 2 input
   gradients; the first layer's input gradient is skipped) replayed alone on the same shapes,
   plus the bias adds and bias-gradient sums, plus the shuffle-and-gather. Matmul fraction =
   GEMM replay time / epoch time.
3. cProfile, sorted by tottime. NumPy ufuncs (np.matmul, np.add, ...) are not Python functions, so
   cProfile charges their time to the calling function (``Dense.forward`` includes its matmul);
   methods such as ``ndarray.sum`` and functions such as ``np.take`` are listed on their own.
"""

import argparse
import cProfile
import io
import os
import pstats
import sys
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))   # profile this checkout

import numpy as np  # noqa: E402

import nnzero as nz  # noqa: E402

SIZES = (784, 256, 128, 10)


def build():
    return nz.Sequential([nz.Dense(784, 256), nz.ReLU(), nz.Dense(256, 128), nz.ReLU(),
                          nz.Dense(128, 10), nz.Softmax()])


def timed(fn, key, totals):
    def wrapper(*args, **kwargs):
        t0 = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            totals[key] += time.perf_counter() - t0
    return wrapper


def breakdown(model, opt, X, y, bs):
    """Seconds per step of one epoch, from timers wrapped around the engine's kernels (fit's fast
    path: nnzero/engine.py), the loss and the optimizer update."""
    from nnzero import training

    totals = defaultdict(float)

    class TimedEngine(training.Engine):
        def __init__(self, model, optimizer):
            super().__init__(model, optimizer)
            for i, kernel in enumerate(self.kernels):
                name = f"{i}:{type(kernel.layer).__name__}"
                kernel.forward = timed(kernel.forward, f"{name}.forward", totals)
                kernel.backward = timed(kernel.backward, f"{name}.backward", totals)
            self.step = timed(self.step, "optimizer update", totals)

    model.loss.loss_and_grad = timed(model.loss.loss_and_grad, "loss_and_grad", totals)
    plain, training.Engine = training.Engine, TimedEngine
    try:
        h = model.fit(X, y, epochs=1, batch_size=bs, optimizer=opt, seed=1)
    finally:
        training.Engine = plain
        model.loss.__dict__.pop("loss_and_grad", None)
    epoch = h["time"][-1]
    totals["loop (shuffle, gather, accuracy, Python)"] = epoch - sum(totals.values())
    return epoch, dict(totals)


def floor(X, bs, rng, repeats=3):
    """Seconds for the epoch's GEMMs alone, the bias work alone, and the shuffle + gather alone."""
    n = len(X)
    sizes = [bs] * (n // bs) + ([n % bs] if n % bs else [])
    Ws = [rng.standard_normal((a, b), dtype=np.float32) * 0.05 for a, b in zip(SIZES, SIZES[1:])]
    bias = [np.zeros(b, np.float32) for b in SIZES[1:]]
    dbias = [np.empty_like(b) for b in bias]
    best = {"gemm": np.inf, "bias": np.inf, "gather": np.inf}
    for _ in range(repeats):
        # Forward outputs and incoming gradients in separate buffers, so values never feed back.
        acts = {m: [rng.random((m, d), dtype=np.float32) for d in SIZES] for m in set(sizes)}
        gin = {m: [rng.random((m, d), dtype=np.float32) for d in SIZES] for m in set(sizes)}
        dWs = [np.empty_like(W) for W in Ws]
        t0 = time.perf_counter()
        for m in sizes:
            a, g = acts[m], gin[m]
            for k, W in enumerate(Ws):
                np.matmul(a[k], W, out=a[k + 1])                    # forward
            for k in (2, 1, 0):
                np.matmul(a[k].T, g[k + 1], out=dWs[k])             # dW = Xᵀ·G
                if k:
                    np.matmul(g[k + 1], Ws[k].T, out=g[k])          # dX = G·Wᵀ (not for layer 0)
        best["gemm"] = min(best["gemm"], time.perf_counter() - t0)
        t0 = time.perf_counter()
        for m in sizes:
            for k in range(3):
                acts[m][k + 1] += bias[k]
                np.sum(gin[m][k + 1], axis=0, out=dbias[k])
        best["bias"] = min(best["bias"], time.perf_counter() - t0)
        buf = np.empty((bs, X.shape[1]), np.float32)
        t0 = time.perf_counter()
        order = rng.permutation(n)
        for b, m in enumerate(sizes):
            np.take(X, order[b * bs:b * bs + m], axis=0, out=buf[:m])
        best["gather"] = min(best["gather"], time.perf_counter() - t0)
    return best


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--top", type=int, default=25)
    ap.add_argument("--no-cprofile", action="store_true")
    args = ap.parse_args()
    bs = args.batch_size

    (X, y), _ = nz.datasets.load_mnist(normalize=True)
    model, opt = build(), nz.Adam(1e-3)
    model.fit(X, y, epochs=1, batch_size=bs, optimizer=opt, seed=0)     # warm-up
    epoch, parts = breakdown(model, opt, X, y, bs)
    fl = floor(X, bs, np.random.default_rng(0))

    n, P = len(X), sum(a * b for a, b in zip(SIZES, SIZES[1:]))
    real = 6 * P * n - 2 * SIZES[0] * SIZES[1] * n
    print(f"# nnzero {nz.__version__}, numpy {np.__version__}, {os.cpu_count()} cores, batch {bs}")
    print(f"epoch {epoch:.3f} s; {real / 1e9:.1f} GFLOP done (nominal 6·P·n = {6 * P * n / 1e9:.1f})"
          f" → {real / epoch / 1e9:.1f} GFLOP/s achieved\n")
    print(f"{'step':44s} {'seconds':>8s} {'share':>7s}")
    for key, s in sorted(parts.items(), key=lambda kv: -kv[1]):
        print(f"{key:44s} {s:8.3f} {s / epoch:7.1%}")
    print(f"\nfloor, replayed alone on the same shapes:")
    print(f"{'GEMMs only (8 per batch)':44s} {fl['gemm']:8.3f} {fl['gemm'] / epoch:7.1%}"
          f"   {real / fl['gemm'] / 1e9:.1f} GFLOP/s")
    print(f"{'bias add + bias-gradient sum':44s} {fl['bias']:8.3f} {fl['bias'] / epoch:7.1%}")
    print(f"{'permutation + np.take gather':44s} {fl['gather']:8.3f} {fl['gather'] / epoch:7.1%}")
    print(f"{'everything but GEMMs (epoch − GEMM replay)':44s} {epoch - fl['gemm']:8.3f} "
          f"{(epoch - fl['gemm']) / epoch:7.1%}")

    if not args.no_cprofile:
        prof = cProfile.Profile()
        prof.enable()
        model.fit(X, y, epochs=1, batch_size=bs, optimizer=opt, seed=2)
        prof.disable()
        out = io.StringIO()
        pstats.Stats(prof, stream=out).sort_stats("tottime").print_stats(args.top)
        print("\ncProfile of one more epoch (profiler overhead included), by tottime:")
        print(out.getvalue())


if __name__ == "__main__":
    main()
