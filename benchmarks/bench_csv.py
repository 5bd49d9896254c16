"""Loading a Kaggle digit-recognizer style CSV (label, pixel0..pixel783; 42,000 integer rows).

    python benchmarks/bench_csv.py [--rows 42000] [--runs 3]

Writes the file from the bundled MNIST into a temporary folder, then times ``load_csv`` on it:
the integer fast path (``np.fromstring``) and, forced, the general ``np.loadtxt`` path. Prints the
best of ``--runs`` for each and checks that both give the same arrays.
"""

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))   # measure this checkout

import numpy as np

from nnzero.datasets import csvfile, load_mnist


def best_of(runs, fn):
    times, result = [], None
    for _ in range(runs):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return min(times), result


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=42000)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    (X, y), _ = load_mnist()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "train.csv"
        with open(path, "w") as f:
            f.write("label," + ",".join(f"pixel{i}" for i in range(784)) + "\n")
            np.savetxt(f, np.column_stack([y[:args.rows], X[:args.rows].astype(np.int64)]), fmt="%d", delimiter=",")
        size = path.stat().st_size / 2**20
        fast, (Xf, yf) = best_of(args.runs, lambda: csvfile.load_csv(path))
        real = csvfile._integer_table
        csvfile._integer_table = lambda *a: None
        try:
            slow, (Xs, ys) = best_of(args.runs, lambda: csvfile.load_csv(path))
        finally:
            csvfile._integer_table = real
    assert Xf.tobytes() == Xs.tobytes() and yf.tobytes() == ys.tobytes()
    print(f"{args.rows} rows, {size:.0f} MiB: integer fast path {fast:.2f} s, np.loadtxt {slow:.2f} s "
          f"({slow / fast:.1f}x), same arrays")


if __name__ == "__main__":
    main()
