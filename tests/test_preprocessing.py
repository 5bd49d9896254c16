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


def _train_cli(tmp_path, X, y, name, *flags):
    from nnzero.cli import main

    np.savez(tmp_path / f"{name}.npz", X=X, y=y)
    out = tmp_path / f"{name}.safetensors"
    assert main(["train", "--data", str(tmp_path / f"{name}.npz"), "--out", str(out), "--hidden", "8",
                 "--epochs", "1", "--test-split", "0", "--seed", "5", "--quiet", *flags]) == 0
    return nz.load(out).metadata["preprocessing"]


@pytest.mark.parametrize("flags", [["--preprocessing", "standardize"], []])   # the flag, or chosen from the data
def test_the_cli_fits_standardize_to_the_training_rows_not_the_validation_rows(tmp_path, flags):
    from nnzero.cli.train_start import validation_rows

    rng = np.random.default_rng(0)
    X = rng.normal(3.0, 2.0, (400, 5))
    y = rng.integers(0, 3, 400)
    fit_rows, val_rows = validation_rows(y, 0.25, seed=5)
    assert len(val_rows) == 100 and not set(fit_rows) & set(val_rows)
    spec = _train_cli(tmp_path, X, y, "a", "--validation-split", "0.25", *flags)
    assert spec["kind"] == "standardize"
    np.testing.assert_allclose(spec["mean"], X[fit_rows].mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(spec["std"], X[fit_rows].std(axis=0), rtol=1e-12)
    # The held-out rows do not move the statistics at all: make them wild, train again.
    X_wild = X.copy()
    X_wild[val_rows] = X_wild[val_rows] * 1000 + 500
    assert _train_cli(tmp_path, X_wild, y, "b", "--validation-split", "0.25", *flags) == spec
    # Without a validation split, every training row counts.
    np.testing.assert_allclose(_train_cli(tmp_path, X, y, "c", *flags)["mean"], X.mean(axis=0), rtol=1e-12)


def test_the_cli_holds_out_the_rows_fit_would_hold_out():
    """train_start.validation_rows draws fit(validation_split=...)'s split (so a checkpoint
    written when fit split the data resumes exactly): training on its rows with them as
    validation_data is the same run, weight for weight."""
    from nnzero.cli.train_start import validation_rows

    rng = np.random.default_rng(1)
    X = rng.normal(size=(300, 6)).astype(np.float32)
    y = rng.integers(0, 4, 300)
    a = nz.mlp(6, [7], 4)
    ha = a.fit(X, y, epochs=2, batch_size=32, validation_split=0.2, seed=9, verbose=0)
    fit_rows, val_rows = validation_rows(y, 0.2, seed=9)
    b = nz.mlp(6, [7], 4)
    hb = b.fit(X[fit_rows], y[fit_rows], epochs=2, batch_size=32, validation_data=(X[val_rows], y[val_rows]),
               seed=9, verbose=0)
    assert ha.history["val_loss"] == hb.history["val_loss"] and ha.history["loss"] == hb.history["loss"]
    wa, wb = a.get_weights(), b.get_weights()
    assert all(np.array_equal(wa[k], wb[k]) for k in wa)
