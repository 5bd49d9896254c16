"""Model files carry a SHA-256 of their tensor bytes; a flipped bit is a clear ModelFileError.

The digest is checked here against hashlib on the file's bytes after the header, parsed by hand
(8 bytes of little-endian header length, the JSON header, then the tensors)."""

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

import nnzero as nz
from nnzero import ModelFileError

FIXTURES = Path(__file__).with_name("fixtures")


def split(data):
    """(header dict, offset of the tensor bytes)."""
    n = int.from_bytes(data[:8], "little")
    return json.loads(data[8:8 + n]), 8 + n


def document(data):
    return json.loads(split(data)[0]["__metadata__"]["nnzero"])


@pytest.fixture
def trained(rng):
    model = nz.Sequential([nz.Dense(4, 6), nz.ReLU(), nz.Dense(6, 3), nz.Softmax()])
    X = rng.normal(size=(30, 4)).astype(np.float32)
    model.fit(X, np.arange(30) % 3, epochs=2, batch_size=8, seed=0)
    return model, X


def test_the_file_records_the_sha256_of_its_tensor_bytes(trained, tmp_path):
    model, _ = trained
    nz.save(model, tmp_path / "m.safetensors")
    data = (tmp_path / "m.safetensors").read_bytes()
    header, start = split(data)
    assert document(data)["tensors_sha256"] == hashlib.sha256(data[start:]).hexdigest()
    # The bytes hashed are exactly the tensors the header lists, end to end.
    assert max(e["data_offsets"][1] for k, e in header.items() if k != "__metadata__") == len(data) - start


def flip(data, position, bit=0):
    out = bytearray(data)
    out[position] ^= 1 << bit
    return bytes(out)


def test_a_flipped_bit_in_any_tensor_is_a_clear_error(trained, tmp_path):
    model, X = trained
    path = tmp_path / "m.safetensors"
    nz.save(model, path)
    data = path.read_bytes()
    header, start = split(data)
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        begin, end = entry["data_offsets"]
        for pos in (begin, (begin + end) // 2, end - 1):
            bad = tmp_path / f"bad-{name}-{pos}.safetensors"
            bad.write_bytes(flip(data, start + pos))       # the lowest bit: the value stays finite
            with pytest.raises(ModelFileError, match="SHA-256") as info:
                nz.load(bad)
            assert str(bad) in str(info.value) and "corrupted" in str(info.value)
    np.testing.assert_array_equal(nz.load(path).predict_proba(X), model.predict_proba(X))


def test_a_flipped_bit_in_a_checkpoint_is_a_clear_error(trained, tmp_path):
    from nnzero import serialization as io
    model, _ = trained
    path = tmp_path / "run.ckpt.safetensors"
    io.save_checkpoint(path, model)
    data = path.read_bytes()
    _, start = split(data)
    assert document(data)["tensors_sha256"] == hashlib.sha256(data[start:]).hexdigest()
    path.write_bytes(flip(data, len(data) - 1, bit=3))
    with pytest.raises(ModelFileError, match="SHA-256"):
        io.load_checkpoint(path)


def test_files_without_a_digest_still_load(trained, tmp_path):
    model, X = trained
    path = tmp_path / "m.safetensors"
    nz.save(model, path)
    data = path.read_bytes()
    header, start = split(data)
    doc = document(data)
    del doc["tensors_sha256"]
    header["__metadata__"]["nnzero"] = json.dumps(doc)
    text = json.dumps(header).encode()
    old = tmp_path / "old.safetensors"
    old.write_bytes(len(text).to_bytes(8, "little") + text + data[start:])
    np.testing.assert_array_equal(nz.load(old).predict_proba(X), model.predict_proba(X))


@pytest.mark.parametrize("name", sorted(p.name for p in FIXTURES.glob("*.safetensors")))
def test_the_committed_fixture_files_load(name):
    # Written before the digest existed (tests/fixtures/make_fixtures.py): they have none.
    path = FIXTURES / name
    assert "tensors_sha256" not in document(path.read_bytes())
    nz.load(path)


@pytest.mark.parametrize("digest", ["0" * 63, "G" * 64, "A" * 64, 12, ["x"]])
def test_a_malformed_digest_is_a_clear_error(trained, tmp_path, digest):
    model, _ = trained
    path = tmp_path / "m.safetensors"
    nz.save(model, path)
    data = path.read_bytes()
    header, start = split(data)
    doc = document(data)
    doc["tensors_sha256"] = digest
    header["__metadata__"]["nnzero"] = json.dumps(doc)
    text = json.dumps(header).encode()
    path.write_bytes(len(text).to_bytes(8, "little") + text + data[start:])
    with pytest.raises(ModelFileError, match="tensors_sha256 must be 64 lowercase hex digits"):
        nz.load(path)
