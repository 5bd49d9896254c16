"""ONNX export: an nnzero model as a graph of default-domain ONNX operators.

    nz.export_onnx(model, "model.onnx")        # or: nnzero export model.safetensors --format onnx

The graph (opset :data:`OPSET`), for input ``input`` (N, d) of the model's float type, N dynamic:

    preprocessing   scale: Mul(x, factor)        binarize: Cast(Greater(x, threshold))
                    standardize: Div(Sub(x, mean), std)
    Dense           Gemm(x, W, b)                 Z = X·W + b;  X (N, d_in), W (d_in, d_out)
    activations     Relu, LeakyRelu(alpha), Tanh, Sigmoid
    Dropout         nothing: the identity at inference
    Softmax         Softmax(axis=1)

A classifier has two outputs: ``probabilities`` (N, C) = Softmax(logits) and ``label`` (N,) =
Gather(classes, ArgMax(logits)), in the model's own classes (integers, floats, booleans or
strings). A regressor has one, ``predictions`` (N, k). The model's description (nnzero version,
classes, preprocessing, dtype, architecture) goes into the metadata props as JSON strings.
"""

import json
from pathlib import Path

import numpy as np

from .. import layers as L
from .. import preprocessing as prep
from .._version import __version__
from ..errors import ConfigError
from .common import check_exportable, check_target, load_model, logit_layers, missing_extra, model_preprocessing

#: The ONNX opset the graph declares, and the IR version that goes with it (old runtimes read it).
OPSET = 17
IR_VERSION = 8
ACTIVATION_OPS = {L.ReLU: "Relu", L.LeakyReLU: "LeakyRelu", L.Tanh: "Tanh", L.Sigmoid: "Sigmoid"}


def _onnx():
    try:
        import onnx
    except ImportError:
        raise missing_extra("ONNX export", "onnx") from None
    return onnx


class Graph:
    """Nodes and initializers under construction, with names unique in the graph."""

    def __init__(self):
        self.nodes, self.initializers, self._used = [], [], set()

    def name(self, hint):
        name, k = hint, 0
        while name in self._used:
            k += 1
            name = f"{hint}_{k}"
        self._used.add(name)
        return name

    def const(self, hint, array):
        from onnx import numpy_helper

        name = self.name(hint)
        self.initializers.append(numpy_helper.from_array(np.asarray(array), name))
        return name

    def op(self, op_type, inputs, hint, out=None, **attrs):
        """Add one node; returns the name of its (single) output, ``out`` if given."""
        from onnx import helper

        out = out or self.name(hint)
        self.nodes.append(helper.make_node(op_type, list(inputs), [out], name=self.name(hint + "_op"), **attrs))
        return out


def elem_type(dtype):
    """The ONNX element type of a NumPy dtype (float32 → FLOAT, '<U5' → STRING, ...)."""
    from onnx import helper

    dtype = np.dtype(dtype)
    if dtype.kind in "UO":
        return _onnx().TensorProto.STRING
    return helper.np_dtype_to_tensor_dtype(dtype)


def emit_network(g, model, x, spec=None, outputs=None, classes=None):
    """Append the preprocessing and the layers of ``model`` to graph ``g``, reading tensor ``x``.

    ``outputs``: names for ``probabilities``/``label`` (classifier) or ``predictions``
    (regressor); ``classes``: the label values (default ``model.classes_``, else 0..C−1).
    Returns ``outputs``.
    """
    check_exportable(model)
    dtype = model.dtype
    spec = prep.check(spec or prep.NONE)
    if spec["kind"] == "scale":
        x = g.op("Mul", [x, g.const("scale_factor", np.array(spec["factor"], dtype))], "preprocess_scale")
    elif spec["kind"] == "binarize":
        above = g.op("Greater", [x, g.const("threshold", np.array(spec["threshold"], dtype))], "preprocess_greater")
        x = g.op("Cast", [above], "preprocess_binarize", to=elem_type(dtype))
    elif spec["kind"] == "standardize":
        x = g.op("Sub", [x, g.const("mean", np.asarray(spec["mean"], dtype))], "preprocess_center")
        x = g.op("Div", [x, g.const("std", np.asarray(spec["std"], dtype))], "preprocess_standardize")
    stack = logit_layers(model)
    for i, layer in enumerate(stack):
        if isinstance(layer, L.Dense):
            W, b = g.const(f"dense{i}_W", layer.params["W"]), g.const(f"dense{i}_b", layer.params["b"])
            x = g.op("Gemm", [x, W, b], f"dense{i}")                 # (N, d_in)·(d_in, d_out) + b
        elif isinstance(layer, L.LeakyReLU):
            x = g.op("LeakyRelu", [x], f"leaky_relu{i}", alpha=layer.alpha)
        elif type(layer) in ACTIVATION_OPS:
            op = ACTIVATION_OPS[type(layer)]
            x = g.op(op, [x], f"{op.lower()}{i}")
        elif isinstance(layer, L.Softmax):
            x = g.op("Softmax", [x], f"softmax{i}", axis=1)
        # Dropout: the identity at inference, no node.
    outputs = dict(outputs or {})
    if not model.is_classifier:
        g.op("Identity", [x], "predictions", out=outputs.setdefault("predictions", g.name("predictions")))
        return outputs
    if classes is None:
        classes = model.classes_ if model.classes_ is not None else np.arange(model.n_outputs)
    g.op("Softmax", [x], "softmax", out=outputs.setdefault("probabilities", g.name("probabilities")), axis=1)
    index = g.op("ArgMax", [x], "argmax", axis=1, keepdims=0)     # first maximum, as np.argmax
    g.op("Gather", [g.const("classes", np.asarray(classes)), index], "label",
         out=outputs.setdefault("label", g.name("label")), axis=0)
    return outputs


def metadata(model, spec):
    """The model's description as ONNX metadata props (strings)."""
    classes = None if model.classes_ is None else np.asarray(model.classes_).tolist()
    return {"nnzero_version": __version__, "classes": json.dumps(classes),
            "preprocessing": json.dumps(spec), "dtype": model.dtype.name,
            "architecture": json.dumps(model.config())}


def to_onnx(model, preprocessing=None):
    """The ONNX ModelProto of ``model`` (a Sequential or a model-file path); checked with
    ``onnx.checker`` (full check, shapes inferred). ``preprocessing`` defaults to the model file's."""
    onnx = _onnx()
    from onnx import helper

    model = load_model(model)
    spec = model_preprocessing(model) if preprocessing is None else preprocessing
    g = Graph()
    x = g.name("input")
    outputs = emit_network(g, model, x, spec)
    n, dt = "N", elem_type(model.dtype)
    if model.is_classifier:
        out_info = [helper.make_tensor_value_info(outputs["probabilities"], dt, [n, model.n_outputs]),
                    helper.make_tensor_value_info(outputs["label"], elem_type(np.asarray(
                        model.classes_ if model.classes_ is not None else np.arange(1)).dtype), [n])]
    else:
        out_info = [helper.make_tensor_value_info(outputs["predictions"], dt, [n, model.n_outputs])]
    graph = helper.make_graph(g.nodes, "nnzero", [helper.make_tensor_value_info(x, dt, [n, model.n_features])],
                              out_info, initializer=g.initializers,
                              doc_string=f"nnzero {type(model).__name__}: {_layers_text(model)}")
    proto = helper.make_model(graph, producer_name="nnzero", opset_imports=[helper.make_opsetid("", OPSET)],
                              ir_version=IR_VERSION)
    proto.producer_version = __version__
    helper.set_model_props(proto, metadata(model, spec))
    onnx.checker.check_model(proto, full_check=True)
    return proto


def _layers_text(model):
    return " -> ".join(f"{type(layer).__name__}" + (f"({layer.n_in}, {layer.n_out})" if isinstance(layer, L.Dense) else "")
                       for layer in model.layers)


def export_onnx(model, path, *, preprocessing=None, force=False):
    """Write ``model`` (a Sequential or a model-file path) as an ONNX file at ``path``.

    Refuses to replace an existing ``path`` unless ``force``. Returns the ModelProto.
    """
    from .._atomic import atomic_write

    source = [("MODEL", model)] if isinstance(model, (str, Path)) else []
    path = check_target(path, force, kind="file", inputs=source)
    proto = to_onnx(model, preprocessing)
    with atomic_write(path) as f:
        f.write(proto.SerializeToString())
    return proto
