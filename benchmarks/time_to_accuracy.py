"""Wall time to reach 97 % and 98 % MNIST test accuracy: nnzero's default recipe, PyTorch with the
same recipe, and scikit-learn's MLPClassifier with its closest settings.

    python benchmarks/time_to_accuracy.py [--repeats 3] [--out benchmarks/results]

Each (contender, repetition) runs in a fresh process (this file with ``--child SPEC``), contenders
alternating. The clock starts before the data is loaded and the model is built (as a user's script
would), stops at the end of each epoch, and is paused while that epoch's test accuracy is measured
(measuring is the benchmark's business, not the contender's). A contender's time to X % is the
clock at the end of the first epoch whose test accuracy is ≥ X %.

The recipe (``nnzero.recipes`` "default"): 784-512-256-10 ReLU, dropout 0.1 after each hidden
layer, Adam 2e-3 with a cosine schedule stepped per batch, batch 256, 15 epochs, pixels / 255.
PyTorch: the same network, ``nn.Dropout``, ``torch.optim.Adam`` with a per-batch cosine
``LambdaLR``. scikit-learn has no dropout and no cosine schedule: ``MLPClassifier((512, 256),
solver="adam", learning_rate_init=2e-3, batch_size=256, alpha=1e-4)``, one ``partial_fit`` an epoch.
The test set only measures; nothing is tuned on it.
"""

import argparse
import json
import math
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "src"))       # benchmark this checkout

import numpy as np  # noqa: E402

THRESHOLDS = (0.97, 0.98)


class Clock:
    """Wall clock that can be paused while the benchmark measures accuracy."""

    def __init__(self):
        self.t0, self.paused = time.perf_counter(), 0.0

    def now(self):
        return time.perf_counter() - self.t0 - self.paused

    def measure(self, fn):
        t = time.perf_counter()
        try:
            return fn()
        finally:
            self.paused += time.perf_counter() - t


def load():
    from nnzero import datasets, preprocessing, recipes

    settings = recipes.get("default")
    (X, y), (Xt, yt) = datasets.load_mnist()
    return settings, preprocessing.apply(X, settings["preprocessing"]), y, \
        preprocessing.apply(Xt, settings["preprocessing"]), yt


def run_nnzero(seed):
    import nnzero as nz
    from nnzero import recipes

    clock = Clock()
    s, X, y, Xt, yt = load()
    model = recipes.build_model(s, X.shape[1], 10)
    curve = []
    cb = nz.LambdaCallback(on_epoch_end=lambda e, logs=None: curve.append(
        (clock.now(), clock.measure(lambda: float(np.mean(model.predict(Xt) == yt))))))
    model.fit(X, y, epochs=s["epochs"], batch_size=s["batch_size"], optimizer=recipes.build_optimizer(s),
              seed=seed, callbacks=[cb])
    return curve


def run_torch(seed):
    import torch

    clock = Clock()
    s, X, y, Xt, yt = load()
    torch.manual_seed(seed)
    sizes, stack = [784, *s["hidden"]], []
    for a, b in zip(sizes, sizes[1:]):
        stack += [torch.nn.Linear(a, b), torch.nn.ReLU(), torch.nn.Dropout(s["dropout"])]
    model = torch.nn.Sequential(*stack, torch.nn.Linear(sizes[-1], 10))
    opt = torch.optim.Adam(model.parameters(), lr=s["lr"])
    n, bs, epochs = len(X), s["batch_size"], s["epochs"]
    steps = math.ceil(n / bs)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda k: 0.5 * (1 + math.cos(math.pi * min(k / (steps * epochs), 1.0))))
    Xa, ya = torch.from_numpy(X), torch.from_numpy(y.astype(np.int64))
    Xq = torch.from_numpy(Xt)
    crit, gen, curve = torch.nn.CrossEntropyLoss(), torch.Generator().manual_seed(seed), []

    def accuracy():
        model.eval()
        with torch.inference_mode():
            acc = float((model(Xq).argmax(1).numpy() == yt).mean())
        model.train()
        return acc

    for _ in range(epochs):
        order = torch.randperm(n, generator=gen)
        for i in range(0, n, bs):
            idx = order[i:i + bs]
            opt.zero_grad(set_to_none=True)
            crit(model(Xa[idx]), ya[idx]).backward()
            opt.step()
            sched.step()
        curve.append((clock.now(), clock.measure(accuracy)))
    return curve


def run_sklearn(seed):
    from sklearn.neural_network import MLPClassifier

    clock = Clock()
    s, X, y, Xt, yt = load()
    clf = MLPClassifier(hidden_layer_sizes=tuple(s["hidden"]), solver="adam", learning_rate_init=s["lr"],
                        batch_size=s["batch_size"], alpha=1e-4, random_state=np.random.RandomState(seed))
    curve = []
    for _ in range(s["epochs"]):
        clf.partial_fit(X, y, classes=np.arange(10))
        curve.append((clock.now(), clock.measure(lambda: float(np.mean(clf.predict(Xt) == yt)))))
    return curve


CONTENDERS = {"nnzero": run_nnzero, "torch": run_torch, "sklearn": run_sklearn}


def reached(curve, threshold):
    return next((t for t, acc in curve if acc >= threshold), None)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--contenders", default="nnzero,torch,sklearn")
    ap.add_argument("--out", type=Path, default=HERE / "results")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        spec = json.loads(args.child)
        print(json.dumps({**spec, "curve": CONTENDERS[spec["contender"]](spec["seed"])}))
        return
    from machine import machine
    from compare import git_state, write_atomic

    runs = []
    for rep in range(args.repeats):
        for c in args.contenders.split(","):
            spec = json.dumps({"contender": c, "seed": rep})
            proc = subprocess.run([sys.executable, __file__, "--child", spec], capture_output=True, text=True)
            if proc.returncode:
                sys.exit(f"{c} failed:\n{proc.stderr[-2000:]}")
            r = json.loads(proc.stdout.strip().splitlines()[-1])
            runs.append(r)
            print(f"{c:8s} seed {rep}: " + ", ".join(f"{t:.1f}s {a:.4f}" for t, a in r["curve"]),
                  file=sys.stderr, flush=True)
    rows = []
    for c in args.contenders.split(","):
        rs = [r for r in runs if r["contender"] == c]
        row = {"contender": c, "runs": len(rs), "final_accuracy": float(np.median([r["curve"][-1][1] for r in rs])),
               "total_s": float(np.median([r["curve"][-1][0] for r in rs]))}
        for th in THRESHOLDS:
            times = [reached(r["curve"], th) for r in rs]
            ok = [t for t in times if t is not None]
            row[f"to_{th:.2f}_s"] = float(np.median(ok)) if len(ok) == len(times) else None
            row[f"to_{th:.2f}_reached"] = f"{len(ok)}/{len(times)}"
        rows.append(row)
    report = {"machine": machine(), "commit": git_state(), "date": time.strftime("%Y-%m-%d"),
              "repeats": args.repeats, "rows": rows, "runs": runs}
    args.out.mkdir(parents=True, exist_ok=True)
    write_atomic(args.out / "time_to_accuracy.json", json.dumps(report, indent=1) + "\n")
    fmt = lambda v: "—" if v is None else f"{v:.1f}"
    lines = ["| contender | to 97 % (s) | to 98 % (s) | final accuracy | total (s) |", "|---|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['contender']} | {fmt(r['to_0.97_s'])} ({r['to_0.97_reached']}) | "
                     f"{fmt(r['to_0.98_s'])} ({r['to_0.98_reached']}) | {r['final_accuracy']:.4f} | "
                     f"{r['total_s']:.1f} |")
    text = (f"# Time to accuracy on MNIST\n\n{report['machine']['cpu']}, {report['machine']['cores']} cores; "
            f"commit {report['commit']}; {report['date']}; median of {args.repeats} fresh-process runs "
            f"per contender (runs reaching the threshold / runs).\n\n" + "\n".join(lines) + "\n")
    write_atomic(args.out / "time_to_accuracy.md", text)
    print(text)


if __name__ == "__main__":
    main()
