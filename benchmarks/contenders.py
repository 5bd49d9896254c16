"""One benchmark run in a fresh process: train one contender, print one JSON line.

    python benchmarks/contenders.py '{"contender": "torch", "hidden": [256, 128], "batch_size": 128,
                                      "epochs": 3, "seed": 0, "predict_repeats": 5}'

``compare.py`` starts one of these per (contender, repetition), so each process's peak resident
memory (VmHWM) is that contender's own: interpreter, its library, the data, training, predict.
Every contender gets the same data (bundled MNIST through ``nnzero.datasets.load_mnist``,
float32 in [0, 1]), the same network (784-hidden-10 ReLU, softmax cross-entropy, optional
inverted dropout after each hidden ReLU), the same batch size, Adam with default betas (lr from
the spec, default 1e-3), and a fresh random permutation of the training set each epoch. An
epoch's time is wall-clock for everything the contender does in that epoch.
"""

import json
import os
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))   # benchmark this checkout

import numpy as np  # noqa: E402


def memory_mb():
    """(current RSS, peak RSS) of this process in MB, from /proc (ru_maxrss where /proc is absent)."""
    try:
        with open("/proc/self/status") as f:
            fields = dict(line.split(":", 1) for line in f)
        kb = lambda key: int(fields[key].split()[0])
        return kb("VmRSS") / 1024, kb("VmHWM") / 1024
    except OSError:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        peak = peak / 2 ** 20 if sys.platform == "darwin" else peak / 1024   # bytes on macOS
        return float("nan"), peak


def blas_threads():
    from threadpoolctl import threadpool_info

    return [{"library": i.get("internal_api"), "prefix": i.get("prefix"), "threads": i.get("num_threads"),
             "version": i.get("version"), "architecture": i.get("architecture")} for i in threadpool_info()]


def one_sample_latency(predict, Xq, calls=300):
    """Median seconds of ``predict`` on a single row (a fresh row each call, as a live UI sends)."""
    times = []
    for i in range(calls + 20):
        row = Xq[i % len(Xq)][None, :]
        t0 = time.perf_counter()
        predict(row)
        if i >= 20:                                   # the first calls warm caches and thread pools
            times.append(time.perf_counter() - t0)
    return float(np.median(times))


def median_time(fn, repeats):
    """Median wall time of fn() over ``repeats`` calls, after one untimed warm-up call."""
    result = fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times)), result


# -- the three contenders: each returns (epoch_times, predict_fn, notes) ---------------------------
def run_nnzero(spec, X, y):
    import nnzero as nz

    sizes = [X.shape[1], *spec["hidden"], 10]
    stack = []
    for a, b in zip(sizes[:-2], sizes[1:-1]):
        stack += [nz.Dense(a, b), nz.ReLU()]
        if spec.get("dropout"):
            stack.append(nz.Dropout(spec["dropout"]))
    model = nz.Sequential([*stack, nz.Dense(sizes[-2], sizes[-1]), nz.Softmax()])
    # Time each epoch from its start to the next one's, so the per-epoch bookkeeping fit does after
    # History's own timer stops (the resumable snapshot) is counted too.
    starts = []
    clock = nz.LambdaCallback(on_epoch_begin=lambda e, logs=None: starts.append(time.perf_counter()),
                              on_train_end=lambda logs=None: starts.append(time.perf_counter()))
    t0 = time.perf_counter()
    model.fit(X, y, epochs=spec["epochs"], batch_size=spec["batch_size"],
              optimizer=nz.Adam(spec.get("lr", 1e-3)), seed=spec["seed"], callbacks=[clock])
    fit_total = time.perf_counter() - t0
    epochs = list(np.diff(starts))
    notes = {"fit_total_s": fit_total, "fit_setup_s": fit_total - sum(epochs), "version": nz.__version__,
             "fit2_s": fit_total - sum(epochs) + sum(epochs[:2])}
    return epochs, model.predict, notes


def run_torch(spec, X, y):
    import torch

    t_start = time.perf_counter()
    torch.manual_seed(spec["seed"])
    sizes = [X.shape[1], *spec["hidden"], 10]
    stack = []
    for a, b in zip(sizes[:-2], sizes[1:-1]):
        stack += [torch.nn.Linear(a, b), torch.nn.ReLU()]
        if spec.get("dropout"):
            stack.append(torch.nn.Dropout(spec["dropout"]))
    model = torch.nn.Sequential(*stack, torch.nn.Linear(sizes[-2], sizes[-1]))
    criterion = torch.nn.CrossEntropyLoss()
    opt = torch.optim.Adam(model.parameters(), lr=spec.get("lr", 1e-3))
    Xt, yt = torch.from_numpy(X), torch.from_numpy(y.astype(np.int64))   # shares X's memory
    gen = torch.Generator().manual_seed(spec["seed"])
    n, bs = len(X), spec["batch_size"]
    epochs = []
    model.train()
    for _ in range(spec["epochs"]):
        # The idiomatic tight loop: index a prebuilt tensor, no DataLoader (its per-batch
        # collation overhead would be torch's loss, not its speed).
        t0 = time.perf_counter()
        order = torch.randperm(n, generator=gen)
        total = 0.0
        for i in range(0, n, bs):
            idx = order[i:i + bs]
            opt.zero_grad(set_to_none=True)
            loss = criterion(model(Xt[idx]), yt[idx])
            loss.backward()
            opt.step()
            total += loss.item()
        epochs.append(time.perf_counter() - t0)
    setup = time.perf_counter() - t_start - sum(epochs)
    model.eval()

    def predict(Xq):
        with torch.inference_mode():
            return model(torch.from_numpy(Xq)).argmax(1).numpy()

    config = torch.__config__.show()
    blas = config.split("BLAS_INFO=", 1)[1].split(",", 1)[0] if "BLAS_INFO=" in config else "?"
    notes = {"version": torch.__version__, "threads": torch.get_num_threads(), "blas": blas,
             "adam_impl": "torch.optim.Adam defaults (for-loop on CPU)",
             "fit2_s": setup + sum(epochs[:2])}
    return epochs, predict, notes


def run_sklearn(spec, X, y):
    import sklearn
    from sklearn.neural_network import MLPClassifier

    if spec.get("dropout"):
        raise ValueError("MLPClassifier has no dropout")
    t_start = time.perf_counter()
    # alpha=0: nnzero and torch use no L2 penalty by default. A RandomState *instance* so that
    # each partial_fit call draws a new permutation (an int seed would repeat the same order).
    clf = MLPClassifier(hidden_layer_sizes=tuple(spec["hidden"]), activation="relu", solver="adam",
                        learning_rate_init=spec.get("lr", 1e-3), batch_size=spec["batch_size"],
                        alpha=0.0, shuffle=True,
                        random_state=np.random.RandomState(spec["seed"]))
    classes = np.arange(10)
    epochs = []
    for _ in range(spec["epochs"]):
        t0 = time.perf_counter()
        clf.partial_fit(X, y, classes=classes)        # one epoch; float32 in, float32 inside
        epochs.append(time.perf_counter() - t0)
    setup = time.perf_counter() - t_start - sum(epochs)
    notes = {"version": sklearn.__version__, "dtype": str(clf.coefs_[0].dtype),
             "epoch_includes": "partial_fit's input validation of X (once per epoch)",
             "fit2_s": setup + sum(epochs[:2])}
    return epochs, clf.predict, notes


CONTENDERS = {"nnzero": run_nnzero, "torch": run_torch, "sklearn": run_sklearn}


def main(spec):
    from nnzero.datasets import load_mnist

    t0 = time.perf_counter()
    (X, y), (Xq, yq) = load_mnist(normalize=True)
    load_s = time.perf_counter() - t0
    rss_loaded, peak_loaded = memory_mb()
    epochs, predict, notes = CONTENDERS[spec["contender"]](spec, X, y)
    predict_s, labels = median_time(lambda: predict(Xq), spec.get("predict_repeats", 5))
    predict_one_s = one_sample_latency(predict, Xq)
    rss_end, peak = memory_mb()
    return {
        **spec,
        "epoch_s": epochs,
        "test_accuracy": float(np.mean(np.asarray(labels) == yq)),
        "predict_s": predict_s,
        "n_predict": len(Xq),
        "predict_one_s": predict_one_s,
        "load_s": load_s,
        "rss_after_load_mb": rss_loaded,
        "peak_after_load_mb": peak_loaded,
        "peak_rss_mb": peak,
        "blas": blas_threads(),
        "pid": os.getpid(),
        **{f"note_{k}": v for k, v in notes.items()},
    }


if __name__ == "__main__":
    print(json.dumps(main(json.loads(sys.argv[1]))), flush=True)
