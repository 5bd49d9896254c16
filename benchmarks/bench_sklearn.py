"""Issue 6's figures: nnzero.sklearn.MLPClassifier next to scikit-learn's MLPClassifier, same settings.

    python benchmarks/bench_sklearn.py                  # digits 100 epochs, full MNIST 20 epochs
    python benchmarks/bench_sklearn.py --mnist-train 10000 --epochs 10   # quicker

Settings for every row: hidden (256, 128), ReLU, Adam lr 1e-3, alpha 1e-4, batch 200, exactly
``--digits-epochs`` / ``--epochs`` epochs (no early stopping; n_iter_no_change = epochs so the
tol rule never stops a run), random_state 0. Pixels are scaled to [0, 1]. Each estimator gets float64 input, as most
scikit-learn users have; scikit-learn's MLP also runs once on float32 input, since it then
computes in float32 too, for a like-for-like float32 comparison. Times are ``fit`` only, in one
process, on the same BLAS: the median of 5 fits on digits (a fit takes about a second) and of
``--mnist-repeats`` on MNIST, the contenders taking turns. Prints a Markdown table and stores
every fit time in results/sklearn.json with the commit, the date, the CPU, the BLAS kernel and
the load average (benchmarks/figures.py checks the README against it).
"""

import argparse
import os
import platform
import statistics
import time
import warnings

import numpy as np
import sklearn
from sklearn import neural_network as sk_nn
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split

from provenance import provenance, store  # noqa: I001  (puts src/ first on the path)

import nnzero as nz  # noqa: E402
from nnzero.sklearn import MLPClassifier  # noqa: E402


def datasets(args):
    """(name, epochs, repeats, (X_train, y_train), (X_test, y_test)), X float64 in [0, 1]."""
    X, y = load_digits(return_X_y=True)
    Xtr, Xte, ytr, yte = train_test_split(X / 16.0, y, test_size=0.25, stratify=y, random_state=0)
    yield "digits (1347 / 450)", args.digits_epochs, 5, (Xtr, ytr), (Xte, yte)
    (X, y), (Xt, yt) = nz.datasets.load_mnist(normalize=True)
    X, y = X[:args.mnist_train].astype(np.float64), y[:args.mnist_train]
    yield f"MNIST ({len(X)} / {len(Xt)})", args.epochs, args.mnist_repeats, (X, y), (Xt.astype(np.float64), yt)


def contenders(epochs):
    settings = dict(hidden_layer_sizes=(256, 128), activation="relu", solver="adam", alpha=1e-4,
                    batch_size=200, learning_rate_init=1e-3, max_iter=epochs,
                    n_iter_no_change=epochs, early_stopping=False, random_state=0)
    yield "scikit-learn MLPClassifier", "float64", sk_nn.MLPClassifier(**settings), np.float64
    yield "scikit-learn MLPClassifier", "float32", sk_nn.MLPClassifier(**settings), np.float32
    yield "nnzero.sklearn.MLPClassifier", "float64", MLPClassifier(dtype="float64", **settings), np.float64
    yield "nnzero.sklearn.MLPClassifier", "float32", MLPClassifier(dtype="float32", **settings), np.float64


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=20, help="MNIST epochs")
    ap.add_argument("--digits-epochs", type=int, default=100)
    ap.add_argument("--mnist-train", type=int, default=60000, help="MNIST training rows to use")
    ap.add_argument("--mnist-repeats", type=int, default=3, help="fits per MNIST row (the median is shown)")
    ap.add_argument("--no-store", action="store_true", help="print only; leave results/sklearn.json alone")
    args = ap.parse_args()
    stored = {**provenance(), "settings": vars(args), "rows": []}
    print(f"load average at the start: {os.getloadavg()}")
    print(f"{platform.machine()}, {os.cpu_count()} cores, numpy {np.__version__}, "
          f"scikit-learn {sklearn.__version__}, nnzero {nz.__version__}; "
          "hidden (256, 128), adam lr 1e-3, alpha 1e-4, batch 200\n")
    print("| data (train / test) | epochs | estimator | computes in | fit time (s) | test accuracy | final loss |")
    print("|---|---:|---|---|---:|---:|---:|")
    for data_name, epochs, repeats, (X, y), (Xt, yt) in datasets(args):
        runs = list(contenders(epochs))
        times = [[] for _ in runs]
        for _ in range(repeats):              # round-robin, so a burst of load hits every row
            for i, (_, _, est, input_dtype) in enumerate(runs):
                Xin = X.astype(input_dtype, copy=False)
                t0 = time.perf_counter()
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", ConvergenceWarning)   # fixed epochs on purpose
                    est.fit(Xin, y)
                times[i].append(time.perf_counter() - t0)
        for (name, dtype, est, input_dtype), t in zip(runs, times):
            acc = est.score(Xt.astype(input_dtype, copy=False), yt)
            print(f"| {data_name} | {est.n_iter_} | {name} | {dtype} | {statistics.median(t):.2f} | {acc:.4f} | "
                  f"{est.loss_curve_[-1]:.4f} |", flush=True)
            stored["rows"].append({"data": data_name, "epochs": est.n_iter_, "estimator": name, "dtype": dtype,
                                   "fit_seconds_median": statistics.median(t), "fit_seconds": t,
                                   "test_accuracy": acc, "final_loss": est.loss_curve_[-1]})
    # BLAS threads spin when the cores are shared: other work on the machine inflates these times
    # many-fold. Trust a table only when the load stayed near 0.
    print(f"\nload average (1, 5, 15 min) at the end: {os.getloadavg()}")
    stored["load_average_at_end"] = list(os.getloadavg())
    if not args.no_store:
        store("sklearn", stored)

if __name__ == "__main__":
    main()
