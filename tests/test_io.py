"""Model files and checkpoints: round trips, PyTorch compatibility, atomic writes, hostile files."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import nnzero as nz
from nnzero import serialization as io, preprocessing
from nnzero.errors import ConfigError, ModelFileError, NotFittedError

SRC = str(Path(nz.__file__).resolve().parents[1])


def _trained(labels=None, dtype="float32", optimizer=None, epochs=2):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((60, 5)).astype(dtype)
    y = rng.integers(0, 3, 60) if labels is None else np.asarray(labels)[rng.integers(0, 3, 60)]
    model = nz.mlp(5, [4], 3, dtype=dtype)
    model.fit(X, y, epochs=epochs, batch_size=16, seed=1, optimizer=optimizer or nz.Adam(1e-2))
    return model, X


@pytest.fixture
def model_file(tmp_path):
    model, _ = _trained()
    path = tmp_path / "m.safetensors"
    model.save(path, preprocessing=preprocessing.SCALE_255, training={"epochs": 2}, dataset={"name": "toy"})
    return path


@pytest.mark.parametrize("labels", [None, np.array([3, 7, 9], np.uint8), np.array(["cat", "dog", "eel"]),
                                    np.array([-1.5, 0.25, 2.0]), np.array([10, 20, 30], np.int16)])
def test_model_round_trip(tmp_path, labels):
    model, X = _trained(labels)
    model.save(tmp_path / "m.safetensors", notes={"by": "test"})
    back = nz.load(tmp_path / "m.safetensors")
    assert back.config() == model.config()
    assert {k: v.tobytes() for k, v in back.params.items()} == {k: v.tobytes() for k, v in model.params.items()}
    assert back.classes_.dtype == model.classes_.dtype and back.classes_.tolist() == model.classes_.tolist()
    assert np.array_equal(back.predict(X), model.predict(X))
    assert back.history.to_dict() == model.history.to_dict()
    assert back.metadata["seed"] == 1 and back.metadata["notes"] == {"by": "test"}
    assert back.metadata["versions"]["numpy"] == np.__version__


def test_float64_model_and_metadata(tmp_path, model_file):
    model, _ = _trained(dtype="float64")
    model.save(tmp_path / "f64.safetensors")
    back = nz.load(tmp_path / "f64.safetensors")
    assert back.dtype == np.float64 and all(p.dtype == np.float64 for p in back.params.values())
    doc = io.read_metadata(model_file)
    assert doc["kind"] == "model" and doc["format_version"] == io.FORMAT_VERSION
    assert doc["preprocessing"] == preprocessing.SCALE_255 and doc["dataset"] == {"name": "toy"}
    # A loaded model saved again keeps what its file said, unless told otherwise.
    nz.load(model_file).save(tmp_path / "again.safetensors", dataset={"name": "other"})
    again = io.read_metadata(tmp_path / "again.safetensors")
    assert again["preprocessing"] == preprocessing.SCALE_255 and again["dataset"] == {"name": "other"}


def test_pytorch_reads_the_weights(model_file):
    st_torch = pytest.importorskip("safetensors.torch")
    tensors = st_torch.load_file(str(model_file))
    model = nz.load(model_file)
    assert set(tensors) == set(model.params)
    for k, p in model.params.items():
        assert np.array_equal(tensors[k].numpy(), p)


def test_save_refuses_bad_input(tmp_path):
    with pytest.raises(NotFittedError):
        nz.mlp(3, [2], 2).save(tmp_path / "x.safetensors")
    model, _ = _trained()
    with pytest.raises(ConfigError, match="unknown model-file metadata"):
        model.save(tmp_path / "x.safetensors", colour="red")
    with pytest.raises(ConfigError, match="JSON"):
        model.save(tmp_path / "x.safetensors", notes={"x": float("nan")})
    with pytest.raises(ConfigError, match="preprocessing"):
        model.save(tmp_path / "x.safetensors", preprocessing={"kind": "sharpen"})
    with pytest.raises(ConfigError, match="dtype"):
        model.classes_ = np.array([object(), object(), object()])
        model.save(tmp_path / "x.safetensors")
    assert not list(tmp_path.iterdir())        # nothing written, no temporary files left


@pytest.mark.parametrize("optimizer", [nz.Adam(1e-2, schedule="cosine"), nz.AdamW(1e-2),
                                       nz.SGD(0.1, momentum=0.9, nesterov=True), nz.SGD(0.1)])
def test_checkpoint_round_trip(tmp_path, optimizer):
    model, _ = _trained(optimizer=optimizer)
    io.save_checkpoint(tmp_path / "c.safetensors", model)
    back, opt, state = io.load_checkpoint(tmp_path / "c.safetensors")
    ref = model.train_state
    assert type(opt) is type(optimizer) and opt.config() == optimizer.config()
    assert state.epoch == ref.epoch == 2 and state.epochs == 2 and state.seed == 1
    assert state["epochs"] == state.epochs                 # indexed as the dict it used to be
    assert state.optimizer is opt and state.metadata["kind"] == "checkpoint"
    assert state.rng_state == ref.rng_state
    assert state.optimizer_state["t"] == ref.optimizer_state["t"]
    assert {k: v.tobytes() for k, v in state.optimizer_state["arrays"].items()} == \
        {k: v.tobytes() for k, v in ref.optimizer_state["arrays"].items()}
    assert {k: v.tobytes() for k, v in back.params.items()} == {k: v.tobytes() for k, v in ref.weights.items()}
    assert len(state.history) == 2
    with pytest.raises(ModelFileError, match="not a checkpoint"):
        model.save(tmp_path / "m.safetensors")
        io.load_checkpoint(tmp_path / "m.safetensors")


@pytest.mark.parametrize("optimizer", [nz.Adam(1e-2, beta1=0.8, beta2=0.99), nz.AdamW(1e-2)])
def test_a_checkpoint_with_other_state_slots_is_refused(tmp_path, optimizer):
    # The slots a checkpoint must hold are those fit's engine keeps for the optimizer (Adam:
    # m_sum, v_sum, as released); a file with other names (the paper's m and v) is a clear error.
    from safetensors import safe_open
    from safetensors.numpy import save_file

    model, _ = _trained(optimizer=optimizer)
    io.save_checkpoint(tmp_path / "new.safetensors", model)
    with safe_open(tmp_path / "new.safetensors", "np") as f:
        meta, tensors = f.metadata(), {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118 (not a dict)
    assert {k.split(".")[1] for k in tensors if k.startswith("optimizer.")} == {"m_sum", "v_sum"}
    renamed = {k.replace("_sum.", "."): v for k, v in tensors.items()}
    save_file(renamed, tmp_path / "old.safetensors", metadata=meta)
    with pytest.raises(ModelFileError, match="old.safetensors.*optimizer.m_sum"):
        io.load_checkpoint(tmp_path / "old.safetensors")


def test_every_truncation_is_a_clear_error(model_file):
    data = model_file.read_bytes()
    cut = model_file.with_name("cut.safetensors")
    for n in range(len(data)):
        cut.write_bytes(data[:n])
        with pytest.raises(ModelFileError, match="cut.safetensors"):
            nz.load(cut)


def _split(data):
    n = int.from_bytes(data[:8], "little")
    return json.loads(data[8:8 + n]), data[8 + n:]


def _join(header, body, raw=None):
    text = raw if raw is not None else json.dumps(header).encode()
    return len(text).to_bytes(8, "little") + text + body


def _edit_doc(fn):
    def edit(header, body):
        doc = json.loads(header["__metadata__"]["nnzero"])
        fn(doc)
        header["__metadata__"]["nnzero"] = json.dumps(doc)
        return _join(header, body)
    return edit


def _edit_header(fn):
    def edit(header, body):
        fn(header)
        return _join(header, body)
    return edit


def _layer0(doc):
    return doc["model"]["layers"][0]["config"]


CORRUPTIONS = {
    "not JSON": (lambda h, b: _join(h, b, raw=b"{not json" + b" " * 40), "not valid JSON"),
    "metadata not JSON": (_edit_header(lambda h: h["__metadata__"].update(nnzero="{oops")), "not valid JSON"),
    "no metadata": (_edit_header(lambda h: h.pop("__metadata__")), "no nnzero metadata"),
    "wrong shape": (_edit_header(lambda h: h["0.b"].update(shape=[2, 2])), "tensor '0.b'"),
    "float16": (_edit_header(lambda h: h["0.b"].update(dtype="F16")), "dtype 'F16'"),
    "float64 tensor in a float32 model": (
        _edit_header(lambda h: h["0.b"].update(dtype="F64", data_offsets=[h["0.b"]["data_offsets"][0],
                                                                           h["0.b"]["data_offsets"][0] + 32])),
        "spans|gap|overlap|expected F32"),
    "unknown tensor field": (_edit_header(lambda h: h["0.b"].update(note="x")), "exactly dtype, shape"),
    "unknown metadata key": (_edit_doc(lambda d: d.update(surprise=1)), "unknown metadata keys"),
    "newer format": (_edit_doc(lambda d: d.update(format_version=99)), "newer nnzero"),
    "bad kind": (_edit_doc(lambda d: d.update(kind="weights")), "kind must be"),
    "missing tensor bytes": (_edit_header(lambda h: h.pop("2.b")), "trailing bytes"),
    "extra tensor": (_edit_header(lambda h: h.update(extra={"dtype": "F32", "shape": [0], "data_offsets": [0, 0]})),
                     "unexpected \\['extra'\\]"),
    "offsets out of bounds": (_edit_header(lambda h: h["2.b"].update(
        data_offsets=[h["2.b"]["data_offsets"][0] + 4000, h["2.b"]["data_offsets"][1] + 4000])), "gap|need"),
    "overlapping offsets": (_edit_header(lambda h: h["0.b"].update(data_offsets=[0, 16])), "overlap"),
    "NaN in a shape": (lambda h, b: _join(h, b, raw=json.dumps(h).replace('"shape": [4]', '"shape": [NaN]').encode()),
                       "NaN is not allowed"),
    "negative shape": (_edit_header(lambda h: h["0.b"].update(shape=[-4])), "invalid shape"),
    "boolean shape": (_edit_header(lambda h: h["0.b"].update(shape=[True])), "invalid shape"),
    "duplicate key": (lambda h, b: _join(h, b, raw=json.dumps(h).replace('{"__metadata__"', '{"0.b": 1, "__metadata__"', 1).encode()),
                      "duplicate key"),
    "deep nesting": (lambda h, b: _join(h, b, raw=b"[" * 100000 + b"]" * 100000), "not valid JSON"),
    # Consistent but enormous layers: refused by the tensor-shape check, before any allocation.
    "huge Dense in the config": (_edit_doc(lambda d: (_layer0(d).update(n_out=10 ** 12),
                                                      d["model"]["layers"][2]["config"].update(n_in=10 ** 12))),
                                 r"tensor '0.W' is F32 \[5, 4\], expected F32 \[5, 1000000000000\]"),
    "unknown layer": (_edit_doc(lambda d: d["model"]["layers"][1].update(type="Conv2d")), "unknown layer type"),
    "bad layer config": (_edit_doc(lambda d: _layer0(d).update(init="zeros")), "initialiser"),
    "wrong class count": (_edit_doc(lambda d: d["classes"]["values"].pop()), "class labels"),
    "unsorted classes": (_edit_doc(lambda d: d["classes"].update(values=[2, 1, 0])), "sorted"),
    "object classes": (_edit_doc(lambda d: d["classes"].update(dtype="|O")), "classes must be"),
    "class out of dtype range": (_edit_doc(lambda d: d["classes"].update(dtype="|u1", values=[0, 1, 300])),
                                 "do not fit"),
    "bad preprocessing": (_edit_doc(lambda d: d.update(preprocessing={"kind": "scale", "factor": "x"})),
                          "preprocessing"),
    "ragged history": (_edit_doc(lambda d: d["history"]["loss"].pop()), "history 'loss'"),
    "negative seed": (_edit_doc(lambda d: d.update(seed=-1)), "seed"),
    "huge header length": (lambda h, b: (2 ** 63).to_bytes(8, "little") + b"{}" * 10, "header length"),
    "header past the end": (lambda h, b: _join(h, b)[:8] + b"{}", "header length"),
    "trailing bytes": (lambda h, b: _join(h, b + b"\0" * 8), "trailing bytes"),
    # (a file with no tensors_sha256, as written before it existed: with one, the digest catches it first)
    "non-finite weights": (lambda h, b: _edit_doc(lambda d: d.pop("tensors_sha256"))(h, b"\0\0\xc0\x7f" + b[4:]),
                           "NaN or infinite"),
    "header not an object": (lambda h, b: _join(h, b, raw=b"[1, 2, 3]"), "must be a JSON object"),
    "not UTF-8": (lambda h, b: _join(h, b, raw=b"\xff\xfe" * 10), "not UTF-8"),
}


@pytest.mark.parametrize("case", sorted(CORRUPTIONS))
def test_corrupted_files_are_clear_errors(model_file, case):
    edit, message = CORRUPTIONS[case]
    header, body = _split(model_file.read_bytes())
    model_file.write_bytes(edit(header, body))
    with pytest.raises(ModelFileError, match=message) as info:
        nz.load(model_file)
    assert str(model_file) in str(info.value)


def _edit_checkpoint(path, fn):
    header, body = _split(path.read_bytes())
    path.write_bytes(fn(header, body))


@pytest.mark.parametrize("edit, message", [
    (_edit_doc(lambda d: d["checkpoint"]["rng_state"]["state"].update(state="-5")), "PCG64"),
    (_edit_doc(lambda d: d["checkpoint"]["optimizer"].update(name="lbfgs")), "checkpoint optimizer"),
    (_edit_doc(lambda d: d["checkpoint"]["optimizer"]["config"].update(lr=-1.0)), "invalid optimizer"),
    (_edit_doc(lambda d: d["checkpoint"].update(epoch=5)), "epoch 5 of 2"),
    (_edit_doc(lambda d: d["checkpoint"].update(epoch=1)), "history of exactly"),
    (_edit_doc(lambda d: d.pop("checkpoint")), "checkpoint state"),
    (_edit_header(lambda h: h.pop("optimizer.m_sum.0.W")), "gap|missing"),
])
def test_corrupted_checkpoints_are_clear_errors(tmp_path, edit, message):
    model, _ = _trained()
    path = tmp_path / "c.safetensors"
    io.save_checkpoint(path, model)
    _edit_checkpoint(path, edit)
    with pytest.raises(ModelFileError, match=message):
        io.load_checkpoint(path)


@pytest.mark.parametrize("change, message", [
    (lambda t: t.pop("2.b"), r"missing \['2.b'\]"),
    (lambda t: t.update({"3.W": np.ones((2, 2), np.float32)}), r"unexpected \['3.W'\]"),
    (lambda t: t.update({"0.W": t["0.W"].T.copy()}), r"tensor '0.W' is F32 \[4, 5\], expected F32 \[5, 4\]"),
    (lambda t: t.update({"0.b": t["0.b"].astype(np.float64)}), "tensor '0.b' is F64"),
])
def test_well_formed_safetensors_that_do_not_fit_the_model(model_file, change, message):
    """Valid safetensors files (as another tool might write them) whose tensors do not match the
    architecture in their metadata."""
    st = pytest.importorskip("safetensors.numpy")
    header, _ = _split(model_file.read_bytes())
    tensors = st.load(model_file.read_bytes())
    change(tensors)
    model_file.write_bytes(st.save(tensors, metadata=header["__metadata__"]))
    with pytest.raises(ModelFileError, match=message):
        nz.load(model_file)


def test_not_a_model_file(tmp_path):
    for name, content in (("empty", b""), ("text", b"hello world, not a model"), ("npy", None)):
        path = tmp_path / f"{name}.safetensors"
        if content is None:
            np.save(tmp_path / "a.npy", np.zeros(3))
            path = tmp_path / "a.npy"
        else:
            path.write_bytes(content)
        with pytest.raises(ModelFileError, match=path.name):
            nz.load(path)
    with pytest.raises(ModelFileError, match="no such file"):
        nz.load(tmp_path / "missing.safetensors")
    with pytest.raises(ModelFileError, match="directory"):
        nz.load(tmp_path)


WRITER = """
import sys, numpy as np, nnzero as nz
model = nz.mlp(784, [256], 10).build(seed=0)
k = 0
while True:
    k += 1
    model.set_weights({n: np.full_like(p, k) for n, p in model.params.items()})
    model.save(sys.argv[1])
    print(k, flush=True)
"""


def test_killed_writer_leaves_a_complete_file(tmp_path):
    """SIGKILL a process that rewrites a model file in a loop: the file under the final name is
    always a whole one (every weight equal to one write's value), never a torn mix."""
    path = tmp_path / "m.safetensors"
    delays = np.random.default_rng(7).uniform(0.0, 0.15, 4)
    env = {**os.environ, "PYTHONPATH": SRC}
    for delay in delays:
        proc = subprocess.Popen([sys.executable, "-c", WRITER, str(path)], env=env, stdout=subprocess.PIPE)
        proc.stdout.readline()                      # at least one complete write exists
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        proc.stdout.close()
        model = nz.load(path)
        values = np.unique(np.concatenate([p.ravel() for p in model.params.values()]))
        assert len(values) == 1 and values[0] >= 1
