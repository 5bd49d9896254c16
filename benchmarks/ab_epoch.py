"""A/B: the steady-state training epoch of two nnzero source trees, side by side in one run.

    python benchmarks/ab_epoch.py OLD_SRC NEW_SRC [--repeats 7] [--rows 20000] [--out FILE]

Each run is a fresh process that imports nnzero from one tree, trains the benchmark network
(784-256-128-10 ReLU, Adam 1e-3, batch 128) for two epochs on the first ``--rows`` MNIST
training rows and reports the second epoch's time (the first allocates buffers and state). The
two trees alternate (A B A B ...; the order flips every pair), so a machine that gets busier or
quieter during the run shifts both alike. Reports each side's median and the ratio new/old,
with the CPU model, the BLAS kernel (threadpoolctl) and OPENBLAS_CORETYPE.
"""

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

CHILD = r"""
import sys, json, time
sys.path.insert(0, sys.argv[1])
import numpy as np
import nnzero as nz
(X, y), _ = nz.datasets.load_mnist(normalize=True)
X, y = X[:int(sys.argv[2])].copy(), y[:int(sys.argv[2])].copy()
model = nz.Sequential([nz.Dense(784, 256), nz.ReLU(), nz.Dense(256, 128), nz.ReLU(), nz.Dense(128, 10), nz.Softmax()])
h = model.fit(X, y, epochs=2, batch_size=128, optimizer=nz.Adam(1e-3), seed=0, verbose=0)
print(json.dumps({"epoch2": h["time"][1], "loss": h["loss"][1], "file": nz.__file__}))
"""


def machine():
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    blas = None
    try:
        from threadpoolctl import threadpool_info

        blas = [{k: i.get(k) for k in ("internal_api", "version", "architecture", "num_threads")}
                for i in threadpool_info()]
    except ImportError:
        pass
    return {"cpu": cpu, "blas": blas, "OPENBLAS_CORETYPE": os.environ.get("OPENBLAS_CORETYPE"),
            "python": platform.python_version(), "cores": os.cpu_count()}


def run(src, rows):
    out = subprocess.run([sys.executable, "-c", CHILD, str(src), str(rows)], capture_output=True,
                         text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("old", type=Path)
    ap.add_argument("new", type=Path)
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--rows", type=int, default=20000)
    ap.add_argument("--label-old", default="old")
    ap.add_argument("--label-new", default="new")
    ap.add_argument("--note", default="")
    ap.add_argument("--out", type=Path)
    args = ap.parse_args(argv)
    times = {"old": [], "new": []}
    losses = {"old": [], "new": []}
    for r in range(args.repeats):
        for side in (("old", "new") if r % 2 == 0 else ("new", "old")):
            res = run(args.old if side == "old" else args.new, args.rows)
            times[side].append(res["epoch2"])
            losses[side].append(res["loss"])
            print(f"repeat {r + 1} {side}: {res['epoch2']:.3f} s", flush=True)
        _report(args, times, losses)        # after every pair: a run cut short keeps its data


def _report(args, times, losses):
    med = {k: statistics.median(v) for k, v in times.items()}
    result = {
        "what": "second-epoch time, 784-256-128-10 ReLU, Adam 1e-3, batch 128, "
                f"{args.rows} MNIST rows, fresh process per run, alternating",
        "old": args.label_old, "new": args.label_new, "times_s": times, "median_s": med,
        "ratio_new_over_old": med["new"] / med["old"],
        # On a shared machine the fastest run is the one least disturbed by others' work.
        "min_s": {k: min(v) for k, v in times.items()},
        "ratio_of_minima": min(times["new"]) / min(times["old"]), "epoch2_loss": losses,
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "machine": machine(),
        "note": args.note, "pairs": len(times["new"]),
    }
    print(json.dumps({"median_s": med, "ratio_new_over_old": result["ratio_new_over_old"]}))
    if args.out:
        args.out.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
