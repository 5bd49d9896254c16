"""Each check of the model-file reader (nnzero.modelfile) on its own: a document that breaks one
rule, and only that one, is a ModelFileError with that rule's message; a document at the edge of
the rule (epoch = epochs, the largest PCG64 state, patience 0, ...) still loads. A file's
document is edited in place of a valid one, its tensors kept (so each case isolates one check).
Written from the mutation testing of modelfile.py (docs/testing.md): each case pins one line."""

import json

import numpy as np
import pytest
from safetensors.numpy import load_file, save_file

import nnzero as nz
from nnzero import serialization
from nnzero.errors import ModelFileError


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """A checkpoint (Adam, early stopping with best weights, 3 of 3 epochs) and a model file."""
    d = tmp_path_factory.mktemp("files")
    r = np.random.default_rng(0)
    X = r.normal(size=(40, 3)).astype(np.float32)
    y = (X[:, 0] > 0).astype(np.int64)
    model = nz.Sequential([nz.Dense(3, 4), nz.ReLU(), nz.Dense(4, 2), nz.Softmax()])
    es = nz.EarlyStopping(patience=5)
    model.fit(X, y, epochs=3, batch_size=16, optimizer=nz.Adam(1e-2), validation_split=0.25, callbacks=[es],
              seed=0)
    serialization.save_checkpoint(d / "c.safetensors", model, early_stopping=es)
    nz.save(model, d / "m.safetensors")
    eleven = nz.Sequential([nz.Dense(3, 11), nz.Softmax()]).build(seed=0)
    eleven.set_classes(None, classes=np.arange(11))
    nz.save(eleven, d / "m11.safetensors")
    doc = serialization.read_metadata(d / "c.safetensors")
    assert doc["checkpoint"]["epoch"] == doc["checkpoint"]["epochs"] == 3     # the cases rely on these
    assert doc["checkpoint"]["early_stopping"]["best_epoch"] == 2 and doc["checkpoint"]["optimizer"]["t"] > 0
    return d


def rewrite(src, dst, edit, keep=None):
    """A copy of ``src`` whose nnzero document went through ``edit(doc)``; with ``keep(name)``, only
    those tensors (and no tensors_sha256, which covered all of them)."""
    with open(src, "rb") as f:
        n = int.from_bytes(f.read(8), "little")
        doc = json.loads(json.loads(f.read(n))["__metadata__"]["nnzero"])
    edit(doc)
    tensors = load_file(src)
    if keep is not None:
        tensors = {k: v for k, v in tensors.items() if keep(k)}
        doc.pop("tensors_sha256")
    save_file(tensors, dst, metadata={"nnzero": json.dumps(doc)})
    return dst


def at(*keys, value=None, delete=False):
    """An edit setting (or deleting) doc[k0][k1]...; value may be a function of the document."""
    def edit(doc):
        d = doc
        for k in keys[:-1]:
            d = d[k]
        if delete:
            del d[keys[-1]]
        else:
            d[keys[-1]] = value(doc) if callable(value) else value
    return edit


def both(*edits):
    def edit(doc):
        for e in edits:
            e(doc)
    return edit


def first_epochs(k):
    """Keep the first k epochs of the history (every key)."""
    def edit(doc):
        h = doc["history"]
        for key, values in h.items():
            if isinstance(values, list):
                h[key] = values[:k]
    return edit


def refused(path, message):
    with pytest.raises(ModelFileError) as info:
        serialization.load_checkpoint(path) if "ckpt" in path.name else serialization.load(path)
    assert str(info.value) == f"{path}: {message}"


CK = ("checkpoint",)
OPT, RNG, ES = ("checkpoint", "optimizer"), ("checkpoint", "rng_state"), ("checkpoint", "early_stopping")
KEYS_MSG = "checkpoint must have epoch, epochs, batch_size, optimizer, rng_state, early_stopping"
NEEDS_MSG = "a checkpoint needs its seed and a history of exactly its completed epochs"
OPT_MSG = "checkpoint optimizer must be {name: sgd|adam|adamw, config: {...}, t: int ≥ 0}"
RNG_MSG = "checkpoint rng_state is not a valid PCG64 state"
ES_MSG = "checkpoint early_stopping state is invalid"

BAD_CHECKPOINTS = {
    "not an object": (at(*CK, value=[]), KEYS_MSG),
    "a key missing": (at(*CK, "epochs", delete=True), KEYS_MSG),
    "a key too many": (at(*CK, "extra", value=1), KEYS_MSG),
    "epochs 0": (both(at(*CK, "epoch", value=0), at(*CK, "epochs", value=0), first_epochs(0)),
                 "checkpoint epoch 0 of 0 is invalid"),
    "epochs true": (at(*CK, "epochs", value=True), "checkpoint epoch 3 of True is invalid"),
    "epoch -1": (at(*CK, "epoch", value=-1), "checkpoint epoch -1 of 3 is invalid"),
    "epoch past epochs": (at(*CK, "epoch", value=4), "checkpoint epoch 4 of 3 is invalid"),
    "batch_size 0": (at(*CK, "batch_size", value=0), "checkpoint batch_size must be a positive integer or null, got 0"),
    "batch_size text": (at(*CK, "batch_size", value="16"),
                        "checkpoint batch_size must be a positive integer or null, got '16'"),
    "no seed": (at("seed", value=None), NEEDS_MSG),
    "no history": (at("history", value=None), NEEDS_MSG),
    "history of 2 epochs": (first_epochs(2), NEEDS_MSG),
    "optimizer not an object": (at(*OPT, value=[]), OPT_MSG),
    "optimizer without t": (at(*OPT, "t", delete=True), OPT_MSG),
    "optimizer key too many": (at(*OPT, "u", value=0), OPT_MSG),
    "optimizer unknown": (at(*OPT, "name", value="rmsprop"), OPT_MSG),
    "optimizer config a list": (at(*OPT, "config", value=[]), OPT_MSG),
    "optimizer t -1": (at(*OPT, "t", value=-1), OPT_MSG),
    "optimizer t true": (at(*OPT, "t", value=True), OPT_MSG),
    "rng not an object": (at(*RNG, value="PCG64"), RNG_MSG),
    "rng key too many": (at(*RNG, "extra", value=0), RNG_MSG),
    "rng other generator": (at(*RNG, "bit_generator", value="MT19937"), RNG_MSG),
    "rng state a list": (at(*RNG, "state", value=[]), RNG_MSG),
    "rng state key too many": (at(*RNG, "state", "x", value="1"), RNG_MSG),
    "rng state a number": (at(*RNG, "state", "inc", value=12), RNG_MSG),
    "rng state not digits": (at(*RNG, "state", "inc", value="12a"), RNG_MSG),
    "rng state 40 digits": (at(*RNG, "state", "state", value="0" * 40), RNG_MSG),
    "rng state 2**128": (at(*RNG, "state", "inc", value=str(2 ** 128)), RNG_MSG),
    "rng has_uint32 2": (at(*RNG, "has_uint32", value=2), RNG_MSG),
    "rng uinteger -1": (at(*RNG, "uinteger", value=-1), RNG_MSG),
    "rng uinteger 2**32": (at(*RNG, "uinteger", value=2 ** 32), RNG_MSG),
    "es not an object": (at(*ES, value=[]), ES_MSG),
    "es key missing": (at(*ES, "mode", delete=True), ES_MSG),
    "es unknown monitor": (at(*ES, "monitor", value="acc"), ES_MSG),
    "es patience -1": (at(*ES, "patience", value=-1), ES_MSG),
    "es mode avg": (at(*ES, "mode", value="avg"), ES_MSG),
    "es min_delta text": (at(*ES, "min_delta", value="0"), ES_MSG),
    "es min_delta true": (at(*ES, "min_delta", value=True), ES_MSG),
    "es restore 1": (at(*ES, "restore_best_weights", value=1), ES_MSG),
    "es best_epoch -1": (at(*ES, "best_epoch", value=-1), ES_MSG),
    "es best_epoch = epoch": (at(*ES, "best_epoch", value=3), ES_MSG),
}


@pytest.mark.parametrize("case", BAD_CHECKPOINTS)
def test_a_checkpoint_breaking_one_rule_is_refused_with_its_message(files, tmp_path, case):
    edit, message = BAD_CHECKPOINTS[case]
    refused(rewrite(files / "c.safetensors", tmp_path / "bad.ckpt.safetensors", edit), message)


NO_ES = lambda name: not name.startswith("early_stopping.")          # noqa: E731
NO_SLOTS = lambda name: not name.startswith("optimizer.")            # noqa: E731

EDGE_CHECKPOINTS = {
    "epoch 1 of 1": (both(at(*CK, "epoch", value=1), at(*CK, "epochs", value=1), first_epochs(1),
                          at(*ES, "best_epoch", value=0)), None),
    "batch_size null": (at(*CK, "batch_size", value=None), None),
    "batch_size 1": (at(*CK, "batch_size", value=1), None),
    "optimizer t 0, no slots yet": (at(*OPT, "t", value=0), NO_SLOTS),
    "optimizer sgd": (at(*OPT, value={"name": "sgd", "config": {"lr": 0.1}, "t": 0}), NO_SLOTS),
    "rng largest state": (at(*RNG, "state", "inc", value=str(2 ** 128 - 1)), None),
    "rng 39-digit zero": (at(*RNG, "state", "state", value="0" * 39), None),
    "rng has_uint32 1, largest uinteger": (both(at(*RNG, "has_uint32", value=1),
                                                at(*RNG, "uinteger", value=2 ** 32 - 1)), None),
    "rng uinteger 0": (at(*RNG, "uinteger", value=0), None),
    "no early stopping": (at(*ES, value=None), NO_ES),
    "es nothing best yet": (at(*ES, "best_epoch", value=None), NO_ES),
    "es best_epoch 0": (at(*ES, "best_epoch", value=0), None),
    "es patience 0, mode max, integer min_delta": (both(at(*ES, "patience", value=0), at(*ES, "mode", value="max"),
                                                        at(*ES, "min_delta", value=1),
                                                        at(*ES, "monitor", value="val_accuracy")), None),
    "es restore false": (at(*ES, "restore_best_weights", value=False), None),
    "epoch 0, nothing done yet": (both(at(*CK, "epoch", value=0), first_epochs(0), at(*ES, "best_epoch", value=None)),
                                  NO_ES),
}


@pytest.mark.parametrize("case", EDGE_CHECKPOINTS)
def test_a_checkpoint_at_the_edge_of_a_rule_loads(files, tmp_path, case):
    edit, keep = EDGE_CHECKPOINTS[case]
    path = rewrite(files / "c.safetensors", tmp_path / "edge.ckpt.safetensors", edit, keep)
    model, opt, state = serialization.load_checkpoint(path)
    doc = serialization.read_metadata(path)
    assert state["epoch"] == doc["checkpoint"]["epoch"] and state["batch_size"] == doc["checkpoint"]["batch_size"]
    assert state["rng_state"]["state"] == {k: int(v) for k, v in doc["checkpoint"]["rng_state"]["state"].items()}
    assert state["rng_state"]["uinteger"] == doc["checkpoint"]["rng_state"]["uinteger"]
    assert opt.name == doc["checkpoint"]["optimizer"]["name"] and state.optimizer_state["t"] == doc["checkpoint"][
        "optimizer"]["t"]
    es = doc["checkpoint"]["early_stopping"]
    if es is None:
        assert state["early_stopping"] is None
    else:
        assert {k: state["early_stopping"][k] for k in es} == es
        assert (state["early_stopping"]["best_weights"] is None) == (es["best_epoch"] is None)


# -- every file: history and class labels ---------------------------------------------------------
HISTORY_MSG = "history must be an object with keys epoch, loss, accuracy, val_loss, val_accuracy, lr, time"
BAD_MODELS = {
    "history a list": (at("history", value=[]), HISTORY_MSG),
    "history key unknown": (at("history", "acc", value=[1, 2, 3]), HISTORY_MSG),
    "history epoch text": (at("history", "epoch", value="012"), "history epoch must be a list of non-negative integers"),
    "history epoch -1": (at("history", "epoch", value=[-1, 0, 1]),
                         "history epoch must be a list of non-negative integers"),
    "history epoch true": (at("history", "epoch", value=[0, True, 2]),
                           "history epoch must be a list of non-negative integers"),
    "history loss short": (at("history", "loss", value=[0.5, 0.4]),
                           "history 'loss' must be a list of 3 numbers or nulls"),
    "history lr text": (at("history", "lr", value=[0.1, "0.1", 0.1]), "history 'lr' must be a list of 3 numbers or nulls"),
    "history time true": (at("history", "time", value=[1, True, 1]),
                          "history 'time' must be a list of 3 numbers or nulls"),
    "history loss an object": (at("history", "loss", value={}), "history 'loss' must be a list of 3 numbers or nulls"),
    "history diagnostics": (at("history", "diagnostics", value={}),
                            "history diagnostics must be a list and its seed a non-negative integer"),
    "history seed -1": (at("history", "seed", value=-1),
                        "history diagnostics must be a list and its seed a non-negative integer"),
    "labels 1.5 as integers": (at("classes", value={"dtype": "<i8", "values": [0, 1.5]}),
                               "class labels [0, 1.5] do not match their dtype <i8"),
    "labels true as integers": (at("classes", value={"dtype": "<i8", "values": [0, True]}),
                                "class labels [0, True] do not match their dtype <i8"),
    "labels 0/1 as booleans": (at("classes", value={"dtype": "|b1", "values": [0, 1]}),
                               "class labels [0, 1] do not match their dtype |b1"),
    "labels a number as text": (at("classes", value={"dtype": "<U3", "values": ["a", 1]}),
                                "class labels ['a', 1] do not match their dtype <U3"),
    "labels past uint8": (at("classes", value={"dtype": "|u1", "values": [0, 300]}),
                          "class labels [0, 300] do not fit their dtype |u1"),
    "labels longer than their width": (at("classes", value={"dtype": "<U1", "values": ["a", "bb"]}),
                                       "class labels ['a', 'bb'] do not fit their dtype <U1"),
    "three labels for two outputs": (at("classes", value={"dtype": "<i8", "values": [0, 1, 2]}),
                                     "3 class labels for a model with 2 outputs"),
    "labels unsorted": (at("classes", value={"dtype": "<i8", "values": [1, 0]}),
                        "class labels must be sorted and distinct, got [1, 0]"),
    "labels repeated": (at("classes", value={"dtype": "<i8", "values": [1, 1]}),
                        "class labels must be sorted and distinct, got [1, 1]"),
}


@pytest.mark.parametrize("case", BAD_MODELS)
def test_a_model_file_breaking_one_rule_is_refused_with_its_message(files, tmp_path, case):
    edit, message = BAD_MODELS[case]
    refused(rewrite(files / "m.safetensors", tmp_path / "bad.safetensors", edit), message)


@pytest.mark.parametrize("classes, expected", [
    ({"dtype": "|b1", "values": [False, True]}, [False, True]),
    ({"dtype": "<f8", "values": [0, 1.5]}, [0.0, 1.5]),                 # an integer is a float label too
    ({"dtype": "<U3", "values": ["ant", "bee"]}, ["ant", "bee"]),
    ({"dtype": "|u1", "values": [7, 255]}, [7, 255]),
    (None, None),
])
def test_labels_of_every_kind_load_as_written(files, tmp_path, classes, expected):
    path = rewrite(files / "m.safetensors", tmp_path / "ok.safetensors", at("classes", value=classes))
    model = nz.load(path)
    if expected is None:
        assert model.classes_ is None
    else:
        assert model.classes_.dtype == np.dtype(classes["dtype"]) and model.classes_.tolist() == expected


def test_a_history_with_nulls_integers_and_no_seed_loads(files, tmp_path):
    edit = both(at("history", "val_loss", value=[None, 1, 0.5]), at("history", "seed", delete=True),
                at("history", "diagnostics", value=[]))
    model = nz.load(rewrite(files / "m.safetensors", tmp_path / "ok.safetensors", edit))
    h = model.history.to_dict()
    assert h["val_loss"][1:] == [1, 0.5] and (h["val_loss"][0] is None or np.isnan(h["val_loss"][0]))


def test_the_message_names_the_first_rule_broken(files, tmp_path):
    # Several rules broken at once: the checks run in a fixed order, and the first one speaks.
    edit = both(at(*CK, "batch_size", value=0), at(*OPT, "t", value=-1))
    refused(rewrite(files / "c.safetensors", tmp_path / "bad.ckpt.safetensors", edit),
            "checkpoint batch_size must be a positive integer or null, got 0")


def test_optimizer_state_from_the_first_step_on_is_expected(files, tmp_path):
    # t = 1: one step taken, so the slots exist (t > 0, not t > 1).
    path = rewrite(files / "c.safetensors", tmp_path / "t1.ckpt.safetensors", at(*OPT, "t", value=1))
    _, _, state = serialization.load_checkpoint(path)
    assert state.optimizer_state["t"] == 1 and sorted(state.optimizer_state["arrays"]) == sorted(
        f"{slot}.{p}" for slot in ("m_sum", "v_sum") for p in ("0.W", "0.b", "2.W", "2.b"))


def test_the_arrays_handed_back_are_the_callers_to_change(files):
    # Copies out of the file's bytes, not read-only views of them: resuming updates them in place.
    model, _, state = serialization.load_checkpoint(files / "c.safetensors")
    arrays = [*state.optimizer_state["arrays"].values(), *state["early_stopping"]["best_weights"].values(),
              *model.params.values()]
    assert arrays and all(a.flags.writeable for a in arrays)


# -- the document as a whole ------------------------------------------------------------------------
def with_text(src, dst, text):
    """``src`` with its nnzero metadata replaced by ``text`` verbatim."""
    save_file(load_file(src), dst, metadata={"nnzero": text})
    return dst


def test_document_level_messages(files, tmp_path):
    m = files / "m.safetensors"
    doc = serialization.read_metadata(m)
    refused(with_text(m, tmp_path / "a.safetensors", "[]"), "the nnzero metadata must be a JSON object")
    refused(rewrite(m, tmp_path / "b.safetensors", at("format_version", value="1")),
            "format_version must be a positive integer, got '1'")
    extra = both(*(at(f"x{i}", value=0) for i in range(7)))
    with pytest.raises(ModelFileError) as info:
        nz.load(rewrite(m, tmp_path / "c.safetensors", extra))
    assert str(info.value).endswith("unknown metadata keys ['x0', 'x1', 'x2', 'x3', 'x4']")
    refused(rewrite(m, tmp_path / "d.safetensors", both(at("history", delete=True), at("kind", delete=True))),
            "metadata lacks ['history', 'kind']")
    long = "f" * 100
    with pytest.raises(ModelFileError) as info:
        nz.load(rewrite(m, tmp_path / "e.safetensors", at("tensors_sha256", value=long)))
    assert str(info.value).endswith(f"tensors_sha256 must be 64 lowercase hex digits, got {long[:80]!r}")
    assert doc["kind"] == "model"


ARCH_MSG = "model architecture must be {layers: [{type, config}, ...], loss, dtype float32|float64}"


@pytest.mark.parametrize("edit", [
    at("model", "extra", value=1),
    at("model", "dtype", value="float16"),
    at("model", "dtype", value=32),
    at("model", "layers", value=[]),
    at("model", "layers", 0, "name", value="first"),
    at("model", "layers", 0, value=["Dense"]),
    at("model", value=[]),
], ids=["extra key", "float16", "dtype a number", "no layers", "layer key", "layer a list", "model a list"])
def test_an_architecture_of_the_wrong_shape_is_refused(files, tmp_path, edit):
    refused(rewrite(files / "m.safetensors", tmp_path / "bad.safetensors", edit), ARCH_MSG)


def test_a_document_with_only_the_required_keys_loads(files, tmp_path):
    keep = ("format_version", "kind", "model", "classes", "history")

    def minimal(doc):
        for key in [k for k in doc if k not in keep]:
            del doc[key]
    model = nz.load(rewrite(files / "m.safetensors", tmp_path / "min.safetensors", minimal))
    for key in ("preprocessing", "training", "dataset", "seed", "versions", "notes", "checkpoint",
                "tensors_sha256"):
        assert key in model.metadata and model.metadata[key] is None, key


def test_a_long_json_error_is_cut_at_200_characters(files, tmp_path):
    key = "k" + "a" * 300
    text = '{"format_version": 1, "%s": 1, "%s": 2}' % (key, key)
    path = with_text(files / "m.safetensors", tmp_path / "dup.safetensors", text)
    with pytest.raises(ModelFileError) as info:
        nz.load(path)
    assert str(info.value) == f"{path}: the nnzero metadata is not valid JSON ({f'duplicate key {key!r}'[:200]})"


# -- the safetensors layer: header and tensor table ------------------------------------------------
def raw(src, dst, edit=None, tail=b"", cut=0):
    """``src`` with its safetensors header (JSON, tensor table) through ``edit``, the tensor bytes
    kept; ``cut`` bytes off the end, then ``tail`` appended."""
    data = src.read_bytes()
    n = int.from_bytes(data[:8], "little")
    header = json.loads(data[8:8 + n])
    if edit is not None:
        edit(header)
    text = json.dumps(header).encode()
    out = len(text).to_bytes(8, "little") + text + data[8 + n:]
    dst.write_bytes(out[:len(out) - cut] + tail)
    return dst


def message(path):
    with pytest.raises(ModelFileError) as info:
        nz.load(path)
    return str(info.value)


def test_tensor_table_messages(files, tmp_path):
    m, p = files / "m.safetensors", tmp_path / "t.safetensors"
    shape9 = [10 ** 9] * 9
    raw(m, p, at("0.W", "shape", value=shape9))
    assert message(p) == f"{p}: tensor '0.W' has invalid shape {str(shape9)[:80]}"
    raw(m, p, at("0.W", "shape", value=[1] * 8))                # 8 dimensions are allowed: the size is wrong
    assert message(p) == f"{p}: tensor '0.W' spans 48 bytes but F32 {[1] * 8} needs 4"
    raw(m, p, at("0.W", "shape", value=[2 ** 32, 2 ** 32, 4]))  # no int64 overflow in the size
    assert message(p) == f"{p}: tensor '0.W' spans 48 bytes but F32 [4294967296, 4294967296, 4] needs {2 ** 68}"
    raw(m, p, at("0.b", "shape", value=[5]))                   # offsets not from 0: the span is end − begin
    assert message(p) == f"{p}: tensor '0.b' spans 16 bytes but F32 [5] needs 20"
    for offsets in ([48, 0], [0, 48, 96], [-1, 48], [10 ** 41, 10 ** 40]):
        raw(m, p, at("0.W", "data_offsets", value=offsets))
        assert message(p) == f"{p}: tensor '0.W' has invalid data_offsets {str(offsets)[:80]}", offsets


def test_tiling_messages(files, tmp_path):
    m, p = files / "m.safetensors", tmp_path / "t.safetensors"
    raw(m, p, at("0.b", "data_offsets", value=[44, 60]))
    assert message(p) == f"{p}: tensor data overlaps at byte 44; the file is corrupted"
    raw(m, p, at("0.b", "data_offsets", value=[52, 68]))
    assert message(p) == f"{p}: tensor data has a gap at byte 52; the file is corrupted"
    raw(m, p, tail=b"\0" * 4)
    assert message(p) == f"{p}: tensors need 104 bytes of data but the file has 108 (trailing bytes)"
    raw(m, p, cut=4)
    assert message(p) == f"{p}: tensors need 104 bytes of data but the file has 100 (truncated)"


def test_read_tensors_names_missing_and_unexpected_tensors(files, tmp_path):
    m = files / "m.safetensors"
    data = load_file(m)
    p = tmp_path / "t.safetensors"
    doc = serialization.read_metadata(m)
    doc.pop("tensors_sha256")
    meta = {"nnzero": json.dumps(doc)}
    save_file({k: v for k, v in data.items() if k != "2.b"}, p, metadata=meta)
    assert message(p) == f"{p}: tensors do not match the architecture; missing ['2.b']"
    extra = {f"z{i}": np.zeros(1, np.float32) for i in range(8)}
    save_file({**data, **extra}, p, metadata=meta)
    assert message(p) == (f"{p}: tensors do not match the architecture; unexpected "
                          f"{sorted(extra)[:6]}")
    save_file(extra, p, metadata=meta)
    assert message(p) == (f"{p}: tensors do not match the architecture; missing ['0.W', '0.b', '2.W', '2.b']; "
                          f"unexpected {sorted(extra)[:6]}")


def test_header_messages(files, tmp_path, monkeypatch):
    from nnzero import modelfile

    p = tmp_path / "h.safetensors"
    p.write_bytes(b"\x01" * 8)
    assert message(p) == (f"{p}: not an nnzero model file (a model file is safetensors, whose JSON header "
                          f"starts at byte 8; this file starts with {bytes(8 * [1])!r})")
    p.write_bytes((100).to_bytes(8, "little") + b"abcdefgh")    # a small length that does not fit
    assert message(p) == (f"{p}: not an nnzero model file (a model file is safetensors, whose JSON header "
                          f"starts at byte 8; this file starts with {((100).to_bytes(8, 'little') + b'abcd')!r})")
    p.write_bytes((100).to_bytes(8, "little") + b"{bcdefgh")
    assert message(p) == f"{p}: header length 100 does not fit the 16-byte file (truncated, or not a safetensors file)"
    p.write_bytes((3).to_bytes(8, "little") + b"abc")           # the header fills the file exactly
    assert message(p).startswith(f"{p}: the safetensors header is not valid JSON (")
    p.write_bytes((3).to_bytes(8, "little") + b"{ab")
    assert message(p).startswith(f"{p}: the safetensors header is not valid JSON (")
    save_file(load_file(files / "m.safetensors"), p)            # safetensors, but not ours
    assert message(p) == (f"{p}: no nnzero metadata: not an nnzero model file (a safetensors file written by "
                          "another tool?)")
    with_text(files / "m.safetensors", p, "{")
    assert message(p).startswith(f"{p}: the nnzero metadata is not valid JSON (")
    # A header exactly at the size limit is read; one byte more is refused.
    p.write_bytes((8).to_bytes(8, "little") + b'{"a": 1}')
    monkeypatch.setattr(modelfile, "MAX_HEADER_BYTES", 8)
    assert message(p) == (f"{p}: no nnzero metadata: not an nnzero model file (a safetensors file written by "
                          "another tool?)")
    p.write_bytes((8).to_bytes(8, "little") + b'[1, 2.0]')
    assert message(p) == f"{p}: safetensors header must be a JSON object"
    monkeypatch.setattr(modelfile, "MAX_HEADER_BYTES", 7)
    assert message(p).startswith(f"{p}: not an nnzero model file")


def test_the_digest_message_shows_both_digests(files, tmp_path):
    import hashlib

    m = files / "m.safetensors"
    data = bytearray(m.read_bytes())
    data[-1] ^= 1
    p = tmp_path / "flipped.safetensors"
    p.write_bytes(bytes(data))
    n = int.from_bytes(data[:8], "little")
    recorded = serialization.read_metadata(m)["tensors_sha256"]
    computed = hashlib.sha256(bytes(data[8 + n:])).hexdigest()
    assert message(p) == (f"{p}: the tensor data do not match their SHA-256 recorded in the file "
                          f"(recorded {recorded[:16]}…, computed {computed[:16]}…): the file is corrupted")


def test_read_bytes_limits_and_races(files, tmp_path, monkeypatch):
    from nnzero import modelfile

    m = files / "m.safetensors"
    size = m.stat().st_size
    monkeypatch.setattr(modelfile, "MAX_FILE_BYTES", size)
    assert nz.load(m).n_outputs == 2                          # exactly at the limit: read
    monkeypatch.setattr(modelfile, "MAX_FILE_BYTES", size - 1)
    assert message(m) == f"{m}: {size} bytes is larger than the {size - 1}-byte limit for model files"
    monkeypatch.undo()
    monkeypatch.setenv("NNZERO_MAX_BYTES", str(size - 1))
    assert message(m).startswith(f"{m}: the model file would need ")
    monkeypatch.delenv("NNZERO_MAX_BYTES")
    # The path checked, then gone or replaced before it is opened (a race): read_bytes' own errors.
    monkeypatch.setattr(modelfile, "check_input", lambda path, error: path)
    assert message(tmp_path / "gone.safetensors") == f"{tmp_path / 'gone.safetensors'}: no such file"
    assert message(tmp_path) == f"{tmp_path}: is a directory, not a model file"
    long = tmp_path / ("x" * 300)
    assert message(long) == f"{long}: cannot read: File name too long"
    real = modelfile.os.fstat
    monkeypatch.setattr(modelfile.os, "fstat", lambda fd: type("S", (), {"st_size": real(fd).st_size - 1})())
    assert message(m) == f"{m}: the file changed size while being read"


def test_long_label_lists_are_cut_in_messages_and_order_is_checked_pairwise(files, tmp_path):
    m11, p = files / "m11.safetensors", tmp_path / "l.safetensors"
    six = [0, 1, 2, 3, 4, 5.5]
    refused(rewrite(m11, p, at("classes", value={"dtype": "<i8", "values": six})),
            "class labels [0, 1, 2, 3, 4] do not match their dtype <i8")
    refused(rewrite(m11, p, at("classes", value={"dtype": "|u1", "values": [0, 1, 2, 3, 4, 300]})),
            "class labels [0, 1, 2, 3, 4] do not fit their dtype |u1")
    refused(rewrite(m11, p, at("classes", value={"dtype": "<i8", "values": list(range(10, -1, -1))})),
            f"class labels must be sorted and distinct, got {list(range(10, 0, -1))}")
    # Each label against the one before it, not against the first: 0, 2, 1 is not sorted.
    refused(rewrite(m11, p, at("classes", value={"dtype": "<i8", "values": [0, 2, 1, *range(3, 11)]})),
            f"class labels must be sorted and distinct, got {[0, 2, 1, *range(3, 10)]}")


def test_an_empty_history_loads(files, tmp_path):
    model = nz.load(rewrite(files / "m.safetensors", tmp_path / "h.safetensors", at("history", value={})))
    assert model.history is not None and model.history.to_dict().get("epoch", []) == []


def test_many_missing_tensors_are_cut_to_six_in_the_message(files, tmp_path):
    c = files / "c.safetensors"
    doc = serialization.read_metadata(c)
    doc.pop("tensors_sha256")
    p = tmp_path / "few.ckpt.safetensors"
    save_file({k: v for k, v in load_file(c).items() if k[0].isdigit()}, p, metadata={"nnzero": json.dumps(doc)})
    missing = sorted(k for k in load_file(c) if not k[0].isdigit())
    assert len(missing) == 12
    refused(p, f"tensors do not match the architecture; missing {missing[:6]}")


def test_numbers_are_named_by_their_place_and_held_to_64_bits(files, tmp_path):
    m, p = files / "m.safetensors", tmp_path / "n.safetensors"
    refused(rewrite(m, p, at("seed", value=10 ** 30)), "seed is a 31-digit integer; expected one within 64 bits")
    refused(rewrite(m, p, at("notes", value={"a": [1, -2 ** 63 - 1]})),
            "notes.a[1] is a 19-digit integer; expected one within 64 bits")
    refused(rewrite(m, p, at("notes", value={"a": 2 ** 64})), "notes.a is a 20-digit integer; expected one within 64 bits")
    edge = {"low": -2 ** 63, "high": 2 ** 64 - 1}
    assert nz.load(rewrite(m, p, at("notes", value=edge))).metadata["notes"] == edge


def test_more_document_rules(files, tmp_path):
    m, p = files / "m.safetensors", tmp_path / "d.safetensors"
    refused(rewrite(m, p, at("classes", value={"dtype": "<i8"})),
            "classes must be {dtype: <integer, float, bool or string dtype>, values: [...]}")
    c = serialization.read_metadata(files / "c.safetensors")["checkpoint"]
    refused(rewrite(m, p, at("checkpoint", value=c)), "only a checkpoint has (and must have) checkpoint state")
    refused(rewrite(m, p, at("training", value=[])), "training must be a JSON object, got list")
    with pytest.raises(ModelFileError) as info:
        nz.load(rewrite(m, p, at("preprocessing", value={"kind": "zoom"})))
    assert str(info.value).startswith(f"{p}: invalid preprocessing in the metadata: ")
    model = nz.load(rewrite(m, p, at("model", "dtype", delete=True)))      # no dtype: float32
    assert model.dtype == np.float32


def test_architectures_of_1_and_10000_layers_load_and_10001_do_not(files, tmp_path):
    one = nz.Sequential([nz.Dense(3, 2)], loss="mse").build(seed=0)
    nz.save(one, tmp_path / "one.safetensors")
    assert len(nz.load(tmp_path / "one.safetensors").layers) == 1

    def layers(n):     # Dense, ReLU, Dense, then ReLUs up to n layers with the Softmax
        return at("model", "layers", value=lambda doc: [*doc["model"]["layers"][:3],
                                                         *[{"type": "ReLU", "config": {}}] * (n - 4),
                                                         doc["model"]["layers"][3]])
    path = rewrite(files / "m.safetensors", tmp_path / "deep.safetensors", layers(10_000))
    assert len(nz.load(path).layers) == 10_000
    refused(rewrite(files / "m.safetensors", tmp_path / "deeper.safetensors", layers(10_001)), ARCH_MSG)


# -- serialization's reading path: what it adds around modelfile's checks ---------------------------
def test_loaders_name_the_file_and_the_part_that_failed(files, tmp_path):
    m, c = files / "m.safetensors", files / "c.safetensors"
    p = rewrite(m, tmp_path / "a.safetensors", at("model", "layers", 0, "type", value="Conv2D"))
    with pytest.raises(ModelFileError) as info:
        nz.load(p)
    assert str(info.value).startswith(f"{p}: invalid model architecture in the metadata: ")
    p = rewrite(c, tmp_path / "b.ckpt.safetensors", at(*OPT, "config", "lr", value=-1))
    with pytest.raises(ModelFileError) as info:
        serialization.load_checkpoint(p)
    assert str(info.value).startswith(f"{p}: invalid optimizer in the metadata: ")
    with pytest.raises(ModelFileError) as info:
        serialization.load_checkpoint(m)
    assert str(info.value) == (f"{m}: is a model file, not a checkpoint (it has no optimizer state); resume "
                               "needs the .ckpt file written during training")
