"""The README's figures are the stored benchmark results (benchmarks/figures.py)."""

import importlib.util
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def figures():
    spec = importlib.util.spec_from_file_location("nnzero_bench_figures", ROOT / "benchmarks" / "figures.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_registered_figure_matches_its_stored_result(figures):
    assert figures.check() == []


def provenance(d):
    """(commit, CPU, BLAS kernel) of a stored result, at its top level (compare.json keeps them
    under settings/machine)."""
    machine = d.get("machine") or {}
    return (d.get("commit") or (d.get("settings") or {}).get("commit"), d.get("cpu") or machine.get("cpu"),
            d.get("blas") or machine.get("numpy_blas"))


def test_each_stored_result_names_its_commit_cpu_and_blas(figures):
    for name in sorted({f.results for f in figures.FIGURES}):
        path = figures.RESULTS / f"{name}.json"
        data = figures._read(path if path.exists() else path.with_suffix(".jsonl"))
        if all(provenance(data)):
            continue
        for run in data["runs"]:                      # else every run carries its own
            assert all(provenance(run)), f"{name}.json: a run lacks its commit, CPU or BLAS kernel"
            assert run.get("date"), f"{name}.json: a run lacks its date"


def test_a_changed_figure_is_reported(figures, tmp_path):
    # The checker itself: a document whose number differs from the stored one is a mismatch.
    (tmp_path / "results").mkdir()
    (tmp_path / "results" / "r.json").write_text(json.dumps({"rows": [{"k": "a", "v": 0.9792}]}))
    fig = figures.Figure("DOC.md", "accuracy {:.4f} on", "r", lambda r: (figures.pick(r["rows"], k="a")["v"],))
    (tmp_path / "DOC.md").write_text("the\naccuracy 0.9792\non MNIST")
    assert figures.check([fig], root=tmp_path, results=tmp_path / "results") == []
    (tmp_path / "DOC.md").write_text("the accuracy 0.9805 on MNIST")
    (problem,) = figures.check([fig], root=tmp_path, results=tmp_path / "results")
    assert "expected 'accuracy 0.9792 on'" in problem and "accuracy 0.9805 on" in problem
