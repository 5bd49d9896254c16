"""How long loading the bundled MNIST takes (issue 3: "well under a second").

    python benchmarks/bench_load_mnist.py            # 7 runs of each
    python benchmarks/bench_load_mnist.py --runs 15

Each call reads the four gzip files, checks their MD5s, decompresses and validates them, and
returns fresh arrays; nothing is cached between calls, so every run pays the full price.
Prints the median and the range of wall time, and the median CPU time (steadier on a busy
machine).
"""

import argparse
import os
import platform
import statistics
import time

from nnzero.datasets import load_mnist


def measure(fn, runs):
    wall, cpu = [], []
    for _ in range(runs):
        w, c = time.perf_counter(), time.process_time()
        fn()
        wall.append(time.perf_counter() - w)
        cpu.append(time.process_time() - c)
    return wall, cpu


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    print(f"python {platform.python_version()}, {platform.machine()}, {os.cpu_count()} CPUs")
    load_mnist()  # warm the OS file cache and imports; not counted
    for label, kwargs in (("load_mnist()", {}), ("load_mnist(normalize=True)", {"normalize": True})):
        wall, cpu = measure(lambda: load_mnist(**kwargs), args.runs)
        print(f"{label:28s} median {statistics.median(wall) * 1e3:7.1f} ms wall "
              f"(min {min(wall) * 1e3:.1f}, max {max(wall) * 1e3:.1f}), "
              f"median {statistics.median(cpu) * 1e3:.1f} ms CPU, {args.runs} runs")


if __name__ == "__main__":
    main()
