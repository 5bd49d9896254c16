"""Every Python snippet of docs/*.md and benchmarks/README.md, executed as written (the README's
own are in tests/test_readme.py). A snippet is one of three kinds, and the first test makes sure
each is accounted for:

- a quote of the source: its first line is ``# quoted from src/nnzero/<file>.py: <function>``
  (docs/math.md); tests/test_explain.py checks every quoted line is still in that function;
- marked ``<!-- not run: REASON -->`` on the line before its fence, when it needs what a test
  cannot have (a SLURM batch system);
- run here, word for word, with the data the text assumes made up small: each has a runner
  below, found by a phrase of the snippet.
"""

import re
from pathlib import Path

import numpy as np
import pytest

import nnzero as nz

ROOT = Path(__file__).resolve().parents[1]
PAGES = sorted((ROOT / "docs").glob("*.md")) + [ROOT / "benchmarks" / "README.md"]
QUOTE = re.compile(r"# quoted from (src/nnzero/[\w/]+|tests/\w+)\.py: [\w.]+")
BLOCK = re.compile(r"(?:^<!-- not run: (?P<why>[^\n]*?) -->\n)?^```python\n(?P<code>.*?)^```", re.S | re.M)


def _snippets():
    """(page, code, why-not-run or None) for every ```python block of the pages."""
    for page in PAGES:
        for m in BLOCK.finditer(page.read_text(encoding="utf-8")):
            yield page, m.group("code"), m.group("why")


def _snippet(phrase):
    found = [code for _, code, why in _snippets() if phrase in code and why is None]
    assert len(found) == 1, f"expected one snippet to run containing {phrase!r}, found {len(found)}"
    return found[0]


def _run(code, page, **names):
    namespace = dict(names)
    exec(compile(code, f"{page} (python block)", "exec"), namespace)
    return namespace


RUNNERS = ("class ScaleShift(Layer)", 'Client("tcp://SCHEDULER:8786")', 'da.from_zarr("features.zarr")',
           'np.load("X.npy", mmap_mode="r")        # nothing', "np.lib.format.open_memmap")


def test_every_snippet_is_run_quoted_or_marked_with_a_reason():
    unaccounted = []
    for page, code, why in _snippets():
        first = code.splitlines()[0] if code.strip() else ""
        if QUOTE.fullmatch(first.strip()):
            assert page.name == "math.md", f"{page}: quotes are checked in docs/math.md only"
        elif why is not None:
            assert len(why.split()) >= 3, f"{page}: say why the snippet is not run: {why!r}"
        elif not any(phrase in code for phrase in RUNNERS):
            unaccounted.append(f"{page.relative_to(ROOT)}: {first}")
    assert not unaccounted, f"snippets neither run nor marked (add a runner here): {unaccounted}"
    quotes = [code for page, code, _ in _snippets() if page.name == "math.md"]
    assert quotes and all(QUOTE.fullmatch(code.splitlines()[0].strip()) for code in quotes)


def test_architecture_md_custom_layer_trains_and_passes_the_gradient_check():
    from nnzero.layers import Layer

    ScaleShift = _run(_snippet("class ScaleShift(Layer)"), "docs/architecture.md", np=np, Layer=Layer)["ScaleShift"]
    rng = np.random.default_rng(0)
    X = rng.standard_normal((200, 5))
    y = (X[:, 0] > X[:, 1]).astype(int)
    model = nz.Sequential([nz.Dense(5, 6), nz.Tanh(), ScaleShift(), nz.Dense(6, 2), nz.Softmax()], dtype="float64")
    model.build(seed=1)
    model.layers[2].params["beta"][...] = 0.1 * np.arange(6)        # away from the all-zero start
    errors = nz.check_gradients(model, X[:8], y[:8], max_entries=None)
    assert {"2.gamma", "2.beta"} <= set(errors) and max(errors.values()) < 1e-7, errors
    history = model.fit(X, y, epochs=5, batch_size=20, optimizer=nz.Adam(1e-2), seed=1, verbose=0)
    assert history["loss"][-1] < history["loss"][0]


@pytest.fixture
def digits():
    """A small 10-class table (scikit-learn's 8×8 digits, 300 rows), as the snippets' X and y."""
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    return (X[:300] / 16).astype(np.float32), y[:300]


@pytest.mark.cluster
def test_cluster_md_grid_search_on_dask(digits):
    distributed = pytest.importorskip("distributed")
    X, y = digits
    code = _snippet('Client("tcp://SCHEDULER:8786")')
    with distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=False, dashboard_address=":0",
                                  silence_logs=40) as cluster:
        # The one change: the placeholder scheduler address becomes a real (in-process) cluster's.
        code = code.replace("tcp://SCHEDULER:8786", cluster.scheduler_address)
        namespace = _run(code, "docs/cluster.md", X=X, y=y)
        namespace["client"].close()
    grid = namespace["grid"]
    assert len(grid.cv_results_["params"]) == 4 and grid.best_score_ > 0.5      # chance is 0.1


def test_cluster_md_incremental_over_dask_blocks(digits, monkeypatch):
    da = pytest.importorskip("dask.array")
    pytest.importorskip("dask_ml")
    from nnzero.sklearn import MLPClassifier

    X, y = digits
    # The snippet's zarr stores, made up: the same arrays, chunked by rows.
    stores = {"features.zarr": da.from_array(X, chunks=(100, 64)), "labels.zarr": da.from_array(y, chunks=100)}
    monkeypatch.setattr(da, "from_zarr", lambda path, *a, **k: stores[path])
    model = _run(_snippet('da.from_zarr("features.zarr")'), "docs/cluster.md", np=np,
                 MLPClassifier=MLPClassifier)["model"]
    # 10 passes over the 3 blocks, one estimator throughout (the snippet said model.fit, which
    # starts from a fresh clone at every call: 3 blocks trained, 30 % accuracy instead of 93 %).
    est = model.estimator_
    assert est.t_ == 10 * len(X) and len(est.loss_curve_) == 10 * 3
    assert est.loss_curve_[-1] < min(est.loss_curve_[:3])        # and it learns (block order is random)


def test_cluster_md_memory_mapped_training(tmp_path, monkeypatch, digits):
    X, y = digits
    monkeypatch.chdir(tmp_path)
    np.save("X.npy", X)
    np.save("y.npy", y)
    model = nz.mlp(64, [16], 10)
    _run(_snippet('np.load("X.npy", mmap_mode="r")        # nothing'), "docs/cluster.md", np=np, model=model)
    assert len(model.history["loss"]) == 5 and model.history["val_loss"][-1] < model.history["val_loss"][0]


def test_cluster_md_dask_array_to_npy_then_fit(tmp_path, monkeypatch, digits):
    da = pytest.importorskip("dask.array")
    X, y = digits
    monkeypatch.chdir(tmp_path)
    model = nz.mlp(64, [16], 10)
    _run(_snippet("np.lib.format.open_memmap"), "docs/cluster.md",
         X=da.from_array(X.astype(np.float64), chunks=(64, 64)), y_numpy=y, model=model)
    assert np.array_equal(np.load(tmp_path / "X.npy"), X)
    assert len(model.history["loss"]) == 5 and model.history["loss"][-1] < model.history["loss"][0]
