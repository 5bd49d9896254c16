"""The fuzzing corpus (tests/fuzz/corpus/<target>/: valid files, hostile variants, and inputs
the fuzzer once crashed on) replayed through the readers in the ordinary test run: each gives a
result or an nnzero error, nothing else. The coverage-guided run itself is tests/fuzz/run.py."""

import io
from pathlib import Path

import pytest

from nnzero import datasets, serialization
from nnzero.errors import NnzeroError

CORPUS = Path(__file__).parent / "fuzz" / "corpus"
FILES = sorted(p for p in CORPUS.glob("*/*") if p.is_file())


def read(target, data, tmp_path):
    path = tmp_path / ("input." + {"npy": "npy", "npz": "npz", "csv": "csv", "model": "safetensors"}.get(target, "x"))
    path.write_bytes(data)
    if target == "idx":
        return datasets.read_idx(io.BytesIO(data))
    if target == "npy":
        return datasets.load_npy(path)
    if target == "npz":
        return datasets.load_npz(path)
    if target == "csv":
        return datasets.load_csv(path, label_column=(None, "label", 0, -1)[len(data) % 4])
    if target == "image":
        pytest.importorskip("PIL")
        from nnzero import images

        return images.load_digit(io.BytesIO(data))
    if target == "model":
        return serialization.load(path)
    raise AssertionError(target)


def test_the_corpus_covers_every_reader():
    assert {p.parent.name for p in FILES} == {"idx", "npy", "npz", "csv", "image", "model"}


@pytest.mark.parametrize("path", FILES, ids=[f"{p.parent.name}/{p.name}" for p in FILES])
def test_corpus_file_gives_a_result_or_an_nnzero_error(path, tmp_path):
    try:
        read(path.parent.name, path.read_bytes(), tmp_path)
    except NnzeroError:
        pass
