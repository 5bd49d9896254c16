"""Where a stored figure came from: commit, date, machine (CPU model, BLAS kernel via
threadpoolctl), and how busy the machine was; and ``store()``, which writes a results file.

Every script whose numbers reach the README stores its raw results through ``store`` in
``benchmarks/results/<name>.json``; ``benchmarks/figures.py`` checks the README against them.
"""

import datetime
import json
import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RESULTS = HERE / "results"
sys.path.insert(0, str(ROOT / "src"))          # measure this checkout, not an installed nnzero

from machine import machine  # noqa: E402  (benchmarks/machine.py)


def commit():
    """The checkout's commit (short hash), "+dirty" when tracked files differ from it."""
    try:
        rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                             text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT,
                               capture_output=True, text=True).stdout.strip()
        return rev + ("+dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return None


def provenance():
    """commit, date (UTC), the machine, the BLAS kernel, and the load average at this moment."""
    m = machine()
    return {"commit": commit(),
            "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "cpu": m["cpu"], "blas": m["numpy_blas"], "machine": m,
            "load_average": list(os.getloadavg())}


def store(name, payload):
    """Write ``{**payload}`` to results/<name>.json atomically (temp file, fsync, rename)."""
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{name}.json"
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w") as f:
        f.write(json.dumps(payload, indent=1) + "\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    return path


def load(name):
    path = RESULTS / f"{name}.json"
    return json.loads(path.read_text()) if path.exists() else None
