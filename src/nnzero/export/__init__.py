"""Use an nnzero model elsewhere: an ONNX file (:mod:`.onnx`) or a stand-alone NumPy predictor
(:mod:`.numpy_predictor`). Both take a Sequential or a model-file path.

    nz.export_onnx(model, "model.onnx")
    nnzero.export.export_numpy(model, "predictor/")    # predictor/predict.py + weights.npz
"""

from .numpy_predictor import export_numpy
from .onnx import export_onnx, to_onnx

__all__ = ["export_numpy", "export_onnx", "to_onnx"]
