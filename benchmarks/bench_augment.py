"""What augmentation costs per epoch next to the training step it feeds.

    python benchmarks/bench_augment.py [--hidden 800,800] [--batch-size 256] [--reps 30]

On batches of real MNIST digits, alternating in one process (so a busy spell of a shared machine
hits both alike): (a) one training step of the recipe's network (forward, backward, Adam update)
on a gathered batch; (b) nz.Augment with the affine warp only; (c) affine + elastic. Reports the
median milliseconds per batch, the per-epoch seconds (× batches in 60,000 images) and the
augmentation's share of the epoch; appends the result to benchmarks/results/augment.jsonl with
the commit, CPU, BLAS and date.
"""

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))   # measure this checkout

import numpy as np  # noqa: E402

import nnzero as nz  # noqa: E402
from machine import machine  # noqa: E402

RESULTS = Path(__file__).parent / "results" / "augment.jsonl"


def step_fn(model, optimizer, X, y, bs, rng):
    """One training step as nnzero.training's inner loop runs it: gather, forward, loss, backward, update."""
    xbuf = np.empty((bs, X.shape[1]), np.float32)
    gbuf = np.empty((bs, 10), np.float32)
    params, grads, flat = model.params, model.grads, model.flat_parameters()

    def step():
        idx = rng.permutation(len(X))[:bs]
        xb = np.take(X, idx, axis=0, out=xbuf, mode="clip")
        out = model.forward(xb, training=True)
        _, g = model.loss.loss_and_grad(out, y[idx], None, out=gbuf)
        model.backward(g)
        optimizer.step(params, grads, optimizer.lr, flat=flat)
    return step


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hidden", default="800,800")
    ap.add_argument("--batch-size", type=int, default=256)
    ap.add_argument("--reps", type=int, default=30)
    ap.add_argument("--note", default="")
    args = ap.parse_args()
    hidden = [int(h) for h in args.hidden.split(",")]
    (X, y), _ = nz.datasets.load_mnist(normalize=True)
    rng = np.random.default_rng(0)
    model = nz.mlp(784, hidden, 10)
    model.fit(X[:512], y[:512], epochs=1, batch_size=args.batch_size, seed=0)   # built, classes set, packed
    optimizer = nz.Adam(1e-3)
    target = model.encode_labels(y, len(y))
    bs = args.batch_size
    batch = X[:bs].copy()
    out = np.empty_like(batch)
    affine, elastic = nz.Augment(), nz.Augment(elastic=1.5)
    tasks = {"train_step": step_fn(model, optimizer, X, target, bs, rng),
             "affine": lambda: affine(batch, rng, out=out),
             "affine+elastic": lambda: elastic(batch, rng, out=out)}
    for fn in tasks.values():
        fn()                                                    # warm-up: buffers, Adam state, tables
    times = {k: [] for k in tasks}
    for _ in range(args.reps):
        for name, fn in tasks.items():                          # alternating
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
    batches = -(-60_000 // bs)
    med = {k: float(np.median(v)) for k, v in times.items()}
    result = {"hidden": hidden, "batch_size": bs, "reps": args.reps,
              "ms_per_batch": {k: round(1e3 * v, 3) for k, v in med.items()},
              "s_per_epoch": {k: round(v * batches, 2) for k, v in med.items()},
              "share_of_epoch": {k: round(med[k] / (med[k] + med["train_step"]), 3) for k in ("affine", "affine+elastic")},
              "commit": subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                                       cwd=Path(__file__).parent).stdout.strip(),
              "date": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()), "note": args.note,
              "machine": machine()}
    for k in tasks:
        print(f"{k:15s} {1e3 * med[k]:7.2f} ms/batch  {med[k] * batches:6.2f} s/epoch")
    for k, v in result["share_of_epoch"].items():
        print(f"{k} is {100 * v:.1f} % of an augmented epoch")
    RESULTS.parent.mkdir(exist_ok=True)
    with open(RESULTS, "a") as f:
        f.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
