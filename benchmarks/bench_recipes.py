"""The recipes' figures: train the named recipes on bundled MNIST; test accuracy, time, and the curve.

    python benchmarks/bench_recipes.py                          # default recipe, seed 0
    python benchmarks/bench_recipes.py fast99 best --seeds 0 1 2
    python benchmarks/bench_recipes.py best --seeds 0 1 2 --cli  # wall time of the whole command

In-process (default): per seed, the test accuracy after every epoch against the cumulative
training time (the accuracy-vs-time curve; the per-epoch test evaluation is not counted in the
time), the final accuracy, the training seconds and the data-loading seconds.
``--cli``: per seed, the wall time of ``nnzero train --recipe NAME --seed S --quiet`` in a fresh
process, start-up, data loading, test evaluation and saving included, and the accuracy it prints.
Results are appended to benchmarks/results/recipes.jsonl with the commit, CPU, BLAS and date;
the test set is only measured here, never used to choose settings (see tune_recipes.py).
"""

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

import nnzero as nz
from nnzero import preprocessing, recipes

from machine import machine  # noqa: E402  (benchmarks/machine.py)

RESULTS = Path(__file__).parent / "results" / "recipes.jsonl"


def run(name, seed=0):
    t0 = time.perf_counter()
    (X, y), (Xt, yt) = nz.datasets.load_mnist()
    load_s = time.perf_counter() - t0
    settings = recipes.get(name)
    X = preprocessing.apply(X, settings["preprocessing"])
    Xt = preprocessing.apply(Xt, settings["preprocessing"])
    model = recipes.build_model(settings, X.shape[1], 10)
    augment = nz.Augment.from_config(settings["augment"]) if settings.get("augment") else None
    curve = []

    def on_epoch_end(epoch, logs):           # fit's logs["time"] is taken before the callbacks
        seconds = sum(model.history["time"])
        curve.append({"epoch": epoch + 1, "seconds": round(seconds, 2),
                      "test_accuracy": model.evaluate(Xt, yt)["accuracy"]})
        print(f"  {name} seed {seed} epoch {epoch + 1}: test {curve[-1]['test_accuracy']:.4f} "
              f"after {seconds:.1f} s of training", flush=True)

    history = model.fit(X, y, epochs=settings["epochs"], batch_size=settings["batch_size"],
                        optimizer=recipes.build_optimizer(settings), seed=seed, augment=augment,
                        callbacks=[nz.LambdaCallback(on_epoch_end=on_epoch_end)])
    result = model.evaluate(Xt, yt)
    return {"recipe": name, "seed": seed, "mode": "in-process", "test_accuracy": result["accuracy"],
            "test_loss": result["loss"], "train_seconds": round(sum(history["time"]), 2),
            "load_seconds": round(load_s, 3), "epochs": len(history), "final_train_loss": history["loss"][-1],
            "params": model.count_params(), "curve": curve}


def run_cli(name, seed=0):
    """Wall time of the whole command in a fresh process, and the test accuracy it reports."""
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1] / "src")}
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        proc = subprocess.run([sys.executable, "-m", "nnzero", "train", "--recipe", name, "--seed", str(seed),
                               "--quiet", "--out", str(Path(tmp) / "m.safetensors")],
                              capture_output=True, text=True, env=env, cwd=tmp)
        wall = time.perf_counter() - t0
    found = re.search(r"test accuracy ([\d.]+)%", proc.stdout)
    if proc.returncode or not found:
        raise RuntimeError(f"nnzero train --recipe {name} failed: {proc.stdout}\n{proc.stderr}")
    return {"recipe": name, "seed": seed, "mode": "cli", "test_accuracy": float(found.group(1)) / 100,
            "wall_seconds": round(wall, 2)}


def _commit():
    out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                         cwd=Path(__file__).parent)
    return out.stdout.strip() or None


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    # No `choices`: with nargs="*" argparse checks the (empty) list itself against them.
    ap.add_argument("recipes", nargs="*", help=f"any of {sorted(recipes.RECIPES)}; default: default")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0])
    ap.add_argument("--cli", action="store_true", help="time the whole `nnzero train` command instead")
    ap.add_argument("--note", default="", help="stored with the results, e.g. 'machine shared with 7 jobs'")
    args = ap.parse_args()
    info = machine()
    print(f"# {info['cpu']}, {info['cores']} cores, numpy {np.__version__}")
    unknown = sorted(set(args.recipes) - set(recipes.RECIPES))
    if unknown:
        ap.error(f"unknown recipes {unknown}; expected any of {sorted(recipes.RECIPES)}")
    RESULTS.parent.mkdir(exist_ok=True)
    stamp = {"commit": _commit(), "date": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
             "note": args.note, "machine": info}
    for name in args.recipes or ["default"]:
        accs = []
        for seed in args.seeds:
            r = (run_cli if args.cli else run)(name, seed)
            accs.append(r["test_accuracy"])
            seconds = r.get("wall_seconds", r.get("train_seconds"))
            print(f"{name:8s} seed {seed}  test accuracy {r['test_accuracy']:.4f}  "
                  f"{'wall' if args.cli else 'training'} {seconds:.1f} s", flush=True)
            with open(RESULTS, "a") as f:
                f.write(json.dumps({**r, **stamp}) + "\n")
        if len(accs) > 1:
            print(f"{name:8s} median {statistics.median(accs):.4f} over seeds {args.seeds}")


if __name__ == "__main__":
    main()
