"""ONNX export: the graph predicts what nnzero predicts, on the whole MNIST test set, in
onnxruntime and in onnx's reference evaluator; plus the graph's contract (opset, dynamic batch,
default-domain operators, metadata) and its errors."""

import json

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
from onnx.reference import ReferenceEvaluator  # noqa: E402

import nnzero as nz  # noqa: E402
from nnzero import layers as L  # noqa: E402
from nnzero import preprocessing as prep  # noqa: E402
from nnzero.errors import ConfigError  # noqa: E402
from nnzero.export.onnx import OPSET, export_onnx, to_onnx  # noqa: E402

NAMES = np.array(["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"])

# Every activation with both dtypes; integer/string classes, dropout and the kinds of
# preprocessing spread so that each of the first four settings meets each other at least once.
CASES = [
    ("relu", "float32", "int", 0.0, "scale"),
    ("relu", "float64", "str", 0.2, "scale"),
    ("leaky_relu", "float32", "str", 0.2, "scale"),
    ("leaky_relu", "float64", "int", 0.0, "binarize"),
    ("tanh", "float32", "int", 0.2, "binarize"),
    ("tanh", "float64", "str", 0.0, "none"),
    ("sigmoid", "float32", "str", 0.0, "standardize"),
    ("sigmoid", "float64", "int", 0.2, "scale"),
]


@pytest.fixture(scope="module")
def mnist_raw():
    """2000 raw training digits and the whole raw test set (10000, 784), pixels 0..255."""
    (X_train, y_train), (X_test, _) = nz.datasets.load_mnist(normalize=False)
    return X_train[:2000].copy(), y_train[:2000].copy(), X_test


def spec_for(kind, X):
    """The preprocessing spec of ``kind``; 'standardize' is fitted to the training rows X."""
    return {"scale": prep.SCALE_255, "binarize": prep.BINARIZE, "none": prep.NONE,
            "standardize": None}[kind] or prep.standardize(X)


def raw_rows(kind, X):
    """Rows as the model takes them: pixels 0..255, or already in [0, 1] for 'none'."""
    return X / 255 if kind == "none" else X


def train_case(case, X, y):
    """A small trained model (784-24-10, one epoch) for one row of CASES, with its preprocessing
    recorded as a model file does."""
    activation, dtype, classes, dropout, kind = case
    model = nz.mlp(784, [24], 10, activation=activation, dropout=dropout, dtype=dtype)
    labels = NAMES[y] if classes == "str" else y
    X = raw_rows(kind, X)
    spec = spec_for(kind, X)
    model.fit(prep.apply(X, spec, dtype), labels, epochs=1, batch_size=64, seed=0, verbose=0)
    model.metadata = {"preprocessing": spec}
    return model


@pytest.fixture(scope="module", params=CASES, ids=lambda c: f"{c[0]}-{c[1]}-{c[2]}-drop{c[3]}-{c[4]}")
def exported(request, mnist_raw, tmp_path_factory):
    """(model, ONNX file, test rows as the graph takes them, nnzero's probabilities and labels)."""
    X_train, y_train, X_test = mnist_raw
    model = train_case(request.param, X_train, y_train)
    rows = raw_rows(request.param[4], X_test).astype(model.dtype)
    inputs = model.check_X(prep.apply(rows, model.metadata["preprocessing"], model.dtype))
    path = tmp_path_factory.mktemp("onnx") / "model.onnx"
    export_onnx(model, path)
    return model, path, rows, model.predict_proba(inputs), model.predict(inputs)


def check_outputs(model, proba, labels, ref_proba, ref_labels):
    assert proba.shape == ref_proba.shape == (10000, 10)
    assert proba.dtype == model.dtype
    assert np.abs(proba - ref_proba).max() <= 1e-5
    assert labels.tolist() == ref_labels.tolist()          # values and their Python types


def test_onnxruntime_matches_nnzero_on_the_mnist_test_set(exported):
    model, path, rows, ref_proba, ref_labels = exported
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    proba, labels = session.run(["probabilities", "label"], {"input": rows})
    check_outputs(model, proba, labels, ref_proba, ref_labels)


# onnx.reference's Sigmoid evaluates exp(x) on both sides of its np.where; the side it discards
# overflows for large |x| (standardised pixels), which warns but changes nothing.
@pytest.mark.filterwarnings("ignore:overflow encountered in exp:RuntimeWarning",
                            "ignore:invalid value encountered in divide:RuntimeWarning")
def test_onnx_reference_evaluator_matches_nnzero_on_the_mnist_test_set(exported):
    # onnx.reference is NumPy underneath; the whole set takes well under a second here.
    model, path, rows, ref_proba, ref_labels = exported
    proba, labels = ReferenceEvaluator(str(path)).run(["probabilities", "label"], {"input": rows})
    check_outputs(model, proba, labels, ref_proba, ref_labels)


def test_graph_contract(exported):
    model, path, rows, ref_proba, ref_labels = exported
    proto = onnx.load(str(path))
    onnx.checker.check_model(proto, full_check=True)
    assert [(o.domain, o.version) for o in proto.opset_import] == [("", OPSET)]
    assert {n.domain for n in proto.graph.node} == {""}
    ops = {n.op_type for n in proto.graph.node}
    assert ops <= {"Mul", "Greater", "Cast", "Sub", "Div", "Gemm", "Relu", "LeakyRelu", "Tanh", "Sigmoid", "Softmax",
                   "ArgMax", "Gather", "Identity"}
    # Dropout leaves no node; one Gemm per Dense layer.
    assert [n.op_type for n in proto.graph.node].count("Gemm") == sum(isinstance(x, L.Dense) for x in model.layers)
    dims = proto.graph.input[0].type.tensor_type.shape.dim
    assert dims[0].dim_param == "N" and dims[1].dim_value == 784
    assert [o.name for o in proto.graph.output] == ["probabilities", "label"]
    props = {p.key: p.value for p in proto.metadata_props}
    assert props["nnzero_version"] == nz.__version__
    assert json.loads(props["classes"]) == model.classes_.tolist()
    assert json.loads(props["preprocessing"]) == model.metadata["preprocessing"]
    assert props["dtype"] == model.dtype.name
    # A dynamic batch: one row works as well as 10000.
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    proba, labels = session.run(["probabilities", "label"], {"input": rows[:1]})
    assert proba.shape == (1, 10) and labels.tolist() == ref_labels[:1].tolist()


@pytest.mark.parametrize("head", [[], [nz.Softmax()]], ids=["linear", "softmax"])
def test_regressor_exports_its_outputs(head, rng):
    # A regressor's outputs are whatever its last layer gives, a final Softmax included.
    X = rng.normal(size=(50, 6))
    model = nz.Sequential([nz.Dense(6, 8), nz.Tanh(), nz.Dense(8, 3), *head], loss="mse", dtype="float64").build(seed=1)
    proto = to_onnx(model)
    assert [o.name for o in proto.graph.output] == ["predictions"]
    (out,) = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, {"input": X})
    np.testing.assert_allclose(out, model.predict(X), rtol=0, atol=1e-12)


def test_export_from_a_model_file_uses_its_preprocessing(tmp_path, mnist_raw):
    X_train, y_train, X_test = mnist_raw
    model = train_case(("relu", "float32", "int", 0.0, "scale"), X_train, y_train)
    model.save(tmp_path / "m.safetensors", preprocessing=prep.SCALE_255)
    export_onnx(tmp_path / "m.safetensors", tmp_path / "m.onnx")
    session = ort.InferenceSession(str(tmp_path / "m.onnx"), providers=["CPUExecutionProvider"])
    _, labels = session.run(["probabilities", "label"], {"input": X_test[:500].astype(np.float32)})
    assert labels.tolist() == model.predict(prep.apply(X_test[:500], prep.SCALE_255)).tolist()


class Doubler(L.Layer):
    """A layer nnzero's exporters do not know."""

    def forward(self, x, training=False):
        return 2 * x


def test_unsupported_layer_is_a_clear_error(tmp_path):
    model = nz.Sequential([nz.Dense(4, 3), Doubler(), nz.Softmax()]).build(seed=0)
    with pytest.raises(ConfigError, match=r"layer 1, Doubler.*supported layers are Dense, Dropout"):
        export_onnx(model, tmp_path / "m.onnx")
    assert not (tmp_path / "m.onnx").exists()


def test_existing_path_needs_force(tmp_path):
    model = nz.mlp(4, [3], 2).build(seed=0)
    target = tmp_path / "m.onnx"
    target.write_bytes(b"keep me")
    with pytest.raises(ConfigError, match="already exists; use --force"):
        export_onnx(model, target)
    assert target.read_bytes() == b"keep me"
    export_onnx(model, target, force=True)
    onnx.checker.check_model(onnx.load(str(target)), full_check=True)


def test_model_without_weights_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="without weights"):
        export_onnx(nz.mlp(4, [3], 2), tmp_path / "m.onnx")


def test_public_name():
    assert nz.export_onnx is export_onnx
