"""Files written by an earlier nnzero (tests/fixtures, made by make_fixtures.py at commit bf50b19)
still load, predict the same and resume to the same bytes. Never regenerate the fixtures to make
this pass: a failure here means the model-file format or the arithmetic changed."""

from pathlib import Path

import numpy as np
import pytest

import nnzero as nz

FIXTURES = Path(__file__).resolve().parent / "fixtures"


@pytest.fixture(scope="module")
def mnist_rows(mnist_small):
    (X, y), (Xt, _) = mnist_small
    return X[:2000], y[:2000], Xt[:200]


def test_model_file_loads_and_predicts_identically(mnist_rows):
    *_, Xt = mnist_rows
    model = nz.load(FIXTURES / "adam_model.safetensors")
    assert [type(layer).__name__ for layer in model.layers] == ["Dense", "ReLU", "Dropout", "Dense", "Softmax"]
    assert model.metadata["preprocessing"] == {"kind": "scale", "factor": 1 / 255}
    assert len(model.history["loss"]) == 1
    np.testing.assert_array_equal(model.predict(Xt), np.load(FIXTURES / "adam_pred.npy"))
    # Bit for bit: the same float32 operations in the same order.
    np.testing.assert_array_equal(model.predict_proba(Xt), np.load(FIXTURES / "adam_proba.npy"))


RUNS = {"adam": dict(rows=2000, validation_split=0.1), "sgd": dict(rows=600, validation_split=0.0)}


@pytest.mark.parametrize("name", sorted(RUNS))
def test_checkpoint_resumes_to_the_same_bytes(mnist_rows, name):
    X, y, _ = mnist_rows
    rows, split = RUNS[name]["rows"], RUNS[name]["validation_split"]
    model, optimizer, state = nz.load_checkpoint(FIXTURES / f"{name}_ckpt.safetensors")

    assert (state["epoch"], state["epochs"]) == (1, 2)
    before = model.get_weights()
    model.fit(X[:rows], y[:rows], epochs=state["epochs"], batch_size=state["batch_size"], optimizer=optimizer,
              validation_split=split, resume=state)
    with np.load(FIXTURES / f"{name}_final.npz", allow_pickle=False) as final:
        expected = {k: final[k] for k in final.files}
    got = model.get_weights()
    assert sorted(got) == sorted(expected)
    for k in expected:
        assert got[k].dtype == expected[k].dtype and got[k].tobytes() == expected[k].tobytes(), k
        assert not np.array_equal(before[k], expected[k]), k      # the second epoch did run
