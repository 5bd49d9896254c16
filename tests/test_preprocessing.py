"""Input preprocessing: the default chosen from the data, standardize fitted to training rows,
and the spec stored in (and checked when read from) a model file."""

import numpy as np
import pytest

import nnzero as nz
from nnzero import preprocessing
from nnzero.errors import ConfigError, DataError, ModelFileError


def test_pixels_keep_scale255_and_other_tables_are_standardized():
    pixels = np.random.default_rng(0).integers(0, 256, (20, 784)).astype(np.uint8)
    assert preprocessing.choose(pixels)[0] == preprocessing.SCALE_255
    assert preprocessing.choose(pixels.astype(np.float32), preprocessing.BINARIZE)[0] == preprocessing.BINARIZE
    for table in (pixels[:, :64] % 17,                          # digits 8×8, values 0..16
                  pixels.astype(np.float32) + 0.5,              # not integers
                  np.column_stack([pixels[:, :783], np.full(20, 300)])):   # out of 0..255
        spec, reason = preprocessing.choose(table)
        assert spec["kind"] == "standardize" and "not 784 pixels" in reason


def test_standardize_is_fitted_to_the_training_rows():
    X = np.array([[1.0, 10.0, 5.0], [3.0, 30.0, 5.0]])
    spec = preprocessing.standardize(X)
    # column means 2, 20, 5; population std 1, 10 and 0 → 1 (a constant column becomes 0, not NaN)
    assert spec == {"kind": "standardize", "mean": [2.0, 20.0, 5.0], "std": [1.0, 10.0, 1.0]}
    out = preprocessing.apply(X, spec, np.float64)
    assert out.tolist() == [[-1.0, -1.0, 0.0], [1.0, 1.0, 0.0]]
    assert preprocessing.apply(X.astype(np.int64), spec).dtype == np.float32
    with pytest.raises(DataError, match="fitted to 3 features"):
        preprocessing.apply(X[:, :2], spec)


@pytest.mark.parametrize("spec", [
    {"kind": "standardize"},
    {"kind": "standardize", "mean": [0.0], "std": [0.0]},
    {"kind": "standardize", "mean": [0.0, 1.0], "std": [1.0]},
    {"kind": "standardize", "mean": [float("nan")], "std": [1.0]},
])
def test_bad_standardize_specs_are_refused(spec):
    with pytest.raises(ConfigError, match="standardize"):
        preprocessing.check(spec)


def test_standardize_round_trips_through_a_model_file(tmp_path):
    model = nz.Sequential([nz.Dense(2, 3), nz.Softmax()]).build(seed=0)
    spec = preprocessing.standardize(np.array([[0.0, 1.0], [2.0, 5.0]]))
    model.save(tmp_path / "m.safetensors", preprocessing=spec)
    assert nz.load(tmp_path / "m.safetensors").metadata["preprocessing"] == spec
    raw = (tmp_path / "m.safetensors").read_bytes().replace(b'[1.0,2.0]', b'[1.0,0.0]')
    (tmp_path / "bad.safetensors").write_bytes(raw)
    with pytest.raises(ModelFileError, match="standardize"):
        nz.load(tmp_path / "bad.safetensors")
