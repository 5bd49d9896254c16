"""Outputs never destroy inputs, devices, links or finished models; a bad output path is refused
(exit 2, one line) before any work starts. Devices are private ``mknod`` clones of /dev/null."""

import os
import stat
from pathlib import Path

import numpy as np
import pytest

import nnzero as nz
from nnzero import safety
from nnzero._atomic import atomic_write, temp_path_for
from nnzero.cli import main
from nnzero.errors import ConfigError

TRAIN = ["--hidden", "4", "--epochs", "1", "--quiet", "--test-split", "0"]


def null_device(folder):
    """A private character device with /dev/null's numbers (needs root), never the real one."""
    path = Path(folder) / "null"
    try:
        os.mknod(path, stat.S_IFCHR | 0o666, os.stat("/dev/null").st_rdev)
    except (PermissionError, AttributeError):
        pytest.skip("creating a device node needs root")
    return path


@pytest.fixture
def files(tmp_path):
    """data.npz (60 rows, 4 features, 2 classes), rows.csv, and a trained model.safetensors."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 4)).astype(np.float32)
    y = (X[:, 0] > 0).astype(np.int64)
    np.savez(tmp_path / "data.npz", X=X, y=y)
    np.savetxt(tmp_path / "rows.csv", X[:5], delimiter=",", header="a,b,c,d", comments="")
    model = tmp_path / "model.safetensors"
    assert main(["train", "--data", str(tmp_path / "data.npz"), "--out", str(model), *TRAIN]) == 0
    return tmp_path


def refused(argv, cli, *words):
    code, out, err = cli(argv)
    assert code == 2 and err.count("\n") == 1 and err.startswith("nnzero: error: "), (argv, err)
    assert "training" not in out and "saved" not in out, out      # refused before any work
    for w in words:
        assert w in err, (w, err)
    return err


def test_predict_out_equal_to_the_model_is_refused(files, cli):
    model = files / "model.safetensors"
    before = model.read_bytes()
    refused(["predict", model, "--data", files / "rows.csv", "--out", model], cli,
            "same file as MODEL")
    assert model.read_bytes() == before


def test_outputs_equal_to_the_training_data_are_refused(files, cli):
    data = files / "data.npz"
    before = data.read_bytes()
    refused(["train", "--data", data, "--out", data, *TRAIN], cli, "--out", "same file as --data")
    refused(["train", "--data", data, "--checkpoint", data, "--out", files / "new.safetensors", *TRAIN],
            cli, "--checkpoint", "same file as --data")
    link = files / "alias.npz"
    link.symlink_to(data)
    refused(["train", "--data", link, "--out", data, *TRAIN], cli, "same file as --data")
    assert data.read_bytes() == before


@pytest.mark.parametrize("kind", ["device", "fifo", "directory"])
def test_outputs_that_are_not_regular_files_are_refused(files, cli, kind):
    if kind == "device":
        target, words = null_device(files), "is a character device"
    elif kind == "fifo":
        target, words = files / "pipe", "is a FIFO"
        os.mkfifo(target)
    else:
        target, words = files / "folder", "is a directory"
        target.mkdir()
    mode = os.stat(target).st_mode
    refused(["predict", files / "model.safetensors", "--data", files / "rows.csv", "--out", target], cli, words)
    refused(["train", "--data", files / "data.npz", "--out", target, *TRAIN], cli, words)
    refused(["train", "--data", files / "data.npz", "--checkpoint", target, "--out", files / "n.safetensors",
             *TRAIN], cli, words)
    assert os.stat(target).st_mode == mode                     # still the same kind of node


def test_a_symlinked_output_writes_its_target_and_keeps_the_link(files, cli):
    real, link = files / "real.csv", files / "link.csv"
    real.write_text("old\n")
    link.symlink_to(real)
    code, _, err = cli(["predict", files / "model.safetensors", "--data", files / "rows.csv", "--out", link])
    assert code == 0, err
    assert link.is_symlink() and os.readlink(link) == str(real)
    assert real.read_text().startswith("row,label,prob_0,prob_1\n")
    # The same through a link to a device: refused, and the link stays.
    dev_link = files / "dev.csv"
    dev_link.symlink_to(null_device(files))
    refused(["predict", files / "model.safetensors", "--data", files / "rows.csv", "--out", dev_link], cli,
            "is a character device")
    assert dev_link.is_symlink()


def test_atomic_write_through_a_link_to_a_model(tmp_path):
    real, link = tmp_path / "real.bin", tmp_path / "link.bin"
    real.write_bytes(b"old")
    link.symlink_to(real)
    with atomic_write(link) as f:
        f.write(b"new")
    assert link.is_symlink() and real.read_bytes() == b"new"


def test_missing_or_unusable_folders_are_refused_before_training(files, cli):
    refused(["train", "--data", files / "data.npz", "--out", files / "no" / "m.safetensors", *TRAIN], cli,
            "does not exist")
    (files / "plain").write_text("x")
    refused(["train", "--data", files / "data.npz", "--out", files / "plain" / "m.safetensors", *TRAIN], cli,
            "is not a folder")
    refused(["predict", files / "model.safetensors", "--data", files / "rows.csv",
             "--out", files / "no" / "p.csv"], cli, "does not exist")
    refused(["report", files / "model.safetensors", "--out", files / "plain", "--no-test"], cli,
            "is a regular file; expected a folder")


def test_an_unwritable_folder_is_refused_up_front(files, cli, monkeypatch):
    """The folder is probed by creating a file (root ignores permission bits, a read-only mount
    does not): simulate a read-only file system by making that creation fail."""
    real_open = os.open

    def read_only(path, flags, *args):
        if flags & os.O_CREAT:
            raise OSError(30, "Read-only file system", str(path))
        return real_open(path, flags, *args)

    monkeypatch.setattr(safety.os, "open", read_only)
    refused(["train", "--data", files / "data.npz", "--out", files / "n.safetensors", *TRAIN], cli,
            f"cannot write in the folder {files}: Read-only file system")


def test_a_model_file_is_only_replaced_with_force(files, cli):
    model = files / "model.safetensors"
    before = model.read_bytes()
    refused(["train", "--data", files / "data.npz", "--out", model, *TRAIN], cli,
            "existing nnzero model file; add --force")
    refused(["predict", model, "--data", files / "rows.csv", "--out", files / "model.safetensors"], cli)
    other = files / "other.safetensors"
    other.write_bytes(before)
    refused(["predict", model, "--data", files / "rows.csv", "--out", other], cli,
            "existing nnzero model file; add --force to replace it with other content")
    assert model.read_bytes() == before == other.read_bytes()
    code, _, err = cli(["train", "--data", files / "data.npz", "--out", model, "--seed", "1", "--force", *TRAIN])
    assert code == 0, err
    assert model.read_bytes() != before and nz.load(model).metadata["training"]["seed"] == 1
    code, _, err = cli(["predict", model, "--data", files / "rows.csv", "--out", other, "--force"])
    assert code == 0 and other.read_text().startswith("row,label"), err


def test_a_checkpoint_over_a_model_needs_force_and_resume_rewrites_its_own(files, cli):
    model = files / "model.safetensors"
    refused(["train", "--data", files / "data.npz", "--checkpoint", model, "--out", files / "n.safetensors",
             "--checkpoint-every", "1", *TRAIN], cli, "existing nnzero model file")
    ckpt = files / "run.ckpt.safetensors"
    args = ["train", "--data", files / "data.npz", "--out", files / "run.safetensors", "--checkpoint", ckpt,
            "--checkpoint-every", "1", "--hidden", "4", "--epochs", "2", "--quiet", "--test-split", "0"]
    assert cli(args)[0] == 0 and safety.sniff_kind(ckpt) == "checkpoint"
    (files / "run.safetensors").unlink()
    code, _, err = cli(["train", "--resume", ckpt, "--quiet"])
    assert code == 0, err


def test_long_output_names_get_short_enough_temporary_names(files, cli):
    name = "m" * 240 + ".safetensors"          # 252 bytes: legal; name + ".part-<16 hex>" is not
    code, _, err = cli(["train", "--data", files / "data.npz", "--out", files / name, "--checkpoint",
                        files / "c.safetensors", *TRAIN])
    assert code == 0, err
    assert nz.load(files / name).n_features == 4
    assert len(os.fsencode(temp_path_for(files / name).name)) <= os.pathconf(files, "PC_NAME_MAX")
    assert not [p for p in files.iterdir() if ".part-" in p.name]


def test_check_output_as_a_library_function(tmp_path):
    (tmp_path / "in.csv").write_text("1\n")
    assert safety.check_output(tmp_path / "fresh.csv") == tmp_path / "fresh.csv"
    with pytest.raises(ConfigError, match="same file as --data"):
        safety.check_output(tmp_path / "in.csv", inputs=[("--data", tmp_path / "in.csv")])
    with pytest.raises(ConfigError, match="--out and --checkpoint are the same file"):
        safety.check_distinct({"--out": tmp_path / "a", "--checkpoint": tmp_path / "." / "a"})


@pytest.mark.parametrize("kind", ["fifo", "device", "directory", "dangling"])
def test_inputs_that_are_not_regular_files_are_refused_without_hanging(files, cli, kind):
    if kind == "fifo":
        bad, words = files / "pipe.npz", "is a FIFO (named pipe), not a regular file"
        os.mkfifo(bad)                             # opening it for reading would block forever
    elif kind == "device":
        bad = files / "zero.npz"
        bad.symlink_to(null_device(files))
        words = "is a character device (a symbolic link to"
    elif kind == "directory":
        bad, words = files / "dir.npz", "is a directory, not a regular file"
        bad.mkdir()
    else:
        bad, words = files / "gone.npz", "is a symbolic link to"
        bad.symlink_to(files / "nowhere")
    model = files / "model.safetensors"
    refused(["train", "--data", bad, "--out", files / "n.safetensors", *TRAIN], cli, str(bad), words)
    refused(["evaluate", model, "--data", bad], cli, words)
    refused(["predict", bad, "--data", files / "rows.csv"], cli, words)
    refused(["inspect", bad], cli, words)
    pytest.importorskip("PIL")
    refused(["predict", model, bad], cli, words)
    with pytest.raises(nz.DataError, match="not a regular file|does not exist"):
        nz.datasets.read_idx(bad)


def test_report_and_search_folders_are_checked_before_work(files, cli):
    out = files / "report"
    out.mkdir()
    os.mkfifo(out / "index.html")                        # writing the page would block
    refused(["report", files / "model.safetensors", "--out", out, "--no-test"], cli,
            "index.html there is a FIFO (named pipe)")
    (files / "taken").write_text("x")
    refused(["report", files / "model.safetensors", "--out", files / "taken" / "sub", "--no-test"], cli,
            "is not a folder")
    search_dir = files / "search"
    search_dir.mkdir()
    (search_dir / "best.safetensors").mkdir()
    code, out_text, err = cli(["search", "--data", files / "data.npz", "--param", "lr=0.1", "--out-dir", search_dir,
                               *TRAIN])
    if "invalid choice: 'search'" in err:
        pytest.skip("no search command in this build")
    assert code == 2 and "best.safetensors there is a directory" in err, err
    # A missing folder is created with its parents, as before.
    code, _, err = cli(["report", files / "model.safetensors", "--out", files / "a" / "b", "--no-test"])
    assert code == 0 and (files / "a" / "b" / "index.html").is_file(), err
