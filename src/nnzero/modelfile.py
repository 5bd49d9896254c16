"""The model-file format, and reading it without trusting it.

A file is plain safetensors, so other tools read the weights directly
(``safetensors.torch.load_file(path)`` → ``{"0.W": tensor (784, 512), "0.b": ..., ...}``)::

    N (u64, little-endian) | N bytes of JSON header | tensor bytes
    header = {"__metadata__": {"nnzero": "<JSON document>"},
              "0.W": {"dtype": "F32", "shape": [784, 512], "data_offsets": [0, 1605632]}, ...}

The nnzero document holds ``format_version``, ``kind`` ("model" or "checkpoint"), ``model``
(``Sequential.config()``), ``classes`` ({"dtype", "values"}: labels come back with the same
NumPy dtype), ``preprocessing``, ``training`` settings, ``seed``, ``versions``, ``dataset``
({"name", "sha256", ...}), ``history``, ``notes`` and ``tensors_sha256``: the SHA-256 (hex) of the
tensor bytes, everything after the header, so a flipped bit in the weights is caught at load
(files written before it existed have none and load as before). A checkpoint adds ``checkpoint`` (epoch,
total epochs, batch size, optimizer name/config/step count, the PCG64 state of the training
stream as decimal strings, early-stopping settings) and the tensors ``optimizer.<slot>.<param>``
(the slots fit's engine keeps for the optimizer, ``engine.saved_slots``: Adam's m_sum and v_sum, SGD's velocity) and ``early_stopping.<param>`` (the best weights so far).

Reading checks before it allocates: the file size, the header length, the JSON (no NaN, no
duplicate keys), each tensor's dtype, shape and byte range (they must tile the data exactly),
and the document against the architecture. Any problem is a ModelFileError naming the file.
"""

import hashlib
import json
import math
import os
import re

import numpy as np

from . import budget, engine, optimizers, preprocessing
from .callbacks import HISTORY_KEYS
from .errors import ModelFileError, NnzeroError, is_int
from .safety import check_input

FORMAT_VERSION = 1
MAX_FILE_BYTES = 4 << 30        # refuse anything larger before reading it
MAX_HEADER_BYTES = 100 << 20    # the same cap safetensors itself applies
TENSOR_DTYPES = {"F32": np.dtype("<f4"), "F64": np.dtype("<f8")}
MODEL_DTYPES = {"float32": "F32", "float64": "F64"}
# Metadata a caller may pass to save(); everything else in the document is derived.
USER_KEYS = ("preprocessing", "training", "dataset", "seed", "history", "notes")
DOC_KEYS = {"format_version", "kind", "model", "classes", "versions", "checkpoint", "tensors_sha256", *USER_KEYS}
SHA256_HEX = re.compile(r"[0-9a-f]{64}")
CLASS_DTYPE = re.compile(r"[<>|=]?(?:[iu][1248]|f[48]|b1|U[0-9]{1,4})")


def checked(factory, path, what, *args, **kwargs):
    """``factory(*args, **kwargs)``, with any error it raises about its input → ModelFileError."""
    try:
        return factory(*args, **kwargs)
    except (NnzeroError, TypeError, ValueError, OverflowError) as exc:
        raise ModelFileError(f"{path}: invalid {what} in the metadata: {exc}") from None


def read_bytes(path):
    """The whole file, refused above MAX_FILE_BYTES before it is read."""
    check_input(path, error=ModelFileError)      # a FIFO would block, a device never ends
    try:
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            if size > MAX_FILE_BYTES:
                raise ModelFileError(f"{path}: {size} bytes is larger than the {MAX_FILE_BYTES}-byte "
                                     "limit for model files")
            try:
                budget.check(size, f"{path}: the model file")
            except NnzeroError as exc:
                raise ModelFileError(str(exc)) from None
            data = f.read(size + 1)
    except FileNotFoundError:
        raise ModelFileError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise ModelFileError(f"{path}: is a directory, not a model file") from None
    except OSError as exc:
        raise ModelFileError(f"{path}: cannot read: {exc.strerror or exc}") from None
    if len(data) != size:
        raise ModelFileError(f"{path}: the file changed size while being read")
    return data


def strict_json(text, path, what):
    """json.loads that refuses NaN/Infinity and duplicate keys, and survives hostile nesting."""
    def reject(constant):
        raise ValueError(f"{constant} is not allowed")

    def unique(pairs):
        out = {}
        for key, value in pairs:
            if key in out:
                raise ValueError(f"duplicate key {key!r}")
            out[key] = value
        return out

    try:
        return json.loads(text, parse_constant=reject, object_pairs_hook=unique)
    except (ValueError, RecursionError) as exc:
        raise ModelFileError(f"{path}: {what} is not valid JSON ({str(exc)[:200]})") from None


def parse_header(data, path):
    """→ ({name: (dtype, shape, (begin, end))}, nnzero document, offset of the tensor bytes)."""
    if len(data) < 8:
        raise ModelFileError(f"{path}: only {len(data)} bytes; not an nnzero model file (truncated?)")
    n = int.from_bytes(data[:8], "little")
    if (n > MAX_HEADER_BYTES or 8 + n > len(data)) and data[8:9] != b"{":
        # safetensors: 8 bytes of header length, then the JSON header. Anything else (a .npy, a
        # CSV, a PyTorch .pt) is named as what it is not, not by the number its bytes happen to make.
        raise ModelFileError(f"{path}: not an nnzero model file (a model file is safetensors, whose "
                             f"JSON header starts at byte 8; this file starts with {bytes(data[:12])!r})")
    if n > MAX_HEADER_BYTES or 8 + n > len(data):
        raise ModelFileError(f"{path}: header length {n} does not fit the {len(data)}-byte file "
                             "(truncated, or not a safetensors file)")
    try:
        text = data[8:8 + n].decode("utf-8")
    except UnicodeDecodeError:
        raise ModelFileError(f"{path}: header is not UTF-8 text; not a safetensors file") from None
    header = strict_json(text, path, "the safetensors header")
    if not isinstance(header, dict):
        raise ModelFileError(f"{path}: safetensors header must be a JSON object")
    meta = header.pop("__metadata__", None)
    if not isinstance(meta, dict) or not isinstance(meta.get("nnzero"), str):
        raise ModelFileError(f"{path}: no nnzero metadata: not an nnzero model file (a safetensors file "
                             "written by another tool?)")
    doc = check_document(strict_json(meta["nnzero"], path, "the nnzero metadata"), path)
    entries, spans = {}, []
    for name, e in header.items():
        if not isinstance(e, dict) or set(e) != {"dtype", "shape", "data_offsets"}:
            raise ModelFileError(f"{path}: tensor {name!r} must have exactly dtype, shape, data_offsets")
        dtype, shape, offsets = e["dtype"], e["shape"], e["data_offsets"]
        if dtype not in TENSOR_DTYPES:
            raise ModelFileError(f"{path}: tensor {name!r} has dtype {dtype!r}; expected one of {list(TENSOR_DTYPES)}")
        if not isinstance(shape, list) or len(shape) > 8 or not all(is_int(d, 0) for d in shape):
            raise ModelFileError(f"{path}: tensor {name!r} has invalid shape {str(shape)[:80]}")
        if not (isinstance(offsets, list) and len(offsets) == 2 and all(is_int(o, 0) for o in offsets)
                and offsets[0] <= offsets[1]):
            raise ModelFileError(f"{path}: tensor {name!r} has invalid data_offsets {str(offsets)[:80]}")
        nbytes = int(np.prod(shape, dtype=object)) * TENSOR_DTYPES[dtype].itemsize
        if offsets[1] - offsets[0] != nbytes:
            raise ModelFileError(f"{path}: tensor {name!r} spans {offsets[1] - offsets[0]} bytes but "
                                 f"{dtype} {shape} needs {nbytes}")
        entries[name] = (dtype, tuple(shape), tuple(offsets))
        spans.append(tuple(offsets))
    # The tensors must tile the data section exactly: no gaps, overlaps or trailing bytes.
    size, pos = len(data) - 8 - n, 0
    for begin, end in sorted(spans):
        if begin != pos:
            raise ModelFileError(f"{path}: tensor data {'overlaps' if begin < pos else 'has a gap'} "
                                 f"at byte {begin}; the file is corrupted")
        pos = end
    if pos != size:
        raise ModelFileError(f"{path}: tensors need {pos} bytes of data but the file has {size} "
                             f"({'truncated' if pos > size else 'trailing bytes'})")
    return entries, doc, 8 + n


def tensor_digest(data, start):
    """SHA-256 (hex) of the tensor bytes: ``data[start:]``, everything after the header."""
    return hashlib.sha256(memoryview(data)[start:]).hexdigest()


def check_digest(expected, data, start, path):
    """A ModelFileError if the tensor bytes do not hash to ``expected`` (None: nothing recorded)."""
    if expected is None:
        return
    actual = tensor_digest(data, start)
    if actual != expected:
        raise ModelFileError(f"{path}: the tensor data do not match their SHA-256 recorded in the file "
                             f"(recorded {expected[:16]}…, computed {actual[:16]}…): the file is corrupted")


def expected_tensors(model, doc, optimizer=None):
    """{name: (dtype, shape)} implied by the architecture (and, for a checkpoint, the state
    slots fit keeps for its ``optimizer``), computed before any weight is allocated."""
    dtype = MODEL_DTYPES[model.dtype.name]
    params = model.parameter_shapes()          # as the layers declare them
    expected = {k: (dtype, s) for k, s in params.items()}
    ckpt = doc.get("checkpoint")
    if doc["kind"] == "checkpoint":
        spec = ckpt["optimizer"]
        slots = engine.saved_slots(optimizer)
        if spec["t"] > 0:          # slots are created at the first step, for every parameter
            expected.update({f"optimizer.{s}.{k}": (dtype, sh) for s in slots for k, sh in params.items()})
        es = ckpt["early_stopping"]
        if es is not None and es["best_epoch"] is not None:
            expected.update({f"early_stopping.{k}": (dtype, sh) for k, sh in params.items()})
    return expected


def decode_classes(spec, model, path):
    values = spec["values"]
    kind = np.dtype(spec["dtype"]).kind
    ok_type = {"i": int, "u": int, "f": (int, float), "b": bool, "U": str}[kind]
    if not all(isinstance(v, ok_type) and (kind == "b" or not isinstance(v, bool)) for v in values):
        raise ModelFileError(f"{path}: class labels {values[:5]} do not match their dtype {spec['dtype']}")
    try:
        classes = np.array(values, dtype=spec["dtype"])
    except (ValueError, OverflowError, TypeError):
        classes = None
    if classes is None or classes.tolist() != values:
        raise ModelFileError(f"{path}: class labels {values[:5]} do not fit their dtype {spec['dtype']}")
    if len(classes) != model.n_outputs:
        raise ModelFileError(f"{path}: {len(classes)} class labels for a model with {model.n_outputs} outputs")
    if len(classes) > 1 and not (classes[1:] > classes[:-1]).all():
        raise ModelFileError(f"{path}: class labels must be sorted and distinct, got {values[:10]}")
    return classes


def check_document(doc, path):
    """Structure and value checks of the nnzero document; returns it."""
    def bad(msg):
        raise ModelFileError(f"{path}: {msg}")

    if not isinstance(doc, dict):
        bad("the nnzero metadata must be a JSON object")
    version = doc.get("format_version")
    if not is_int(version, 1):
        bad(f"format_version must be a positive integer, got {version!r}")
    if version > FORMAT_VERSION:
        bad(f"format version {version} was written by a newer nnzero; this one reads up to {FORMAT_VERSION}")
    unknown = set(doc) - DOC_KEYS
    if unknown:
        bad(f"unknown metadata keys {sorted(unknown)[:5]}")
    missing = {"kind", "model", "classes", "history"} - set(doc)
    if missing:
        bad(f"metadata lacks {sorted(missing)}")
    for key in ("preprocessing", "training", "dataset", "seed", "versions", "notes", "checkpoint", "tensors_sha256"):
        doc.setdefault(key, None)
    digest = doc["tensors_sha256"]
    if digest is not None and not (isinstance(digest, str) and SHA256_HEX.fullmatch(digest)):
        bad(f"tensors_sha256 must be 64 lowercase hex digits, got {str(digest)[:80]!r}")
    check_numbers(doc, bad)
    if doc["kind"] not in ("model", "checkpoint"):
        bad(f"kind must be 'model' or 'checkpoint', got {doc['kind']!r}")
    model = doc["model"]
    if not (isinstance(model, dict) and isinstance(model.get("layers"), list) and 0 < len(model["layers"]) <= 10000
            and all(isinstance(s, dict) and set(s) <= {"type", "config"} for s in model["layers"])
            and isinstance(model.get("dtype", "float32"), str) and model.get("dtype", "float32") in MODEL_DTYPES
            and set(model) <= {"layers", "loss", "dtype"}):
        bad("model architecture must be {layers: [{type, config}, ...], loss, dtype float32|float64}")
    classes = doc["classes"]
    if classes is not None and not (isinstance(classes, dict) and set(classes) == {"dtype", "values"}
                                    and isinstance(classes["dtype"], str) and CLASS_DTYPE.fullmatch(classes["dtype"])
                                    and isinstance(classes["values"], list)):
        bad("classes must be {dtype: <integer, float, bool or string dtype>, values: [...]}")
    for key in ("training", "dataset", "notes", "versions"):
        if doc[key] is not None and not isinstance(doc[key], dict):
            bad(f"{key} must be a JSON object, got {type(doc[key]).__name__}")
    if doc["preprocessing"] is not None:
        checked(preprocessing.check, path, "preprocessing", doc["preprocessing"])
    if doc["seed"] is not None and not is_int(doc["seed"], 0):
        bad(f"seed must be a non-negative integer, got {doc['seed']!r}")
    check_history(doc["history"], bad)
    if (doc["kind"] == "checkpoint") != (doc["checkpoint"] is not None):
        bad("only a checkpoint has (and must have) checkpoint state")
    if doc["checkpoint"] is not None:
        check_checkpoint(doc, bad)
    return doc


def check_numbers(doc, bad):
    """Every number in the document is a finite float or an integer within int64 (JSON allows
    1e400, which Python reads as inf, and 400-digit integers, which overflow a float)."""
    stack = [("", doc)]
    while stack:
        where, value = stack.pop()
        if isinstance(value, dict):
            stack.extend((f"{where}.{k}" if where else str(k), v) for k, v in value.items())
        elif isinstance(value, list):
            stack.extend((f"{where}[{i}]", v) for i, v in enumerate(value))
        elif isinstance(value, float) and not math.isfinite(value):
            bad(f"{where} is {value}; expected a finite number")
        elif isinstance(value, int) and not isinstance(value, bool) and not -2**63 <= value < 2**64:
            bad(f"{where} is a {len(str(abs(value)))}-digit integer; expected one within 64 bits")


def check_history(h, bad):
    if h is None:
        return
    if not isinstance(h, dict) or not set(h) <= {"epoch", "diagnostics", "seed", *HISTORY_KEYS}:
        bad("history must be an object with keys epoch, " + ", ".join(HISTORY_KEYS))
    epochs = h.get("epoch", [])
    if not isinstance(epochs, list) or not all(is_int(e, 0) for e in epochs):
        bad("history epoch must be a list of non-negative integers")
    for key in HISTORY_KEYS:
        vals = h.get(key, [])
        if not (isinstance(vals, list) and len(vals) == len(epochs)
                and all(v is None or (isinstance(v, (int, float)) and not isinstance(v, bool)) for v in vals)):
            bad(f"history {key!r} must be a list of {len(epochs)} numbers or nulls")
    if not isinstance(h.get("diagnostics", []), list) or not (h.get("seed") is None or is_int(h["seed"], 0)):
        bad("history diagnostics must be a list and its seed a non-negative integer")


def check_checkpoint(doc, bad):
    c = doc["checkpoint"]
    if not isinstance(c, dict) or set(c) != {"epoch", "epochs", "batch_size", "optimizer", "rng_state", "early_stopping"}:
        bad("checkpoint must have epoch, epochs, batch_size, optimizer, rng_state, early_stopping")
    if not (is_int(c["epochs"], 1) and is_int(c["epoch"], 0) and c["epoch"] <= c["epochs"]):
        bad(f"checkpoint epoch {c['epoch']!r} of {c['epochs']!r} is invalid")
    if not (c["batch_size"] is None or is_int(c["batch_size"], 1)):
        bad(f"checkpoint batch_size must be a positive integer or null, got {c['batch_size']!r}")
    if doc["seed"] is None or doc["history"] is None or len(doc["history"].get("epoch", [])) != c["epoch"]:
        bad("a checkpoint needs its seed and a history of exactly its completed epochs")
    opt = c["optimizer"]
    if not (isinstance(opt, dict) and set(opt) == {"name", "config", "t"} and opt["name"] in optimizers.OPTIMIZERS
            and isinstance(opt["config"], dict) and is_int(opt["t"], 0)):
        bad(f"checkpoint optimizer must be {{name: {'|'.join(optimizers.OPTIMIZERS)}, config: {{...}}, t: int ≥ 0}}")
    r = c["rng_state"]
    big = lambda s: isinstance(s, str) and s.isdigit() and len(s) <= 39 and int(s) < 2 ** 128
    if not (isinstance(r, dict) and set(r) == {"bit_generator", "state", "has_uint32", "uinteger"}
            and r["bit_generator"] == "PCG64" and isinstance(r["state"], dict)
            and set(r["state"]) == {"state", "inc"} and all(big(v) for v in r["state"].values())
            and r["has_uint32"] in (0, 1) and is_int(r["uinteger"], 0) and r["uinteger"] < 2 ** 32):
        bad("checkpoint rng_state is not a valid PCG64 state")
    es = c["early_stopping"]
    if es is not None and not (
            isinstance(es, dict)
            and set(es) == {"monitor", "patience", "min_delta", "mode", "restore_best_weights", "best_epoch"}
            and es["monitor"] in HISTORY_KEYS and is_int(es["patience"], 0) and es["mode"] in ("min", "max")
            and isinstance(es["min_delta"], (int, float)) and not isinstance(es["min_delta"], bool)
            and isinstance(es["restore_best_weights"], bool)
            and (es["best_epoch"] is None or (is_int(es["best_epoch"], 0) and es["best_epoch"] < c["epoch"]))):
        bad("checkpoint early_stopping state is invalid")


def read_tensors(data, start, entries, expected, path, digest=None):
    """Check the header's tensors against ``expected`` ({name: (dtype, shape)}) and the tensor
    bytes against their SHA-256 ``digest`` (if the file records one), then copy them out of
    ``data`` → {name: native-order array}; NaN/inf weights are refused."""
    if set(entries) != set(expected):
        missing, extra = sorted(set(expected) - set(entries)), sorted(set(entries) - set(expected))
        raise ModelFileError(f"{path}: tensors do not match the architecture"
                             + (f"; missing {missing[:6]}" if missing else "")
                             + (f"; unexpected {extra[:6]}" if extra else ""))
    for name, (dtype, shape) in expected.items():
        got_dtype, got_shape, _ = entries[name]
        if got_dtype != dtype or got_shape != shape:
            raise ModelFileError(f"{path}: tensor {name!r} is {got_dtype} {list(got_shape)}, "
                                 f"expected {dtype} {list(shape)}")
    check_digest(digest, data, start, path)
    tensors = {}
    for name, (dtype, shape, (begin, end)) in entries.items():
        disk = TENSOR_DTYPES[dtype]          # little-endian; .astype gives an owned native array
        arr = np.frombuffer(data, disk, count=(end - begin) // disk.itemsize, offset=start + begin)
        tensors[name] = arr.astype(disk.newbyteorder("="), copy=True).reshape(shape)
        if not np.isfinite(tensors[name]).all():
            raise ModelFileError(f"{path}: tensor {name!r} contains NaN or infinite values")
    return tensors
