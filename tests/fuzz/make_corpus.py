"""Write the seed corpus of tests/fuzz/corpus/<target>/: small valid files of each format and
hostile variants like those the tests build (lying headers, truncation, odd dtypes). Run it
again only to change the seeds; the files are committed."""

import gzip
import io
import shutil
import struct
import zipfile
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent / "corpus"


def npy(arr):
    buf = io.BytesIO()
    np.save(buf, arr, allow_pickle=False)
    return buf.getvalue()


def npy_header(descr, shape, fortran=False):
    header = repr({"descr": descr, "fortran_order": fortran, "shape": shape}).encode()
    header += b" " * (63 - (10 + len(header)) % 64) + b"\n"
    return b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header


def npz(arrays, method=zipfile.ZIP_DEFLATED):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", method) as zf:
        for name, blob in arrays.items():
            zf.writestr(name + ".npy", blob if isinstance(blob, bytes) else npy(blob))
    return buf.getvalue()


def idx(arr, code):
    return bytes([0, 0, code, arr.ndim]) + struct.pack(f">{arr.ndim}I", *arr.shape) + arr.tobytes()


def main():
    rng = np.random.default_rng(0)
    X = rng.integers(0, 256, (4, 3, 3)).astype(np.uint8)
    y = np.arange(4, dtype=np.uint8)
    seeds = {
        "idx": {
            "images": idx(X, 0x08), "labels": idx(y, 0x08), "images.gz": gzip.compress(idx(X, 0x08), mtime=0),
            "float32": idx(rng.normal(size=(2, 3)).astype(">f4"), 0x0D), "int16": idx(np.arange(6, dtype=">i2"), 0x0B),
            "truncated": idx(X, 0x08)[:-5], "trailing": idx(X, 0x08) + b"\0",
            "bad_magic": b"\x01\x02\x08\x01" + bytes(8), "lying": b"\x00\x00\x08\x02" + struct.pack(">II", 60000, 784),
        },
        "npy": {
            "float32": npy(rng.normal(size=(3, 2)).astype(np.float32)), "uint8": npy(X),
            "int64": npy(np.arange(6).reshape(2, 3)), "labels": npy(np.array(["a", "bb", "a"])),
            "fortran": npy(np.asfortranarray(rng.normal(size=(3, 2)))), "nan": npy(np.array([[np.nan, 1.0]])),
            "lying": npy_header("<f8", (10**6, 10**6)) + bytes(16), "object": npy_header("|O", (2,)) + bytes(16),
            "big_endian": npy(np.arange(4, dtype=">f4").reshape(2, 2)),
        },
        "npz": {
            "xy": npz({"X": X.reshape(4, -1), "y": y}), "x_only": npz({"X": X.reshape(4, -1)}),
            "keras": npz({"x_train": X, "y_train": y, "x_test": X, "y_test": y}),
            "stored": npz({"X": X.reshape(4, -1), "y": y}, zipfile.ZIP_STORED),
            "lying": npz({"X": npy_header("<f8", (10**6, 10**6)) + bytes(16)}),
            "mismatch": npz({"X": X.reshape(4, -1), "y": np.arange(3)}),
        },
        "csv": {
            "kaggle": b"label,pixel0,pixel1,pixel2\n1,0,255,3\n0,7,8,9\n", "headerless": b"1,2,3\n4,5,6\n",
            "floats": b"a,label,b\n0.5,1,2e3\n-1.25,0,3\n", "names": b"x,y,species\n5.1,3.5,setosa\n4.9,3.0,virginica\n",
            "blank": b"label,p\n\n3,1\n\n4,2\n", "quoted": b'"label","p"\n"3","1"\n', "bom": b"\xef\xbb\xbflabel,p\n3,1.5\n",
            "ragged": b"label,p0,p1\n1,2\n3,4,5\n", "big": b"label,a\n16777217,1e39\n2147483647,1\n",
            "crlf": b"label,p0\r\n1,2\r\n", "semicolon": b"label;p\n3;1\n",
        },
        "model": {},
        "image": {},
    }
    from nnzero import Dense, ReLU, Sequential, Softmax, serialization

    model = Sequential([Dense(4, 3), ReLU(), Dense(3, 2), Softmax()]).build(seed=0)
    Xf = rng.normal(size=(20, 4)).astype(np.float32)
    model.fit(Xf, (Xf[:, 0] > 0).astype(int), epochs=1, batch_size=8, seed=0)
    tmp = HERE.parent / "_tmp"
    tmp.mkdir(exist_ok=True)
    serialization.save(model, tmp / "m.safetensors")
    serialization.save_checkpoint(tmp / "c.safetensors", model)
    m, c = (tmp / "m.safetensors").read_bytes(), (tmp / "c.safetensors").read_bytes()
    shutil.rmtree(tmp)
    seeds["model"] = {"model": m, "checkpoint": c, "truncated": m[:-7], "header_only": m[:m.index(b"}}") + 2]}
    try:
        from PIL import Image
    except ImportError:
        Image = None
    if Image is not None:
        digit = np.zeros((12, 10), np.uint8)
        digit[2:10, 4:6] = 255
        for name, img, fmt in (("png", Image.fromarray(digit), "PNG"), ("jpeg", Image.fromarray(digit), "JPEG"),
                               ("gif", Image.fromarray(digit).convert("P"), "GIF"),
                               ("rgba", Image.fromarray(np.dstack([digit] * 4)), "PNG"),
                               ("tiff_float", Image.fromarray(digit.astype(np.float32) / 255, mode="F"), "TIFF"),
                               ("bmp", Image.fromarray(digit), "BMP")):
            buf = io.BytesIO()
            img.save(buf, format=fmt)
            seeds["image"][name] = buf.getvalue()
    for target, files in seeds.items():
        folder = HERE / target
        folder.mkdir(parents=True, exist_ok=True)
        for name, blob in files.items():
            (folder / name).write_bytes(blob)


if __name__ == "__main__":
    main()
