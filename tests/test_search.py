"""nnzero search without a cluster: the trials, the splits, the table, failures, Ctrl-C, and the
same results whatever the number of local worker processes."""

import csv
import json

import numpy as np
import pytest

import nnzero as nz
from nnzero import search
from nnzero.cli import main
from nnzero.errors import ConfigError


@pytest.fixture(scope="module")
def data_file(tmp_path_factory):
    """600 rows, 10 features, 3 classes that a small MLP can learn."""
    rng = np.random.default_rng(7)
    X = rng.normal(size=(600, 10)).astype(np.float32)
    y = (X[:, 0] + X[:, 1] > 0).astype(np.int64) + (X[:, 2] > 0.5)
    path = tmp_path_factory.mktemp("search") / "d.npz"
    np.savez(path, X=X, y=y)
    return path


def read_csv(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


DETERMINISTIC = ("trial", "hidden", "lr", "val_loss", "val_accuracy", "epochs", "status")


def test_grid_is_every_combination_first_name_slowest():
    assert search.grid({"a": [1, 2], "b": ["x", "y", "z"]}) == [
        {"a": 1, "b": "x"}, {"a": 1, "b": "y"}, {"a": 1, "b": "z"},
        {"a": 2, "b": "x"}, {"a": 2, "b": "y"}, {"a": 2, "b": "z"}]


def test_sample_draws_from_lists_and_ranges_repeatably():
    space = {"lr": search.Range(1e-4, 1e-2, log=True), "hidden": [[8], [16]], "epochs": search.Range(2, 5, integer=True)}
    a, b = search.sample(space, 50, seed=3), search.sample(space, 50, seed=3)
    assert a == b and a != search.sample(space, 50, seed=4)
    assert all(1e-4 <= t["lr"] <= 1e-2 and t["hidden"] in ([8], [16]) and t["epochs"] in range(2, 6) for t in a)
    assert {t["epochs"] for t in a} == {2, 3, 4, 5}


def test_trial_seed_depends_on_search_seed_and_index_only():
    seeds = [search.trial_seed(0, i) for i in range(5)]
    assert len(set(seeds)) == 5 and seeds == [search.trial_seed(0, i) for i in range(5)]
    assert search.trial_seed(1, 0) != seeds[0]


def test_folds_are_stratified_and_partition_the_rows():
    y = np.repeat([0, 1, 2], [30, 12, 6])
    folds = search.splits(y, folds=3, seed=0)
    val = np.concatenate([va for _, va in folds])
    assert sorted(val.tolist()) == list(range(len(y)))
    for tr, va in folds:
        assert np.intersect1d(tr, va).size == 0 and len(tr) + len(va) == len(y)
        assert np.bincount(y[va]).tolist() == [10, 4, 2]


def _search(data_file, out, *extra):
    return main(["search", "--data", str(data_file), "--param", "hidden=8,16", "--param", "lr=0.003,0.03",
                 "--epochs", "3", "--batch-size", "64", "--out-dir", str(out), "--quiet", *extra])


def test_search_writes_results_ranks_and_saves_the_best(data_file, tmp_path, capsys):
    assert _search(data_file, tmp_path, "--workers", "1") == 0
    out = capsys.readouterr().out
    rows = read_csv(tmp_path / "results.csv")
    assert [r["trial"] for r in rows] == ["0", "1", "2", "3"]
    assert [(r["hidden"], r["lr"]) for r in rows] == [("8", "0.003"), ("8", "0.03"), ("16", "0.003"), ("16", "0.03")]
    assert all(r["status"] == "ok" and r["epochs"] == "3" and r["worker"] for r in rows)
    doc = json.loads((tmp_path / "results.json").read_text())
    assert [t["params"] for t in doc["trials"]][1] == {"hidden": [8], "lr": 0.03}
    best = min(rows, key=lambda r: float(r["val_loss"]))
    table = out[out.index("rank"):].splitlines()
    assert table[1].split()[:2] == ["1", best["trial"]]
    model = nz.load(tmp_path / "best.safetensors")
    search_meta = model.metadata["training"]["search"]
    assert search_meta["trial"] == int(best["trial"]) and search_meta["trials"] == 4
    assert model.metadata["training"]["hidden"] == [int(best["hidden"])]
    assert "test accuracy" in out


def test_same_table_with_one_or_two_local_workers(data_file, tmp_path, capsys):
    assert _search(data_file, tmp_path / "one", "--workers", "1") == 0
    assert _search(data_file, tmp_path / "two", "--workers", "2") == 0
    one, two = read_csv(tmp_path / "one" / "results.csv"), read_csv(tmp_path / "two" / "results.csv")
    assert [[r[k] for k in DETERMINISTIC] for r in one] == [[r[k] for k in DETERMINISTIC] for r in two]
    assert len({r["worker"] for r in two}) >= 1
    a, b = nz.load(tmp_path / "one" / "best.safetensors"), nz.load(tmp_path / "two" / "best.safetensors")
    for k in a.params:
        np.testing.assert_array_equal(a.params[k], b.params[k])


def test_random_trials_with_ranges_and_folds(data_file, tmp_path, capsys):
    code = main(["search", "--data", str(data_file), "--param", "lr=1e-3..1e-1:log", "--param", "hidden=4-4,8",
                 "--trials", "3", "--folds", "2", "--epochs", "2", "--workers", "1", "--out-dir", str(tmp_path),
                 "--quiet"])
    assert code == 0
    rows = read_csv(tmp_path / "results.csv")
    assert len(rows) == 3 and all(1e-3 <= float(r["lr"]) <= 1e-1 for r in rows)
    assert {r["hidden"] for r in rows} <= {"4-4", "8"}
    trials = json.loads((tmp_path / "results.json").read_text())["trials"]
    assert all(t["status"] == "ok" for t in trials)


def test_a_diverging_trial_is_recorded_and_the_search_goes_on(data_file, tmp_path, capsys):
    code = main(["search", "--data", str(data_file), "--optimizer", "sgd", "--param", "lr=0.05,1e6",
                 "--epochs", "3", "--preprocessing", "none", "--workers", "1", "--out-dir", str(tmp_path), "--quiet"])
    assert code == 0
    rows = read_csv(tmp_path / "results.csv")
    assert [r["status"] for r in rows] == ["ok", "diverged"]
    assert "diverged" in rows[1]["error"] and rows[1]["val_loss"] == ""
    out = capsys.readouterr().out
    assert "diverged" in out.splitlines()[-5] or "diverged" in out


def test_failing_trial_is_recorded_with_its_error(monkeypatch, data_file, tmp_path, capsys):
    real = search._train

    def flaky(settings, data, rows, seed, epochs=None):
        if settings["lr"] == 0.03:
            raise MemoryError("out of memory on this worker")
        return real(settings, data, rows, seed, epochs)

    monkeypatch.setattr(search, "_train", flaky)
    assert _search(data_file, tmp_path, "--workers", "1") == 0
    rows = read_csv(tmp_path / "results.csv")
    assert [r["status"] for r in rows] == ["ok", "failed", "ok", "failed"]
    assert rows[1]["error"] == "MemoryError: out of memory on this worker"


def test_ctrl_c_keeps_the_finished_trials(monkeypatch, data_file, tmp_path, capsys):
    real, calls = search.run_trial, []

    def interrupted_third(**job):
        calls.append(job["index"])
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(**job)

    monkeypatch.setattr(search, "run_trial", interrupted_third)
    assert _search(data_file, tmp_path, "--workers", "1") == 130
    assert [r["trial"] for r in read_csv(tmp_path / "results.csv")] == ["0", "1"]
    assert "2 of 4 trials finished" in capsys.readouterr().err
    assert not (tmp_path / "best.safetensors").exists()


@pytest.mark.parametrize("argv, message", [
    (["--param", "lr"], "--param expects NAME=VALUES"),
    (["--param", "colour=red"], "not a setting a search can vary"),
    (["--param", "lr=0.1", "--param", "lr=0.2"], "given twice"),
    (["--param", "lr=-1"], "--param lr: expected a number > 0"),
    (["--param", "optimizer=adam,rmsprop2"], "is not one of"),
    (["--param", "lr=1e-4..1e-2"], "a range needs --trials"),
    (["--param", "activation=relu..tanh", "--trials", "2"], "a range needs numbers"),
    ([], "give at least one --param"),
    (["--param", "lr=0.1", "--folds", "1"], "--folds must be at least 2"),
    (["--param", "lr=0.1", "--workers", "2", "--scheduler", "tcp://127.0.0.1:1"], "not both"),
])
def test_bad_search_arguments_are_one_line_errors(data_file, tmp_path, capsys, argv, message):
    code = main(["search", "--data", str(data_file), "--epochs", "1", "--out-dir", str(tmp_path), *argv])
    err = capsys.readouterr().err
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1


def test_unreachable_scheduler_is_a_clear_error(data_file, tmp_path, capsys):
    dask = pytest.importorskip("dask")
    pytest.importorskip("distributed")
    with dask.config.set({"distributed.comm.timeouts.connect": "1s"}):
        code = main(["search", "--data", str(data_file), "--param", "lr=0.1", "--epochs", "1",
                     "--scheduler", "tcp://127.0.0.1:9", "--out-dir", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 2 and "cannot reach the Dask scheduler at tcp://127.0.0.1:9" in err


def test_range_parameter_errors():
    with pytest.raises(ConfigError, match="finite low < high"):
        search.Range(2, 1)
    with pytest.raises(ConfigError, match="log range needs low > 0"):
        search.Range(0, 1, log=True)


def test_search_on_memory_mapped_rows_sends_the_path_to_workers(data_file, tmp_path, capsys):
    """X.npy + --labels: trials read the file themselves (the rows are not pickled), and get
    the same numbers as from the in-memory NPZ."""
    import pickle

    from nnzero import rows

    with np.load(data_file) as npz:
        np.save(tmp_path / "X.npy", npz["X"])
        np.save(tmp_path / "y.npy", npz["y"])
    mapped = rows.LazyRows(np.load(tmp_path / "X.npy", mmap_mode="r"))
    assert len(pickle.dumps(mapped)) < 2000 < mapped.data.nbytes
    argv = ["search", "--param", "lr=0.003,0.03", "--epochs", "2", "--quiet", "--preprocessing", "none"]
    assert main([*argv, "--data", str(tmp_path / "X.npy"), "--labels", str(tmp_path / "y.npy"),
                 "--workers", "2", "--out-dir", str(tmp_path / "mapped")]) == 0
    assert main([*argv, "--data", str(data_file), "--workers", "1", "--out-dir", str(tmp_path / "npz")]) == 0
    keys = ("trial", "lr", "val_loss", "val_accuracy", "status")
    a, b = read_csv(tmp_path / "mapped" / "results.csv"), read_csv(tmp_path / "npz" / "results.csv")
    assert [[r[k] for k in keys] for r in a] == [[r[k] for k in keys] for r in b]


def test_augmentation_is_a_searchable_setting(tmp_path, capsys):
    """--param augment=none,affine: the augmented trial trains differently (the warp reaches fit)."""
    rng = np.random.default_rng(3)
    X = rng.integers(0, 256, (240, 784)).astype(np.uint8)
    y = np.arange(240) % 3
    np.savez(tmp_path / "img.npz", X=X, y=y)
    code = main(["search", "--data", str(tmp_path / "img.npz"), "--param", "augment=none,affine",
                 "--hidden", "8", "--epochs", "1", "--workers", "1", "--quiet", "--out-dir", str(tmp_path)])
    assert code == 0
    rows = read_csv(tmp_path / "results.csv")
    assert [r["augment"] for r in rows] == ["none", "affine"] and all(r["status"] == "ok" for r in rows)
    assert rows[0]["val_loss"] != rows[1]["val_loss"]
    trials = json.loads((tmp_path / "results.json").read_text())["trials"]
    assert [t["params"]["augment"] for t in trials] == ["none", "affine"]


def test_ctrl_c_with_worker_processes_exits_130_and_keeps_results(data_file, tmp_path):
    """SIGINT to the whole process group, as a terminal's Ctrl-C: the command and its worker
    processes stop, the finished trials are in results.csv, exit code 130."""
    import os
    import signal
    import subprocess
    import sys
    import time
    from pathlib import Path

    src = str(Path(nz.__file__).resolve().parents[1])
    argv = [sys.executable, "-m", "nnzero", "search", "--data", str(data_file), "--workers", "2",
            "--param", "lr=0.001,0.002,0.003,0.004,0.005,0.006,0.007,0.008", "--epochs", "20",
            "--batch-size", "16", "--out-dir", str(tmp_path)]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": src}, start_new_session=True)
    lines = []
    for line in proc.stdout:                 # wait for the first finished trial
        lines.append(line)
        if line.startswith("trial 1/8"):
            break
    time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGINT)
    try:
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 130, err
    assert "trials finished, their results are in" in err and "Traceback" not in err
    rows = read_csv(tmp_path / "results.csv")
    assert 1 <= len(rows) < 8 and all(r["status"] == "ok" for r in rows)
    assert not (tmp_path / "best.safetensors").exists()
