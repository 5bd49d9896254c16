"""nnzero on a real Dask cluster: a distributed.LocalCluster with two worker processes on
loopback (no threads-only shortcut), shared by this module's tests.

- ``nnzero search --scheduler``: the same table as the local run, trials spread over workers;
- scikit-learn's GridSearchCV under ``joblib.parallel_backend("dask")``: the same scores as n_jobs=1;
- Dask-ML's ``Incremental`` on a chunked Dask array: ``partial_fit`` block after block, the
  optimizer's state carried from one call to the next (and from one worker to the other).
"""

import csv

import numpy as np
import pytest

import nnzero as nz
from nnzero.cli import main

pytestmark = pytest.mark.cluster

distributed = pytest.importorskip("distributed")
pytest.importorskip("sklearn")


@pytest.fixture(scope="module")
def cluster():
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                  dashboard_address=":0", silence_logs=40) as cluster:
        yield cluster


@pytest.fixture(scope="module")
def client(cluster):
    with distributed.Client(cluster) as client:
        yield client


@pytest.fixture(scope="module")
def blobs():
    rng = np.random.default_rng(11)
    X = rng.normal(size=(480, 8)).astype(np.float32)
    y = (X[:, 0] - X[:, 3] > 0).astype(np.int64) + (X[:, 5] > 0.7)
    return X, y


def read_csv(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_search_on_the_cluster_equals_the_local_search(cluster, blobs, tmp_path, capsys):
    X, y = blobs
    np.savez(tmp_path / "d.npz", X=X, y=y)
    common = ["search", "--data", str(tmp_path / "d.npz"), "--param", "hidden=8,16", "--param", "lr=0.003,0.03",
              "--epochs", "3", "--batch-size", "32", "--quiet"]
    assert main([*common, "--scheduler", cluster.scheduler_address, "--out-dir", str(tmp_path / "dask")]) == 0
    assert main([*common, "--workers", "1", "--out-dir", str(tmp_path / "local")]) == 0
    remote, local = read_csv(tmp_path / "dask" / "results.csv"), read_csv(tmp_path / "local" / "results.csv")
    same = ("trial", "hidden", "lr", "val_loss", "val_accuracy", "epochs", "status")
    assert [[r[k] for k in same] for r in remote] == [[r[k] for k in same] for r in local]
    assert all(r["status"] == "ok" for r in remote)
    workers = set(cluster.scheduler_info["workers"])
    assert {r["worker"] for r in remote} <= workers          # ran on the cluster's worker processes
    a, b = nz.load(tmp_path / "dask" / "best.safetensors"), nz.load(tmp_path / "local" / "best.safetensors")
    for k in a.params:
        np.testing.assert_array_equal(a.params[k], b.params[k])


def test_search_data_is_scattered_once(client, blobs):
    """Trials get the scattered data by reference: the data's key is the same for every task."""
    from nnzero import search

    X, y = blobs
    data = search.TrialData(X, y, search.splits(y, seed=0))
    jobs = [{"index": i, "settings": _settings(lr), "params": {"lr": lr}, "seed": search.trial_seed(0, i)}
            for i, lr in enumerate([0.01, 0.02, 0.03])]
    seen = []
    original = client.scatter

    def counting_scatter(*args, **kwargs):
        seen.append(kwargs.get("broadcast"))
        return original(*args, **kwargs)

    client.scatter = counting_scatter
    try:
        rows = search.run(jobs, data, scheduler=client)
    finally:
        client.scatter = original
    assert seen == [True] and [r["trial"] for r in rows] == [0, 1, 2]
    assert rows == sorted(rows, key=lambda r: r["trial"]) and all(r["status"] == "ok" for r in rows)


def _settings(lr):
    from nnzero import recipes

    settings = recipes.get("default")
    settings.update(hidden=[8], dropout=0.0, lr=lr, epochs=2, batch_size=32, dtype="float32",
                    early_stopping=None, schedule={"name": "constant"})
    return settings


@pytest.mark.filterwarnings("ignore:.*max_iter=5 epochs reached:sklearn.exceptions.ConvergenceWarning")
def test_gridsearchcv_on_the_dask_joblib_backend(client, blobs):
    import joblib
    from sklearn.model_selection import GridSearchCV

    from nnzero.sklearn import MLPClassifier

    X, y = blobs
    grid = {"hidden_layer_sizes": [(8,), (16,)], "learning_rate_init": [0.003, 0.03]}

    def search(n_jobs):
        est = MLPClassifier(max_iter=5, random_state=0, batch_size=32, tol=0)
        return GridSearchCV(est, grid, cv=3, n_jobs=n_jobs).fit(X, y)

    with joblib.parallel_backend("dask"):
        on_dask = search(-1)
    here = search(1)
    np.testing.assert_array_equal(on_dask.cv_results_["mean_test_score"], here.cv_results_["mean_test_score"])
    assert on_dask.best_params_ == here.best_params_
    assert on_dask.best_estimator_.score(X, y) == here.best_estimator_.score(X, y)


def test_incremental_partial_fit_on_a_chunked_dask_array(client, blobs):
    da = pytest.importorskip("dask.array")
    wrappers = pytest.importorskip("dask_ml.wrappers")
    from nnzero.sklearn import MLPClassifier

    X, y = blobs
    dX, dy = da.from_array(X, chunks=(120, 8)), da.from_array(y, chunks=120)
    assert dX.numblocks == (4, 1)
    classes = np.unique(y)
    inc = wrappers.Incremental(MLPClassifier(hidden_layer_sizes=(16,), random_state=0, batch_size=32),
                               shuffle_blocks=False)
    inc.fit(dX, dy, classes=classes)
    # The same four blocks by hand: one partial_fit each, in order, on one estimator.
    by_hand = MLPClassifier(hidden_layer_sizes=(16,), random_state=0, batch_size=32)
    for i in range(4):
        by_hand.partial_fit(X[120 * i:120 * (i + 1)], y[120 * i:120 * (i + 1)], classes=classes)
    fitted = inc.estimator_
    assert fitted.t_ == by_hand.t_ == len(X)                # samples seen, over the four calls
    assert len(fitted.loss_curve_) == len(by_hand.loss_curve_) == 4
    assert fitted._optimizer.state_dict()["t"] == by_hand._optimizer.state_dict()["t"] > 0
    for a, b in zip(fitted.coefs_ + fitted.intercepts_, by_hand.coefs_ + by_hand.intercepts_):
        np.testing.assert_array_equal(a, b)
    # A fresh estimator per block would not get there: the state is what carries the training.
    fresh = MLPClassifier(hidden_layer_sizes=(16,), random_state=0, batch_size=32)
    fresh.partial_fit(X[360:], y[360:], classes=classes)
    assert not all(np.array_equal(a, b) for a, b in zip(fitted.coefs_, fresh.coefs_))
    assert inc.score(dX, dy) == pytest.approx(by_hand.score(X, y))
