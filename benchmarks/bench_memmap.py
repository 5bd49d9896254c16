"""Peak memory of training on a memory-mapped dataset bigger than the RSS budget.

Writes a float32 training set of ``--gb`` GB (default 2.5: 800 000 rows of 784 features) as an
.npy file, then, in a fresh child process, opens it with ``np.load(mmap_mode="r")``, trains a
784-64-10 MLP for one epoch (batch 256, 10 % validation split) and evaluates it on all rows.
The child reports its peak resident set: VmHWM (its own address space) and ru_maxrss.

    python benchmarks/bench_memmap.py                 # 2.5 GB in a temporary folder
    python benchmarks/bench_memmap.py --gb 0.3 --dir /scratch

Results go to benchmarks/results/memmap_rss.json.
"""

import argparse
import datetime
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from machine import machine  # noqa: E402

CHILD = """
import json, resource, sys, time
import numpy as np
import nnzero as nz

def hwm():
    with open("/proc/self/status") as f:
        return next(int(l.split()[1]) * 1024 for l in f if l.startswith("VmHWM"))

X = np.load(sys.argv[1], mmap_mode="r")
y = np.load(sys.argv[2])
before = hwm()
model = nz.mlp(X.shape[1], [64], 10)
t0 = time.perf_counter()
history = model.fit(X, y, epochs=1, batch_size=256, validation_split=0.1, seed=0)
t_fit = time.perf_counter() - t0
t0 = time.perf_counter()
result = model.evaluate(X, y)
t_eval = time.perf_counter() - t0
print(json.dumps({"vmhwm_before_training": before, "vmhwm_peak": hwm(),
                  "ru_maxrss_peak": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
                  "fit_seconds": t_fit, "evaluate_seconds": t_eval,
                  "train_loss": history["loss"][-1], "val_accuracy": history["val_accuracy"][-1],
                  "accuracy_all_rows": result["accuracy"]}))
"""


def write_data(folder, gb, d=784, seed=0):
    """Plain file writes, block by block (a writable memory map would put the whole file in this
    process's RSS, and a child's ru_maxrss starts from its parent's peak)."""
    n = int(gb * 1e9 / (d * 4))
    rng = np.random.default_rng(seed)
    w = rng.normal(size=(d, 10)).astype(np.float32)
    labels = np.empty(n, dtype=np.int64)
    with open(folder / "X.npy", "wb") as f:
        np.lib.format.write_array_header_1_0(f, {"descr": "<f4", "fortran_order": False, "shape": (n, d)})
        for start in range(0, n, 20_000):
            block = rng.random((min(20_000, n - start), d), dtype=np.float32) - 0.5
            labels[start:start + len(block)] = (block @ w).argmax(axis=1)    # learnable labels
            f.write(block.tobytes())
    np.save(folder / "y.npy", labels)
    return n, d


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--gb", type=float, default=2.5)
    p.add_argument("--dir", default=None, help="folder for the data file (default: a temporary one)")
    p.add_argument("--out", default=str(HERE / "results" / "memmap_rss.json"))
    args = p.parse_args()
    src = str(HERE.parent / "src")
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        folder = Path(tmp)
        t0 = time.perf_counter()
        n, d = write_data(folder, args.gb)
        t_write = time.perf_counter() - t0
        env = {**os.environ, "PYTHONPATH": src}
        out = subprocess.run([sys.executable, "-c", CHILD, str(folder / "X.npy"), str(folder / "y.npy")],
                             capture_output=True, text=True, env=env, check=True)
        child = json.loads(out.stdout.strip().splitlines()[-1])
        size = (folder / "X.npy").stat().st_size
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                            cwd=HERE).stdout.strip()
    with open("/proc/loadavg") as f:
        load = f.read().split()[:3]
    result = {"benchmark": "memmap training peak RSS", "commit": commit,
              "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
              "machine": machine(), "load_average_after": load,
              "data": {"rows": n, "features": d, "dtype": "float32", "file_bytes": size,
                       "write_seconds": t_write},
              "run": {"model": f"{d}-64-10", "epochs": 1, "batch_size": 256, "validation_split": 0.1},
              "result": child,
              "peak_rss_mb": child["vmhwm_peak"] / 2 ** 20, "data_mb": size / 2 ** 20}
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
    print(f"{size / 1e9:.2f} GB memory-mapped: peak RSS {child['vmhwm_peak'] / 2 ** 20:.0f} MB "
          f"(before training {child['vmhwm_before_training'] / 2 ** 20:.0f} MB; ru_maxrss "
          f"{child['ru_maxrss_peak'] / 2 ** 20:.0f} MB); fit {child['fit_seconds']:.1f}s, "
          f"evaluate {child['evaluate_seconds']:.1f}s -> {args.out}")


if __name__ == "__main__":
    main()
