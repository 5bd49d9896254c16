"""The stand-alone NumPy predictor: written by ``export_numpy`` / ``nnzero export --format numpy``,
run in a Python that can import NumPy and nothing else (no nnzero, no site-packages), it predicts
what nnzero predicts on the whole MNIST test set."""

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import nnzero as nz
from nnzero import layers as L
from nnzero import preprocessing as prep
from nnzero.cli import main
from nnzero.errors import ConfigError
from nnzero.export import export_numpy

NAMES = np.array(["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"])
CASES = [  # (activation, dtype, classes, dropout, preprocessing): each value at least once
    ("relu", "float32", "int", 0.2, "scale"),
    ("leaky_relu", "float64", "str", 0.0, "standardize"),
    ("tanh", "float32", "str", 0.0, "binarize"),
    ("sigmoid", "float64", "int", 0.2, "none"),
]


@pytest.fixture(scope="module")
def mnist_raw():
    (X_train, y_train), (X_test, _) = nz.datasets.load_mnist(normalize=False)
    return X_train[:2000].copy(), y_train[:2000].copy(), X_test


@pytest.fixture(scope="module")
def numpy_only_path(tmp_path_factory):
    """A folder holding NumPy (links to the installed package) and nothing else."""
    folder = tmp_path_factory.mktemp("numpy_only")
    site = os.path.dirname(os.path.dirname(np.__file__))
    for name in ("numpy", "numpy.libs"):      # numpy.libs: the BLAS of a manylinux wheel
        if os.path.exists(os.path.join(site, name)):
            os.symlink(os.path.join(site, name), folder / name)
    return folder


def run_numpy_only(numpy_path, predictor, rows_file, out_file):
    """Run the predictor in ``python -I -S`` (no site-packages, no PYTHONPATH) with only NumPy on
    sys.path; check there that nnzero and the rest cannot be imported. Returns the JSON report."""
    code = textwrap.dedent(f"""
        import importlib.util, json, sys
        sys.path[:0] = [{str(numpy_path)!r}, {str(predictor)!r}]
        blocked = [m for m in ("nnzero", "sklearn", "torch", "onnx", "safetensors") if importlib.util.find_spec(m)]
        import numpy as np
        import predict
        X = np.load({str(rows_file)!r})
        np.savez({str(out_file)!r}, proba=predict.predict_proba(X), labels=predict.predict(X))
        print(json.dumps({{"importable": blocked, "modules": sorted(m for m in sys.modules if m.split(".")[0]
                          not in sys.stdlib_module_names and m.split(".")[0] not in ("numpy", "predict", "__main__"))}}))
    """)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    result = subprocess.run([sys.executable, "-I", "-S", "-c", code], capture_output=True, text=True, env=env,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def trained(case, X, y):
    """A small trained model for one row of CASES and its preprocessing spec."""
    activation, dtype, classes, dropout, kind = case
    model = nz.mlp(784, [24], 10, activation=activation, dropout=dropout, dtype=dtype)
    X = X / 255 if kind == "none" else X
    spec = {"scale": prep.SCALE_255, "binarize": prep.BINARIZE, "none": prep.NONE,
            "standardize": None}[kind] or prep.standardize(X)
    model.fit(prep.apply(X, spec, dtype), NAMES[y] if classes == "str" else y, epochs=1, batch_size=64,
              seed=0, verbose=0)
    return model, spec


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c[0]}-{c[1]}-{c[2]}-drop{c[3]}-{c[4]}")
def test_predictor_with_numpy_only_matches_nnzero_on_the_mnist_test_set(case, mnist_raw, numpy_only_path, tmp_path):
    X_train, y_train, X_test = mnist_raw
    model, spec = trained(case, X_train, y_train)
    rows = X_test / 255 if case[4] == "none" else X_test          # uint8 pixels, or floats
    model.save(tmp_path / "m.safetensors", preprocessing=spec)
    assert main(["export", str(tmp_path / "m.safetensors"), "--format", "numpy", "--out", str(tmp_path / "p")]) == 0
    np.save(tmp_path / "rows.npy", rows)
    report = run_numpy_only(numpy_only_path, tmp_path / "p", tmp_path / "rows.npy", tmp_path / "out.npz")
    assert report == {"importable": [], "modules": []}
    inputs = prep.apply(rows, spec, model.dtype)
    with np.load(tmp_path / "out.npz") as out:
        assert out["proba"].dtype == model.dtype
        assert np.abs(out["proba"] - model.predict_proba(inputs)).max() <= 1e-5
        assert out["labels"].tolist() == model.predict(inputs).tolist()


def test_predictor_is_short_readable_numpy(tmp_path):
    model = nz.mlp(5, [4, 3], 2, activation="sigmoid", dropout=0.1).build(seed=0)
    script = export_numpy(model, tmp_path / "p")
    text = script.read_text()
    assert len(text.splitlines()) <= 70
    imports = {line for line in text.splitlines() if line.startswith(("import ", "from "))}
    assert imports == {"import os", "import sys", "import numpy as np"}
    assert "allow_pickle=False" in text and "pickle" not in text.replace("allow_pickle=False", "")
    assert "Dropout" not in text.split("def logits")[1]             # nothing left at inference
    with np.load(tmp_path / "p" / "weights.npz", allow_pickle=False) as w:
        assert sorted(w.files) == ["W0", "W3", "W6", "b0", "b3", "b6", "classes"]


def test_predictor_command_line(tmp_path, rng):
    model = nz.mlp(3, [4], 2).build(seed=0)
    model.set_classes(None, np.array(["no", "yes"]))
    export_numpy(model, tmp_path / "p")
    X = rng.normal(size=(6, 3))
    np.savetxt(tmp_path / "rows.csv", X, delimiter=",")
    result = subprocess.run([sys.executable, str(tmp_path / "p" / "predict.py"), str(tmp_path / "rows.csv")],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == model.predict(X).tolist()


@pytest.mark.parametrize("head", [[], [nz.Softmax()]], ids=["linear", "softmax"])
def test_regressor_predictor(head, tmp_path, rng, numpy_only_path):
    model = nz.Sequential([nz.Dense(6, 8), nz.LeakyReLU(0.2), nz.Dense(8, 2), *head], loss="mse",
                          dtype="float64").build(seed=2)
    export_numpy(model, tmp_path / "p")
    X = rng.normal(size=(40, 6))
    np.save(tmp_path / "rows.npy", X)
    code = (f"import sys; sys.path[:0] = [{str(numpy_only_path)!r}, {str(tmp_path / 'p')!r}]; import numpy as np, predict; "
            f"np.save({str(tmp_path / 'out.npy')!r}, predict.predict(np.load({str(tmp_path / 'rows.npy')!r})))")
    subprocess.run([sys.executable, "-I", "-S", "-c", code], check=True, timeout=60)
    np.testing.assert_allclose(np.load(tmp_path / "out.npy"), model.predict(X), rtol=0, atol=1e-12)


def test_cli_refuses_an_existing_path_without_force(tmp_path, capsys):
    model = nz.mlp(3, [4], 2).build(seed=0)
    model.save(tmp_path / "m.safetensors")
    (tmp_path / "p").mkdir()
    assert main(["export", str(tmp_path / "m.safetensors"), "--format", "numpy", "--out", str(tmp_path / "p")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "already exists; use --force" in err
    assert not os.listdir(tmp_path / "p")
    assert main(["export", str(tmp_path / "m.safetensors"), "--format", "numpy", "--out", str(tmp_path / "p"),
                 "--force"]) == 0
    assert sorted(os.listdir(tmp_path / "p")) == ["predict.py", "weights.npz"]


def test_cli_default_out_and_missing_model(tmp_path, capsys):
    model = nz.mlp(3, [4], 2).build(seed=0)
    model.save(tmp_path / "m.safetensors")
    assert main(["export", str(tmp_path / "m.safetensors"), "--format", "numpy"]) == 0
    assert (tmp_path / "m-numpy" / "predict.py").exists()
    assert main(["export", str(tmp_path / "nope.safetensors"), "--format", "numpy"]) == 2
    assert "nope.safetensors" in capsys.readouterr().err


class Doubler(L.Layer):
    def forward(self, x, training=False):
        return 2 * x


def test_unsupported_layer_is_a_clear_error(tmp_path):
    model = nz.Sequential([nz.Dense(4, 3), Doubler(), nz.Softmax()]).build(seed=0)
    with pytest.raises(ConfigError, match=r"cannot export layer 1, Doubler"):
        export_numpy(model, tmp_path / "p")
    assert not (tmp_path / "p").exists()


def test_cli_never_writes_over_its_model(tmp_path, capsys):
    model = nz.mlp(3, [4], 2).build(seed=0)
    model.save(tmp_path / "m.safetensors")
    before = (tmp_path / "m.safetensors").read_bytes()
    code = main(["export", str(tmp_path / "m.safetensors"), "--format", "onnx", "--out", str(tmp_path / "m.safetensors"),
                 "--force"])
    assert code == 2 and "same file as MODEL" in capsys.readouterr().err
    assert (tmp_path / "m.safetensors").read_bytes() == before
