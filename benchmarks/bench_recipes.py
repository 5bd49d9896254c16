"""Issue 2's figures: train the named recipes on bundled MNIST and report test accuracy and time.

    python benchmarks/bench_recipes.py                 # default recipe
    python benchmarks/bench_recipes.py seed long       # the seed script and the longer recipe

Times are training only (fit), measured with time.perf_counter; data loading is reported apart.
"""

import argparse
import json
import os
import platform
import time

import numpy as np

import nnzero as nz
from nnzero import preprocessing, recipes


def run(name, seed=0):
    t0 = time.perf_counter()
    (X, y), (Xt, yt) = nz.datasets.load_mnist()
    load_s = time.perf_counter() - t0
    settings = recipes.get(name)
    X = preprocessing.apply(X, settings["preprocessing"])
    Xt = preprocessing.apply(Xt, settings["preprocessing"])
    model = recipes.build_model(settings, X.shape[1], 10)
    t0 = time.perf_counter()
    history = model.fit(X, y, epochs=settings["epochs"], batch_size=settings["batch_size"],
                        optimizer=recipes.build_optimizer(settings), seed=seed)
    train_s = time.perf_counter() - t0
    result = model.evaluate(Xt, yt)
    return {"recipe": name, "seed": seed, "test_accuracy": result["accuracy"], "test_loss": result["loss"],
            "train_seconds": round(train_s, 2), "load_seconds": round(load_s, 3),
            "epochs": len(history), "final_train_loss": history["loss"][-1],
            "params": model.count_params()}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    # No `choices`: with nargs="*" argparse checks the (empty) list itself against them.
    ap.add_argument("recipes", nargs="*", help=f"any of {sorted(recipes.RECIPES)}; default: default")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    print(f"# {platform.processor() or platform.machine()}, {os.cpu_count()} cores, numpy {np.__version__}")
    unknown = sorted(set(args.recipes) - set(recipes.RECIPES))
    if unknown:
        ap.error(f"unknown recipes {unknown}; expected any of {sorted(recipes.RECIPES)}")
    for name in args.recipes or ["default"]:
        r = run(name, args.seed)
        print(f"{name:8s} test accuracy {r['test_accuracy']:.4f}  training {r['train_seconds']:.1f} s "
              f"({r['epochs']} epochs, {r['params']:,} parameters)")
        print(json.dumps(r))


if __name__ == "__main__":
    main()
