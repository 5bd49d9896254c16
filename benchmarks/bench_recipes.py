"""Issue 2's figures: train the named recipes on bundled MNIST and report test accuracy and time.

    python benchmarks/bench_recipes.py                 # default recipe, seed 0 (about 30 s)
    python benchmarks/bench_recipes.py seed long       # the seed script and the longer recipe
    python benchmarks/bench_recipes.py --seeds 0 1 2 3 # several seeds

Each (recipe, seed) runs in a fresh process, so its peak resident memory (VmHWM: interpreter,
NumPy, MNIST as float32, the model) is its own. Times are training only (fit), measured with
time.perf_counter; data loading is reported apart. Every run is stored in
results/recipes.json with the commit, the date, the CPU, the BLAS kernel and the load average
(a run replaces an earlier one of the same recipe and seed); benchmarks/figures.py checks the
README against that file.
"""

import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np

from provenance import load, provenance, store  # noqa: E402  (puts src/ first on the path)

import nnzero as nz  # noqa: E402
from nnzero import preprocessing, recipes  # noqa: E402


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
            "params": model.count_params(), "peak_rss_mb": peak_rss_mb()}


def peak_rss_mb():
    """This process's peak resident memory (VmHWM) in MB, or None without /proc."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return None


def run_fresh(name, seed):
    """run(name, seed) in a new Python process; its result with the provenance of the run."""
    before = provenance()                    # the commit measured, as the run starts
    out = subprocess.run([sys.executable, __file__, "--child", name, str(seed)], capture_output=True,
                         text=True, check=True).stdout
    after = os.getloadavg()
    return {**json.loads(out.strip().splitlines()[-1]), **before, "load_average_at_end": list(after)}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    # No `choices`: with nargs="*" argparse checks the (empty) list itself against them.
    ap.add_argument("recipes", nargs="*", help=f"any of {sorted(recipes.RECIPES)}; default: default")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0])
    ap.add_argument("--no-store", action="store_true", help="print only; leave results/recipes.json alone")
    ap.add_argument("--child", nargs=2, metavar=("RECIPE", "SEED"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(run(args.child[0], int(args.child[1]))))
        return
    unknown = sorted(set(args.recipes) - set(recipes.RECIPES))
    if unknown:
        ap.error(f"unknown recipes {unknown}; expected any of {sorted(recipes.RECIPES)}")
    print(f"# {provenance()['cpu']}, {os.cpu_count()} cores, numpy {np.__version__}, "
          f"load average {os.getloadavg()}")
    stored = load("recipes") or {"runs": []}
    for name in args.recipes or ["default"]:
        for seed in args.seeds:
            r = run_fresh(name, seed)
            print(f"{name:8s} seed {seed}: test accuracy {r['test_accuracy']:.4f}  training {r['train_seconds']:.1f} s "
                  f"({r['epochs']} epochs, {r['params']:,} parameters, peak {r['peak_rss_mb']} MB)", flush=True)
            if not args.no_store:
                stored["runs"] = [x for x in stored["runs"] if (x["recipe"], x["seed"]) != (name, seed)] + [r]
                stored["runs"].sort(key=lambda x: (x["recipe"], x["seed"]))
                store("recipes", stored)


if __name__ == "__main__":
    main()
