"""Trials per second of ``nnzero search`` on this machine: in-process, local worker processes,
and a Dask LocalCluster of worker processes (what ``--scheduler`` talks to), on the same grid.

The grid: 8 trials (hidden 32/64 × lr 1e-3/3e-3 × dropout 0/0.1) of a 784-h-10 MLP, 2 epochs,
batch 128, on 6000 MNIST training digits scored on a 0.2 validation split. Each mode runs the
same 8 trials; the time counts everything a user waits for (process spawning, sending the data)
except starting the Dask cluster, which on a real cluster is already running.

    python benchmarks/bench_search.py            # → benchmarks/results/search_trials.json
"""

import argparse
import datetime
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "src"))
from machine import machine  # noqa: E402

from nnzero import datasets, recipes, search  # noqa: E402


def jobs(seed=0):
    out = []
    for index, params in enumerate(search.grid({"hidden": [[32], [64]], "lr": [1e-3, 3e-3], "dropout": [0.0, 0.1]})):
        settings = recipes.get("default")
        settings.update(params, epochs=2, batch_size=128, dtype="float32", early_stopping=None)
        settings.pop("preprocessing")
        out.append({"index": index, "settings": settings, "params": params, "seed": search.trial_seed(seed, index)})
    return out


def timed(fn):
    t0 = time.perf_counter()
    rows = fn()
    return time.perf_counter() - t0, rows


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rows", type=int, default=6000)
    p.add_argument("--out", default=str(HERE / "results" / "search_trials.json"))
    args = p.parse_args()
    (X, y), _ = datasets.load_mnist(normalize=True)
    X, y = X[:args.rows].astype(np.float32), y[:args.rows]
    data = search.TrialData(X, y, search.splits(y, validation_split=0.2, seed=0))
    grid = jobs()
    results = {}
    results["in-process (--workers 1)"] = timed(lambda: search.run(grid, data, workers=1))
    results["2 local processes (--workers 2)"] = timed(lambda: search.run(grid, data, workers=2))
    from distributed import LocalCluster

    t0 = time.perf_counter()
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address=":0", silence_logs=40) as cluster:
        cluster_start = time.perf_counter() - t0
        results["Dask LocalCluster, 2 worker processes (--scheduler)"] = timed(
            lambda: search.run(grid, data, scheduler=cluster.scheduler_address))
    reference = [(r["val_loss"], r["val_accuracy"]) for r in results["in-process (--workers 1)"][1]]
    modes = {}
    for mode, (seconds, rows) in results.items():
        modes[mode] = {"seconds": seconds, "trials": len(rows), "trials_per_second": len(rows) / seconds,
                       "mean_trial_seconds": float(np.mean([r["seconds"] for r in rows])),
                       "same_results_as_in_process": [(r["val_loss"], r["val_accuracy"]) for r in rows] == reference,
                       "workers": sorted({r["worker"] for r in rows})}
        print(f"{mode:55s} {len(rows)} trials in {seconds:6.1f}s = {len(rows) / seconds:.2f} trials/s "
              f"(mean trial {modes[mode]['mean_trial_seconds']:.1f}s)")
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                            cwd=HERE).stdout.strip()
    with open("/proc/loadavg") as f:
        load = f.read().split()[:3]
    doc = {"benchmark": "nnzero search trials per second", "commit": commit,
           "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
           "machine": machine(), "load_average_after": load,
           "grid": "hidden 32/64 x lr 1e-3/3e-3 x dropout 0/0.1; 2 epochs, batch 128",
           "rows": args.rows, "validation_split": 0.2, "dask_cluster_start_seconds": cluster_start,
           "modes": modes}
    Path(args.out).write_text(json.dumps(doc, indent=1) + "\n")
    print(f"-> {args.out}")


if __name__ == "__main__":
    main()
