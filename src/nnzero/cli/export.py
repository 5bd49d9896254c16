"""``nnzero export``: a model file as ONNX, or as a stand-alone NumPy predictor."""

import argparse
from pathlib import Path

from ..serialization import load

DESCRIPTION = """\
Export a model file for use where nnzero is not installed.

--format onnx     one .onnx file (needs: pip install 'nnzero[onnx]'): input 'input' (N, features)
                  of the model's float type, outputs 'probabilities' (N, classes) and 'label' (N,)
                  in the model's own classes; the model's preprocessing is part of the graph.
                  onnxruntime runs it (C, C++, C#, Java, JavaScript, phones); Netron draws it.
--format numpy    a folder with predict.py (the forward pass written out, NumPy only) and
                  weights.npz; 'import predict; predict.predict(X)' or 'python predict.py rows.npy'.

Both take raw rows, as 'nnzero predict' does. Dropout layers are dropped (inference). An existing
--out is refused unless --force."""

EPILOG = """\
examples:
  nnzero export model.safetensors --format onnx --out model.onnx
  nnzero export model.safetensors --format numpy --out predictor/
  python predictor/predict.py rows.npy"""


def add_parser(subparsers):
    p = subparsers.add_parser("export", help="write a model as ONNX or as a stand-alone NumPy predictor",
                              description=DESCRIPTION, epilog=EPILOG,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model", metavar="MODEL", help="a .safetensors model file")
    p.add_argument("--format", choices=["onnx", "numpy"], required=True, help="onnx or numpy")
    p.add_argument("--out", metavar="PATH",
                   help="the .onnx file or the predictor's folder (default: next to MODEL, "
                        "MODEL.onnx or MODEL-numpy/)")
    p.add_argument("--force", action="store_true", help="replace an existing --out")
    return p


def run(args):
    from ..export.common import check_target

    stem = Path(args.model).with_suffix("")
    out = Path(args.out or (f"{stem}.onnx" if args.format == "onnx" else f"{stem}-numpy"))
    # Checked before the model is read: a refused --out costs nothing.
    check_target(out, args.force, "file" if args.format == "onnx" else "folder", inputs=[("MODEL", args.model)])
    model = load(args.model)
    if args.format == "onnx":
        from ..export.onnx import export_onnx

        export_onnx(model, out, force=True)
        print(f"wrote {out} (ONNX; outputs: {'probabilities, label' if model.is_classifier else 'predictions'})")
    else:
        from ..export.numpy_predictor import export_numpy

        script = export_numpy(model, out, force=True)
        print(f"wrote {script} and {out / 'weights.npz'} (NumPy only: python {script} rows.npy)")
    return 0
