"""Hyperparameter search: many trainings of the same data, in worker processes or on a Dask cluster.

    space = {"hidden": [[256], [512]], "lr": [1e-3, 3e-3]}
    trials = grid(space)                                  # or sample(space, n, seed)
    data = TrialData(X, y, splits(y, folds=None, validation_split=0.2, seed=0))
    results = run(trials, base_settings, data, seed=0, workers=2)      # or scheduler="tcp://..."

A trial is the training settings of ``nnzero train`` (a recipe dict, see :mod:`nnzero.recipes`)
with some values replaced. Each trial trains on the same training rows and is scored on the same
validation rows (one stratified split, or K stratified folds whose scores are averaged); its own
seed (initialisation, shuffling, dropout) is derived from the search seed and the trial's index,
so a trial gives the same numbers whichever worker runs it, in whatever order.

What travels to a worker: the data once per worker (a process pool's initializer, or Dask's
``scatter(..., broadcast=True)``), then per trial only its index, settings and seed. Rows
memory-mapped from a file (:class:`nnzero.rows.LazyRows`) travel as the file's path: every
worker must see the file at that path (a shared file system).

A trial that fails (diverges, or any error) is recorded with its error; the search goes on.
"""

import itertools
import math
import os
import signal
import socket
import time

import numpy as np

from . import recipes
from .augment import Augment
from .callbacks import EarlyStopping
from .errors import ConfigError, TrainingDivergedError
from .training import stratified_split

RESULT_KEYS = ("trial", "params", "val_loss", "val_accuracy", "epochs", "seconds", "worker", "status",
               "error", "seed")


# -- the trials ---------------------------------------------------------------------------------
def grid(space):
    """Every combination of ``space`` ({name: [values]}), the first name varying slowest."""
    for name, values in space.items():
        if not isinstance(values, (list, tuple)) or not values:
            raise ConfigError(f"a grid needs a non-empty list of values for {name!r}, got {values!r}")
    names = list(space)
    return [dict(zip(names, combo)) for combo in itertools.product(*(space[n] for n in names))]


class Range:
    """Values between ``low`` and ``high`` for random search: uniform, or log-uniform with
    ``log`` (for rates); integers if ``integer``."""

    def __init__(self, low, high, log=False, integer=False):
        if not (math.isfinite(low) and math.isfinite(high) and low < high):
            raise ConfigError(f"a range needs finite low < high, got {low!r}..{high!r}")
        if log and low <= 0:
            raise ConfigError(f"a log range needs low > 0, got {low!r}")
        self.low, self.high, self.log, self.integer = low, high, log, integer

    def draw(self, rng):
        if self.integer:
            if self.log:
                return int(round(math.exp(rng.uniform(math.log(self.low), math.log(self.high)))))
            return int(rng.integers(int(self.low), int(self.high) + 1))
        if self.log:
            return float(math.exp(rng.uniform(math.log(self.low), math.log(self.high))))
        return float(rng.uniform(self.low, self.high))

    def __repr__(self):
        return f"{self.low:g}..{self.high:g}" + (":log" if self.log else "")


def sample(space, n, seed):
    """``n`` random trials: each value drawn from its list (uniformly) or :class:`Range`."""
    rng = np.random.default_rng([seed, 0x5EA4C4])
    trials = []
    for _ in range(n):
        trial = {}
        for name, values in space.items():
            trial[name] = values.draw(rng) if isinstance(values, Range) else values[int(rng.integers(len(values)))]
        trials.append(trial)
    return trials


def trial_seed(seed, index):
    """The seed of trial ``index`` in a search with ``seed``: independent of the worker and order."""
    return int(np.random.SeedSequence([seed, index]).generate_state(1, np.uint64)[0] % (2 ** 63))


# -- the data every trial shares ---------------------------------------------------------------
def splits(y, folds=None, validation_split=0.2, seed=0):
    """[(train rows, validation rows)]: K stratified folds, or one stratified split."""
    y = np.asarray(y)
    rng = np.random.default_rng([seed, 0xF01D])
    if not folds:
        return [stratified_split(y, validation_split, rng)]
    if folds < 2:
        raise ConfigError(f"--folds must be at least 2, got {folds}")
    fold_of = np.empty(len(y), dtype=np.int64)
    for c in np.unique(y):                   # deal each class's shuffled rows round-robin
        rows = rng.permutation(np.flatnonzero(y == c))
        fold_of[rows] = np.arange(len(rows)) % folds
    pairs = [(np.flatnonzero(fold_of != k), np.flatnonzero(fold_of == k)) for k in range(folds)]
    if any(len(va) == 0 for _, va in pairs):
        raise ConfigError(f"{folds} folds leave a fold without rows ({len(y)} rows)")
    return pairs


class TrialData:
    """What every trial needs, shipped to each worker once: model inputs X (n, d) (already
    preprocessed), labels y (n,), all the ``classes``, and the (train, validation) ``folds``."""

    def __init__(self, X, y, folds, classes=None):
        self.X, self.y, self.folds = X, np.asarray(y), folds
        self.classes = np.unique(self.y) if classes is None else np.asarray(classes)


# -- one trial ----------------------------------------------------------------------------------
def _worker_name():
    try:
        from distributed import get_worker

        return get_worker().address
    except (ImportError, ValueError):
        return f"{socket.gethostname()}:{os.getpid()}"


def _train(settings, data, rows, seed, epochs=None):
    """A model of ``settings`` trained on ``rows`` of the data (validation on ``val`` if given)."""
    train_rows, val_rows = rows
    model = recipes.build_model(settings, data.X.shape[1], len(data.classes), dtype=settings.get("dtype", "float32"))
    es = None
    if settings.get("early_stopping") and val_rows is not None:
        es = EarlyStopping(monitor="val_loss", patience=settings["early_stopping"])
    val = None if val_rows is None else (data.X[val_rows], data.y[val_rows])
    augment = Augment.from_config(settings["augment"]) if settings.get("augment") else None
    model.fit(data.X[train_rows], data.y[train_rows], epochs=epochs or settings["epochs"],
              batch_size=settings["batch_size"], optimizer=recipes.build_optimizer(settings),
              validation_data=val, callbacks=[es] if es else None, seed=seed, classes=data.classes,
              augment=augment)
    return model


def run_trial(index, settings, params, data, seed, blas_threads=1):
    """Train ``settings`` on each fold of ``data`` → a result row (see RESULT_KEYS).

    Errors are caught and recorded (status 'diverged' or 'failed'); Ctrl-C is not."""
    t0 = time.perf_counter()
    row = {"trial": index, "params": params, "val_loss": None, "val_accuracy": None, "epochs": None,
           "seconds": None, "worker": _worker_name(), "status": "ok", "error": None, "seed": seed}
    losses, accuracies, epochs = [], [], []
    try:
        with _blas_limit(blas_threads):
            for rows in data.folds:
                model = _train(settings, data, rows, seed)
                result = model.evaluate(data.X[rows[1]], data.y[rows[1]])
                losses.append(result["loss"])
                accuracies.append(result["accuracy"])
                epochs.append(len(model.history["loss"]))
    except TrainingDivergedError as exc:
        row.update(status="diverged", error=str(exc))
    except Exception as exc:                       # noqa: BLE001 - any error ends this trial only
        row.update(status="failed", error=f"{type(exc).__name__}: {exc}")
    else:
        row.update(val_loss=float(np.mean(losses)), val_accuracy=float(np.mean(accuracies)),
                   epochs=float(np.mean(epochs)) if len(epochs) > 1 else epochs[0])
    row["seconds"] = time.perf_counter() - t0
    return row


_CONTROLLER = []          # one threadpoolctl controller per process: its library scan is slow


class _blas_limit:
    """BLAS threads per trial (1: trials run side by side, and give the same numbers wherever
    they run); a no-op without threadpoolctl."""

    def __init__(self, n):
        self.n, self.ctx = n, None

    def __enter__(self):
        if self.n:
            if not _CONTROLLER:
                try:
                    from threadpoolctl import ThreadpoolController
                except ImportError:
                    return self
                _CONTROLLER.append(ThreadpoolController())
            self.ctx = _CONTROLLER[0].limit(limits=self.n)
        return self

    def __exit__(self, *exc):
        if self.ctx is not None:
            self.ctx.restore_original_limits()


def retrain(settings, data, seed, epochs=None):
    """The best settings trained on all of ``data``'s rows (no validation), seed ``seed``."""
    with _blas_limit(None):
        return _train(settings, data, (np.arange(len(data.y)), None), seed, epochs)


# -- running many trials -------------------------------------------------------------------------
def run(jobs, data, workers=1, scheduler=None, on_result=None):
    """Run ``jobs`` (dicts: index, settings, params, seed) → result rows in index order.

    ``workers=1``: here, one after the other; ``workers=N``: N local processes (spawned, the data
    sent to each once); ``scheduler="tcp://host:port"``: on that Dask cluster (the data scattered
    to every worker once). ``on_result(row)`` is called as each trial finishes. On Ctrl-C the
    finished rows are kept: KeyboardInterrupt is raised with them in ``.results``.
    """
    results = {}

    def done(row):
        results[row["trial"]] = row
        if on_result is not None:
            on_result(row)

    try:
        if scheduler is not None:
            _run_dask(jobs, data, scheduler, done)
        elif workers <= 1:
            for job in jobs:
                done(run_trial(data=data, **job))
        else:
            _run_pool(jobs, data, workers, done)
    except KeyboardInterrupt as exc:
        exc.results = [results[i] for i in sorted(results)]
        raise
    return [results[i] for i in sorted(results)]


_DATA = None
_IN_TRIAL = False


def _init_pool_worker(data):
    global _DATA
    _DATA = data
    # A terminal's Ctrl-C reaches every worker: one inside a trial stops it (the parent sees the
    # KeyboardInterrupt and keeps the finished rows); an idle one, waiting for work inside
    # concurrent.futures, leaves quietly instead of printing that module's traceback.
    signal.signal(signal.SIGINT, _on_sigint)


def _on_sigint(signum, frame):
    if _IN_TRIAL:
        raise KeyboardInterrupt
    raise SystemExit(130)


def _pool_trial(job):
    global _IN_TRIAL
    _IN_TRIAL = True
    try:
        return run_trial(data=_DATA, **job)
    finally:
        _IN_TRIAL = False


def _run_pool(jobs, data, workers, done):
    """At most ``workers`` trials in flight, so that Ctrl-C leaves nothing queued behind them."""
    import multiprocessing
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

    pending, running = list(jobs), set()
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"),
                               initializer=_init_pool_worker, initargs=(data,))
    try:
        while pending or running:
            while pending and len(running) < workers:
                running.add(pool.submit(_pool_trial, pending.pop(0)))
            finished, running = wait(running, return_when=FIRST_COMPLETED)
            for future in finished:
                if isinstance(future.exception(), KeyboardInterrupt):
                    raise KeyboardInterrupt
                done(future.result())
    finally:
        for future in running:
            future.cancel()
        pool.shutdown(wait=True, cancel_futures=True)


def _run_dask(jobs, data, scheduler, done):
    """On a Dask cluster: ``scheduler`` is its address, or a ``distributed.Client`` to use."""
    try:
        from distributed import Client, as_completed
    except ImportError:
        raise ConfigError("--scheduler needs Dask: pip install 'nnzero[dask]'") from None
    own = not isinstance(scheduler, Client)
    try:
        client = Client(scheduler, set_as_default=False) if own else scheduler   # waits timeouts.connect
    except OSError as exc:
        raise ConfigError(f"cannot reach the Dask scheduler at {scheduler}: {exc}") from None
    futures = []
    try:
        shared = client.scatter(data, broadcast=True)          # once, not once per trial
        futures = [client.submit(run_trial, data=shared, key=f"nnzero-trial-{job['index']}-{id(jobs)}",
                                 pure=False, **job) for job in jobs]
        with client.as_current():
            for future in as_completed(futures):
                done(future.result())
    finally:
        pending = [f for f in futures if not f.done()]
        if pending:
            client.cancel(pending)
        if own:
            client.close()
