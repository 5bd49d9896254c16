"""Does a second thread pay for the optimizer's elementwise update inside a training step?

    python benchmarks/bench_update_threads.py [--steps 200] [--repeats 15]

NumPy releases the GIL inside its elementwise loops, so Adam's update over the flat parameter
vector can run as two halves on two threads. Alone that is faster on a 2-core machine; inside
training the second core is not idle: OpenBLAS's worker thread spins on it for a while after each
matrix product. This script measures the whole step, not the update alone: the benchmark
network's eight matrix products at batch 128 (784-256-128-10, as in a real step) followed by the
Adam update of its 235,146 parameters, three ways, interleaved:

- ``products``: the matrix products alone (the floor);
- ``one``: products + the update on one thread (today's fast path);
- ``two``: products + the update as two halves, the second on a worker thread.

Both update variants compute the same bits (elementwise work split by index); the script checks
that. Results (median ms per step and the machine) go to results/update_threads.json.
"""

import argparse
import json
import math
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
SIZES = (784, 256, 128, 10)


def adam_update(p, g, m, v, tmp, t, lr=1e-3, b1=0.9, b2=0.999, eps=1e-8):
    """Adam on (slices of) flat vectors, in the weighted-sum form of nnzero's fast path."""
    m *= b1
    m += g
    v *= b2
    v += np.multiply(g, g, out=tmp)
    w1, w2 = (1 - b1 ** t) / (1 - b1), (1 - b2 ** t) / (1 - b2)
    np.sqrt(v, out=tmp)
    tmp += eps * math.sqrt(w2)
    np.divide(m, tmp, out=tmp)
    tmp *= lr * math.sqrt(w2) / w1
    p -= tmp


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--repeats", type=int, default=15)
    ap.add_argument("--out", type=Path, default=HERE / "results")
    args = ap.parse_args(argv)
    rng = np.random.default_rng(0)
    bs = 128
    Ws = [rng.standard_normal((a, b), dtype=np.float32) * 0.05 for a, b in zip(SIZES, SIZES[1:])]
    acts = [rng.random((bs, d), dtype=np.float32) for d in SIZES]
    gin = [rng.random((bs, d), dtype=np.float32) for d in SIZES]
    dWs = [np.empty_like(W) for W in Ws]
    P = sum(W.size + W.shape[1] for W in Ws)
    vecs = {k: {n: rng.standard_normal(P, dtype=np.float32) * 1e-3 for n in "pgmv"} for k in ("one", "two")}
    for k in vecs:
        vecs[k]["v"] = np.abs(vecs[k]["v"])
        vecs[k]["tmp"] = np.empty(P, np.float32)
    vecs["two"] = {n: a.copy() for n, a in vecs["one"].items()}
    pool = ThreadPoolExecutor(1)
    half = P // 2

    def products():
        for k, W in enumerate(Ws):
            np.matmul(acts[k], W, out=acts[k + 1])
        for k in (2, 1, 0):
            np.matmul(acts[k].T, gin[k + 1], out=dWs[k])
            if k:
                np.matmul(gin[k + 1], Ws[k].T, out=gin[k])

    def one(t):
        s = vecs["one"]
        adam_update(s["p"], s["g"], s["m"], s["v"], s["tmp"], t)

    def two(t):
        s = vecs["two"]
        parts = [{n: a[:half] for n, a in s.items()}, {n: a[half:] for n, a in s.items()}]
        fut = pool.submit(lambda: adam_update(**{**_args(parts[1]), "t": t}))
        adam_update(**{**_args(parts[0]), "t": t})
        fut.result()

    variants = {"products": lambda t: None, "one": one, "two": two}
    times = {k: [] for k in variants}
    t_count = {k: 0 for k in variants}
    for _ in range(args.repeats):
        for name, update in variants.items():
            t0 = time.perf_counter()
            for _ in range(args.steps):
                products()
                t_count[name] += 1
                update(t_count[name])
            times[name].append((time.perf_counter() - t0) / args.steps * 1e3)
    assert np.array_equal(vecs["one"]["p"], vecs["two"]["p"]), "two threads must give the same bits"
    sys.path.insert(0, str(HERE))
    from machine import machine

    med = {k: float(np.median(v)) for k, v in times.items()}
    result = {"machine": machine(), "date": time.strftime("%Y-%m-%d %H:%M"), "steps": args.steps,
              "repeats": args.repeats, "ms_per_step_median": med,
              "ms_per_step_min": {k: float(min(v)) for k, v in times.items()},
              "update_ms_one": med["one"] - med["products"], "update_ms_two": med["two"] - med["products"]}
    print(json.dumps({k: result[k] for k in ("ms_per_step_median", "update_ms_one", "update_ms_two")}, indent=1))
    args.out.mkdir(parents=True, exist_ok=True)
    from compare import write_atomic

    write_atomic(args.out / "update_threads.json", json.dumps(result, indent=1) + "\n")


def _args(part):
    return {"p": part["p"], "g": part["g"], "m": part["m"], "v": part["v"], "tmp": part["tmp"]}


if __name__ == "__main__":
    main()
