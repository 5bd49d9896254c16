"""Every number and string in a model file's or checkpoint's metadata is checked by type and
range on load: crafted values are one clear line (exit 2), before any data is read."""

import json

import numpy as np
import pytest
from safetensors.numpy import load_file, save_file

import nnzero as nz
from nnzero.cli import main
from nnzero.errors import ModelFileError


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    d = tmp_path_factory.mktemp("meta")
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 4)).astype(np.float32)
    np.savez(d / "data.npz", X=X, y=(X[:, 0] > 0).astype(np.int64))
    assert main(["train", "--data", str(d / "data.npz"), "--out", str(d / "m.safetensors"), "--hidden", "4",
                 "--epochs", "2", "--checkpoint-every", "1", "--test-split", "0", "--quiet",
                 "--optimizer", "sgd", "--momentum", "0.9", "--lr", "0.1"]) == 0
    return d / "m.ckpt.safetensors"


def crafted(src, dst, edit, literal=None):
    """A copy of ``src`` whose nnzero document went through ``edit``; the string '__RAW__' in it
    becomes ``literal`` verbatim (numbers JSON allows but Python cannot hold, like 1e400)."""
    with open(src, "rb") as f:
        n = int.from_bytes(f.read(8), "little")
        header = json.loads(f.read(n))
    doc = json.loads(header["__metadata__"]["nnzero"])
    edit(doc)
    text = json.dumps(doc)
    if literal is not None:
        text = text.replace('"__RAW__"', literal)
    save_file(load_file(src), dst, metadata={"nnzero": text})
    return dst


def _set(*keys, value):
    def edit(doc):
        d = doc
        for k in keys[:-1]:
            d = d[k]
        d[keys[-1]] = value
    return edit


CASES = [
    (("checkpoint", "optimizer", "config", "lr"), "__RAW__", "9" * 400,
     "checkpoint.optimizer.config.lr is a 400-digit integer"),
    (("checkpoint", "optimizer", "config", "momentum"), "__RAW__", "1e400",
     "checkpoint.optimizer.config.momentum is inf; expected a finite number"),
    (("training", "lr"), "abc", None, "recorded training setting 'lr' must be a number > 0, got 'abc'"),
    (("training", "checkpoint_every"), "abc", None,
     "recorded training setting 'checkpoint_every' must be null or an integer ≥ 1, got 'abc'"),
    (("training", "hidden"), [10**9], None, "recorded training setting 'hidden' must be a list of layer sizes"),
    (("training", "epochs"), 2.5, None, "recorded training setting 'epochs' must be an integer"),
    (("training", "optimizer"), "rmsprop", None, "recorded training setting 'optimizer' must be one of"),
    (("training", "momentum"), 1.5, None, "recorded training setting 'momentum' must be a number in [0, 1)"),
    (("training", "weight_decay"), -1, None, "recorded training setting 'weight_decay' must be a number ≥ 0"),
    (("training", "out"), 7, None, "recorded training setting 'out' must be a file name"),
    (("dataset", "path"), ["x"], None, "recorded dataset field 'path' must be null or a path"),
    (("dataset", "test_split"), "0.1", None, "recorded dataset field 'test_split' must be null or a number"),
    (("history", "loss", 0), "__RAW__", "-1e999", "history.loss[0] is -inf"),
    (("seed",), "__RAW__", "1" + "0" * 30, "seed is a 31-digit integer"),
]


@pytest.mark.parametrize("keys, value, literal, words", CASES, ids=[".".join(map(str, c[0])) for c in CASES])
def test_crafted_checkpoint_values_are_one_clear_line(ckpt, tmp_path, cli, keys, value, literal, words):
    bad = crafted(ckpt, tmp_path / "bad.ckpt.safetensors", _set(*keys, value=value), literal)
    code, out, err = cli(["train", "--resume", bad, "--quiet"])
    assert code == 2 and err.count("\n") == 1 and str(bad) in err and words in err, err
    assert "Traceback" not in err and out == ""              # refused before any training


def test_document_level_checks_apply_to_every_reader(ckpt, tmp_path, cli):
    bad = crafted(ckpt, tmp_path / "bad.ckpt.safetensors",
                  _set("checkpoint", "optimizer", "config", "lr", value="__RAW__"), "9" * 400)
    for argv in (["inspect", bad], ["inspect", bad, "--json"]):
        code, _, err = cli(argv)
        assert code == 2 and "400-digit integer" in err, err
    with pytest.raises(ModelFileError, match="400-digit"):
        nz.serialization.load_checkpoint(bad)


def test_the_untouched_checkpoint_still_resumes(ckpt, cli):
    code, out, err = cli(["train", "--resume", ckpt, "--quiet", "--force"])
    assert code == 0, err
