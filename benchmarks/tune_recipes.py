"""Choose recipe settings on a validation split carved from MNIST's training set (never the test set).

    python benchmarks/tune_recipes.py default --set hidden=[800,800] --set epochs=30 \\
        --set 'augment={"shift":2,"rotate":12,"scale":0.1,"shear":0.15,"elastic":1.5}'

Trains on the first 50,000 training images and reports accuracy on the last 10,000 after every
epoch, with the elapsed training time: one JSON line per run appended to
benchmarks/results/tuning.jsonl (settings, per-epoch validation accuracy and seconds, machine).
"""

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np

import nnzero as nz
from nnzero import preprocessing, recipes

from machine import machine  # benchmarks/machine.py

N_VAL = 10_000
RESULTS = Path(__file__).parent / "results" / "tuning.jsonl"


def run(name, overrides, seed):
    settings = {**recipes.get(name), **overrides}
    (X, y), _ = nz.datasets.load_mnist()
    X = preprocessing.apply(X, settings["preprocessing"])
    Xtr, ytr, Xva, yva = X[:-N_VAL], y[:-N_VAL], X[-N_VAL:], y[-N_VAL:]
    model = recipes.build_model(settings, X.shape[1], 10)
    augment = nz.Augment.from_config(settings["augment"]) if settings.get("augment") else None
    curve, t0 = [], time.perf_counter()

    def on_epoch_end(epoch, logs):
        acc = model.evaluate(Xva, yva)["accuracy"]
        curve.append({"epoch": epoch + 1, "val_accuracy": acc, "seconds": round(time.perf_counter() - t0, 1),
                      "train_loss": round(logs["loss"], 5)})
        print(f"epoch {epoch + 1:3d}  val {acc:.4f}  {curve[-1]['seconds']:7.1f} s", flush=True)

    model.fit(Xtr, ytr, epochs=settings["epochs"], batch_size=settings["batch_size"],
              optimizer=recipes.build_optimizer(settings), seed=seed, augment=augment,
              callbacks=[nz.LambdaCallback(on_epoch_end=on_epoch_end)])
    return {"recipe": name, "overrides": overrides, "seed": seed, "settings": settings,
            "final_val_accuracy": curve[-1]["val_accuracy"], "curve": curve}


def _commit():
    import subprocess

    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                              cwd=Path(__file__).parent).stdout.strip() or None
    except OSError:
        return None


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("recipe", choices=sorted(recipes.RECIPES))
    ap.add_argument("--set", action="append", default=[], metavar="KEY=JSON", help="override a setting")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--note", default="", help="free text stored with the result (e.g. machine shared)")
    args = ap.parse_args()
    overrides = {}
    for item in args.set:
        key, _, value = item.partition("=")
        overrides[key] = json.loads(value)
    commit = _commit()                     # the code the run starts with
    result = run(args.recipe, overrides, args.seed)
    result.update(machine=machine(), commit=commit, note=args.note,
                  date=time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
                  env={k: os.environ.get(k) for k in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS")})
    RESULTS.parent.mkdir(exist_ok=True)
    with open(RESULTS, "a") as f:
        f.write(json.dumps(result) + "\n")
    print(json.dumps({k: result[k] for k in ("recipe", "overrides", "seed", "final_val_accuracy")}))


if __name__ == "__main__":
    main()
