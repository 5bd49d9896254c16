"""Put each known bug back into a scratch copy of the source and check that a test catches it.

    python tools/bug_classes.py            # every bug; prints a Markdown table
    python tools/bug_classes.py --list     # the bugs, without running anything

Each entry is a one-line change to the source as it is written today: (name, file, the text as it
should be, the buggy text, the test file). The script copies src/ to a temporary folder, makes the
change there, runs that test file against the copy, and reports which tests failed. A bug that no
test catches, or whose source line has moved (after a refactor), is reported as such: update the
entry to the new source then. The table in docs/testing.md is this script's output.
"""

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
T = "tests/test_bug_classes.py"
E = "tests/test_engine.py"

BUGS = [
    ("mini-batch training ignores sample_weight", "src/nnzero/training.py",
     "wb = None if run.weight is None else run.weight[idx]", "wb = None", T),
    ("shuffled batches take the weights of the unshuffled rows", "src/nnzero/training.py",
     "wb = None if run.weight is None else run.weight[idx]",
     "wb = None if run.weight is None else run.weight[b * bs:b * bs + len(idx)]", T),
    ("accuracy over > 4096 rows counts the last chunk only", "src/nnzero/training.py",
     "correct += int(np.count_nonzero(out.argmax(axis=1) == t))",
     "correct = int(np.count_nonzero(out.argmax(axis=1) == t))", T),
    ("`nnzero predict image.png` feeds the model the wrong scale", "src/nnzero/cli/predict.py",
     'return X * np.float32(255) if spec["kind"] in ("scale", "binarize") else X', "return X", T),
    ("the lr schedule is evaluated once per epoch", "src/nnzero/training.py",
     "lr = optimizer.lr_at(epoch + b / run.n_batches, run.epochs)", "lr = optimizer.lr_at(epoch, run.epochs)", T),
    ("the same shuffle order every epoch", "src/nnzero/training.py",
     "order = run.rng.permutation(n) if (run.shuffle and run.bs < n) else None",
     "order = np.random.default_rng(run.seed).permutation(n) if (run.shuffle and run.bs < n) else None", T),
    ('EarlyStopping mode="max" inverted', "src/nnzero/callbacks.py",
     "return value > self.best + self.min_delta", "return value < self.best + self.min_delta", T),
    ("EarlyStopping ignores min_delta (mode min)", "src/nnzero/callbacks.py",
     "return value < self.best - self.min_delta", "return value < self.best", T),
    ("EarlyStopping ignores min_delta (mode max)", "src/nnzero/callbacks.py",
     "return value > self.best + self.min_delta", "return value > self.best", T),
    ("atomic write without fsync of the file", "src/nnzero/_atomic.py",
     "os.fsync(f.fileno())", "pass", T),
    ("atomic write without fsync of the folder", "src/nnzero/_atomic.py",
     "    fsync_dir(path.parent)\n", "    pass\n", T),
    ("atomic write fsyncs the file after the rename", "src/nnzero/_atomic.py",
     "            os.fsync(f.fileno())\n        os.replace(tmp, path)",
     "        os.replace(tmp, path)\n        os.fsync(os.open(path, os.O_RDONLY))", T),
    ("the report's index.html written in place (write_text)", "src/nnzero/report.py",
     '    with atomic_write(path) as f:\n        f.write(data)',
     '    path.write_bytes(data)', T),
    ("a model file's SHA-256 not checked at load", "src/nnzero/modelfile.py",
     "    check_digest(digest, data, start, path)\n", "", "tests/test_integrity.py"),
    ("validation loss ignores sample weights", "src/nnzero/training.py",
     "loss_and_accuracy(model, *run.val[:2], weight=run.val[2])",
     "loss_and_accuracy(model, *run.val[:2], weight=None)", T),
    # The fast path (engine.py) against the plain code, and the plain optimizers themselves.
    ("fit's Adam forgets the bias correction of v", "src/nnzero/engine.py",
     "w1, w2 = (1 - b1 ** t) / (1 - b1), (1 - b2 ** t) / (1 - b2)",
     "w1, w2 = (1 - b1 ** t) / (1 - b1), 1 / (1 - b2)", E),
    ("fit's Nesterov steps along v instead of g + μ·v", "src/nnzero/engine.py",
     "                g = step\n", "                g = v\n", E),
    ("fit's Dropout draws other masks than the layer", "src/nnzero/engine.py",
     "np.copyto(scale, L.keep_mask(layer.rng, x.shape, layer.rate), casting=\"unsafe\")",
     "np.copyto(scale, layer.rng.random(x.shape) >= layer.rate, casting=\"unsafe\")", E),
    ("the plain Adam skips the bias correction of m", "src/nnzero/optimizers.py",
     "m_hat = m / (1 - b1 ** t)", "m_hat = m", "tests/test_optimizers.py"),
]


def run(bug, python):
    name, rel, good, bad, tests = bug
    with tempfile.TemporaryDirectory(prefix="nnzero-bug-") as tmp:
        shutil.copytree(ROOT / "src", Path(tmp) / "src", ignore=shutil.ignore_patterns("__pycache__"))
        target = Path(tmp) / rel
        text = target.read_text()
        if text.count(good) != 1:
            return "source moved (entry needs updating)", []
        if bad is not None:
            target.write_text(text.replace(good, bad))
        env = dict(os.environ, PYTHONPATH=str(Path(tmp) / "src"), PYTHONDONTWRITEBYTECODE="1")
        proc = subprocess.run([python, "-m", "pytest", tests, "-q", "-n", "0", "-p", "no:cacheprovider",
                               "-p", "no:randomly", "-rf"], cwd=ROOT, env=env, capture_output=True, text=True)
        failed = sorted(set(re.findall(r"^FAILED \S+::(\w+)", proc.stdout, re.M)))
        if bad is None:                                # the control: the source as it is
            return ("passes" if proc.returncode == 0 else "FAILS without a bug"), failed
        return ("caught" if failed else "NOT caught"), failed


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--list", action="store_true", help="list the bugs and exit")
    ap.add_argument("--python", default=sys.executable)
    args = ap.parse_args(argv)
    print("| bug put back | where | result | tests that failed |")
    print("|---|---|---|---|")
    missed = 0
    control = ("(none: the source as it is)", "src/nnzero/training.py", "def fit(", None, T)
    for bug in [control, *BUGS]:
        if args.list:
            print(f"| {bug[0]} | `{bug[1]}` | | |")
            continue
        result, failed = run(bug, args.python)
        missed += result not in ("caught", "passes")
        print(f"| {bug[0]} | `{bug[1]}` | {result} | {', '.join(f'`{t}`' for t in failed)} |", flush=True)
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
