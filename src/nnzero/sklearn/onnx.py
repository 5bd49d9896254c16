"""skl2onnx converters for nnzero's estimators, so a whole Pipeline converts with skl2onnx.

    import nnzero.sklearn.onnx                     # registers the converters (needs skl2onnx)
    pipe = make_pipeline(StandardScaler(), MLPClassifier()).fit(X, y)
    onx = skl2onnx.to_onnx(pipe, X[:1].astype(np.float32), options={MLPClassifier: {"zipmap": False}})

The network becomes the same operators as :func:`nnzero.export_onnx` writes (Gemm, the
activations, Softmax, ArgMax, Gather); the classifier's outputs are skl2onnx's usual ``label``
and ``probabilities`` (a ZipMap of them unless ``zipmap=False``; ``nocl=True``: labels as class
indices), the regressor's
``variable`` (N, n_outputs). Input of another float type than the model's is cast on the way in
(and the outputs back).
"""

import numpy as np

try:
    from skl2onnx import update_registered_converter
    from skl2onnx.common.data_types import DoubleTensorType, FloatTensorType
    from skl2onnx.common.shape_calculator import calculate_linear_classifier_output_shapes
except ImportError:  # pragma: no cover - depends on the environment
    raise ImportError("converting a pipeline needs skl2onnx: pip install 'nnzero[onnx]' skl2onnx") from None

from ..export.onnx import Graph, elem_type, emit_network
from . import MLPClassifier, MLPRegressor

__all__ = ["register"]


class _ContainerGraph(Graph):
    """The :class:`~nnzero.export.onnx.Graph` interface on skl2onnx's scope and container."""

    def __init__(self, scope, container):
        super().__init__()
        self.scope, self.container = scope, container

    def name(self, hint):
        return self.scope.get_unique_variable_name(hint)

    def const(self, hint, array):
        from onnx import numpy_helper

        array, name = np.asarray(array), self.name(hint)
        if array.dtype.kind in "UO":   # string tensors keep their values outside raw_data
            values = [str(v).encode("utf-8") for v in array.ravel()]
            self.container.add_initializer(name, elem_type(array.dtype), list(array.shape), values)
        else:
            self.container.add_initializer(name, None, None, numpy_helper.from_array(array, name))
        return name

    def op(self, op_type, inputs, hint, out=None, **attrs):
        out = out or self.name(hint)
        self.container.add_node(op_type, list(inputs), [out], name=self.scope.get_unique_operator_name(hint), **attrs)
        return out


def _cast_in(g, operator, model):
    """The input, cast to the model's float type if the pipeline delivers another."""
    x = operator.inputs[0].full_name
    if operator.inputs[0].type.to_onnx_type().tensor_type.elem_type != elem_type(model.dtype):
        x = g.op("Cast", [x], "cast_input", to=elem_type(model.dtype))
    return x


def _output(g, model, variable, hint):
    """(name to write, finish): write under ``hint`` and cast into ``variable`` if types differ."""
    want = variable.type.to_onnx_type().tensor_type.elem_type
    if want == elem_type(model.dtype):
        return variable.full_name, lambda: None
    tmp = g.name(hint)
    return tmp, lambda: g.op("Cast", [tmp], hint + "_cast", out=variable.full_name, to=want)


def _convert_classifier(scope, operator, container):
    est = operator.raw_operator
    model, g = est.model_, _ContainerGraph(scope, container)
    classes = np.asarray(est.classes_)
    if container.get_options(est, dict(nocl=False))["nocl"]:     # labels as class indices
        classes = np.arange(len(classes))
    # skl2onnx declares the label int64 for numeric classes and string otherwise.
    classes = classes.astype(np.int64) if classes.dtype.kind in "iub" else classes.astype(str)
    probs, finish = _output(g, model, operator.outputs[1], "probabilities")
    emit_network(g, model, _cast_in(g, operator, model), outputs={"label": operator.outputs[0].full_name,
                                                                  "probabilities": probs}, classes=classes)
    finish()


def _regressor_shape(operator):
    inp = operator.inputs[0].type
    cls = inp.__class__ if isinstance(inp, (FloatTensorType, DoubleTensorType)) else FloatTensorType
    operator.outputs[0].type = cls([operator.inputs[0].get_first_dimension(), operator.raw_operator.n_outputs_])


def _convert_regressor(scope, operator, container):
    model, g = operator.raw_operator.model_, _ContainerGraph(scope, container)
    out, finish = _output(g, model, operator.outputs[0], "predictions")
    emit_network(g, model, _cast_in(g, operator, model), outputs={"predictions": out})
    finish()


def register():
    """Register (again) the converters of MLPClassifier and MLPRegressor with skl2onnx."""
    update_registered_converter(MLPClassifier, "NnzeroMLPClassifier", calculate_linear_classifier_output_shapes,
                                _convert_classifier, options={"zipmap": [True, False, "columns"], "nocl": [True, False]})
    update_registered_converter(MLPRegressor, "NnzeroMLPRegressor", _regressor_shape, _convert_regressor)


register()
