"""The machine under the benchmark: what it is, its matmul peak, and how disturbed it is.

``machine()`` describes the CPU, memory, library versions, BLAS and thread settings;
``matmul_peak()`` is the best float32 np.matmul rate; ``cpu_busy_seconds()``,
``wait_quiet()`` and ``speed_probe()`` let compare.py see (and wait out) other processes and
slowdowns that a shared machine imposes on every contender alike.
"""

import os
import platform
import time
from importlib import metadata

import numpy as np


def cpu_busy_seconds():
    """Seconds of non-idle CPU time summed over all cores since boot (None without /proc)."""
    try:
        with open("/proc/stat") as f:
            fields = [int(v) for v in f.readline().split()[1:]]
    except OSError:
        return None
    idle = fields[3] + fields[4]                      # idle + iowait
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def matmul_peak(threads=None):
    """Best float32 GFLOP/s of np.matmul on square matrices of 2048 and 4096."""
    from threadpoolctl import threadpool_limits

    rng = np.random.default_rng(0)
    best = {}
    with threadpool_limits(threads):
        for n, reps in ((2048, 5), (4096, 3)):
            a = rng.random((n, n), dtype=np.float32)
            b = rng.random((n, n), dtype=np.float32)
            c = np.empty_like(a)
            np.matmul(a, b, out=c)                           # warm-up
            t = min(_timed(lambda: np.matmul(a, b, out=c)) for _ in range(reps))
            best[n] = 2 * n ** 3 / t / 1e9
    return best


def _timed(fn):
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def machine():
    from threadpoolctl import threadpool_info

    info = {}
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                key, _, value = line.partition(":")
                info.setdefault(key.strip(), value.strip())
    except OSError:
        pass
    flags = info.get("flags", "").split()
    try:
        with open("/proc/meminfo") as f:
            mem_gib = int(f.readline().split()[1]) / 2 ** 20
    except OSError:
        mem_gib = None
    versions = {}
    for pkg in ("numpy", "torch", "scikit-learn", "threadpoolctl"):
        try:
            versions[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            versions[pkg] = None
    return {
        "cpu": info.get("model name", platform.processor() or platform.machine()),
        "cpu_family_model": f"family {info.get('cpu family', '?')}, model {info.get('model', '?')}",
        "simd": [f for f in ("avx2", "fma", "avx512f", "avx512_bf16") if f in flags],
        "cores": os.cpu_count(),
        "memory_gib": mem_gib,
        "os": platform.platform(),
        "python": platform.python_version(),
        "versions": versions,
        "numpy_blas": [{k: i.get(k) for k in ("internal_api", "version", "architecture", "num_threads",
                                              "threading_layer")}
                       for i in threadpool_info() if i.get("user_api") == "blas"],
        "thread_env": {k: v for k, v in os.environ.items()
                       if k.startswith(("OPENBLAS", "OMP_", "MKL_", "GOTO"))},
    }


def speed_probe(seconds=0.3):
    """GFLOP/s of the benchmark's largest product, (128, 784)·(784, 256), repeated for ``seconds``.

    Taken before each run: it tracks slowdowns that /proc/stat cannot see (a busy neighbour on
    the host, clock changes), so the report can show how steady the machine was."""
    rng = np.random.default_rng(0)
    a = rng.random((128, 784), dtype=np.float32)
    b = rng.random((784, 256), dtype=np.float32)
    c = np.empty((128, 256), np.float32)
    count, t0 = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - t0) < seconds:
        np.matmul(a, b, out=c)
        count += 1
    return 2 * 128 * 784 * 256 * count / elapsed / 1e9


def wait_quiet(max_wait, threshold=0.15, settle=3, window=1.0):
    """Wait (up to ``max_wait`` s) until other processes have used < ``threshold`` cores for
    ``settle`` consecutive windows of ``window`` s: a single idle second is often just the gap
    between someone's two jobs.

    Returns the seconds waited, or None when the machine stayed busy (or /proc is missing)."""
    t0, quiet = time.perf_counter(), 0
    while quiet < settle:
        b0 = cpu_busy_seconds()
        if b0 is None:
            return None
        time.sleep(window)
        quiet = quiet + 1 if (cpu_busy_seconds() - b0) / window < threshold else 0
        if quiet < settle and time.perf_counter() - t0 > max_wait:
            return None
    return time.perf_counter() - t0
