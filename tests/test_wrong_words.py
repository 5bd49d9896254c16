"""The right words for odd inputs: values too large for float32, a huge --hidden, a test split
that leaves nothing, inspect/evaluate --json that is valid JSON, a NaN-filled float image."""

import json

import numpy as np
import pytest

import nnzero as nz

TRAIN = ["--hidden", "4", "--epochs", "1", "--quiet"]


@pytest.fixture
def data(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 4))
    np.savez(tmp_path / "data.npz", X=X.astype(np.float32), y=(X[:, 0] > 0).astype(np.int64))
    return tmp_path


def test_finite_float64_values_too_large_for_float32_are_named(data, cli):
    X = np.full((40, 4), 1e39)
    np.savez(data / "big.npz", X=X, y=np.arange(40) % 2)
    code, _, err = cli(["train", "--data", data / "big.npz", "--preprocessing", "none", "--out",
                        data / "m.safetensors", *TRAIN])
    assert code == 2 and err.count("\n") == 1, err
    assert "values up to 1e+39, too large for float32 (largest 3.4e+38)" in err and "NaN" not in err
    assert "RuntimeWarning" not in err
    # Scaled into range by the preprocessing, they are fine: 1e39 / 255 < 3.4e38.
    code, _, err = cli(["train", "--data", data / "big.npz", "--preprocessing", "scale255", "--out",
                        data / "m.safetensors", "--test-split", "0", *TRAIN])
    assert "too large" not in err


def test_a_huge_hidden_layer_is_a_clear_error(data, cli):
    code, _, err = cli(["train", "--data", data / "data.npz", "--hidden", "1000000000", "--epochs", "1",
                        "--out", data / "m.safetensors"])
    assert code == 2 and err.count("\n") == 1, err
    assert "the network 4-1000000000-2 (7,000,000,002 parameters" in err and "NNZERO_MAX_BYTES" in err


def test_a_test_split_that_leaves_nothing_names_the_flag(data, cli):
    code, _, err = cli(["train", "--data", data / "data.npz", "--test-split", "0.99999", "--out",
                        data / "m.safetensors", *TRAIN])
    assert code == 2 and "--test-split 0.99999 leaves no rows to train on" in err, err
    assert "validation_split" not in err


def test_json_outputs_are_valid_json(data, cli):
    model = data / "m.safetensors"
    assert cli(["train", "--data", data / "data.npz", "--out", model, "--test-split", "0", *TRAIN])[0] == 0
    m = nz.load(model)
    m.save(model, history={"epoch": [0], "loss": [1.0], "accuracy": [0.5], "val_loss": [None],
                           "val_accuracy": [None], "lr": [0.1], "time": [1.0]})
    code, out, _ = cli(["inspect", model, "--json"])
    assert code == 0 and json.loads(out, parse_constant=lambda c: pytest.fail(c))["kind"] == "model"
    # A model that is certain and wrong has an infinite loss: null in JSON, not Infinity.
    X = np.zeros((2, 4), np.float32)
    last = max(k for k in m.params if k.endswith(".b"))
    for k in m.params:
        m.params[k][...] = 0
    m.params[last][...] = np.array([-3e38, 3e38], dtype=np.float32)
    m.save(model)
    np.savez(data / "zero.npz", X=X, y=np.array([0, 0]))
    code, out, err = cli(["evaluate", model, "--data", data / "zero.npz", "--json"])
    assert code == 0, err
    report = json.loads(out, parse_constant=lambda c: pytest.fail(f"{c} is not JSON"))
    assert report["loss"] is None                         # the loss was inf


def test_a_nan_filled_float_image_is_not_called_blank(tmp_path):
    Image = pytest.importorskip("PIL.Image")
    from nnzero.images import load_digit

    path = tmp_path / "nan.tiff"
    Image.fromarray(np.full((28, 28), np.nan, dtype=np.float32), mode="F").save(path)
    with pytest.raises(nz.DataError, match="NaN or infinite pixels"):
        load_digit(path)
