"""``nnzero train --augment``: presets and setting flags, the settings in the model file and in
``inspect``, exact resume with augmentation on, and one-line errors for non-images."""

import numpy as np
import pytest

import nnzero as nz
from nnzero.augment import PRESETS, Augment
from nnzero.cli import main
from nnzero.cli.checkpointing import Checkpointer

RUN = ["--hidden", "16", "--epochs", "3", "--batch-size", "100", "--quiet"]


@pytest.fixture(scope="module")
def digits(mnist_small, tmp_path_factory):
    (X, y), _ = mnist_small
    path = tmp_path_factory.mktemp("data") / "digits.npz"
    np.savez(path, X=np.round(X[:600] * 255).astype(np.uint8), y=y[:600])
    return path


def test_augment_preset_and_flags_are_recorded_and_inspected(digits, tmp_path, capsys):
    out = tmp_path / "m.safetensors"
    args = ["train", "--data", str(digits), *RUN[:-1], "--augment", "--aug-shift", "1.5", "--aug-rotate", "10",
            "--out", str(out)]
    assert main(args) == 0
    stdout = capsys.readouterr().out
    assert "augmentation: shift 1.5 px, rotate 10°, scale ±0.1, shear 0.1, elastic 1 px (sigma 4)" in stdout
    recorded = nz.load(out).metadata["training"]["augment"]
    assert recorded == Augment.preset("elastic", shift=1.5).config()
    assert main(["inspect", str(out)]) == 0
    assert "augment          shift=1.5 rotate=10.0" in capsys.readouterr().out


def test_a_setting_flag_alone_starts_from_the_affine_preset(digits, tmp_path):
    out = tmp_path / "m.safetensors"
    assert main(["train", "--data", str(digits), *RUN, "--aug-rotate", "5", "--out", str(out)]) == 0
    recorded = nz.load(out).metadata["training"]["augment"]
    assert recorded == Augment(**{**PRESETS["affine"], "rotate": 5.0}).config()


def test_no_augmentation_by_default_and_none_turns_it_off(digits, tmp_path, capsys):
    out = tmp_path / "m.safetensors"
    assert main(["train", "--data", str(digits), *RUN, "--augment", "none", "--out", str(out)]) == 0
    assert nz.load(out).metadata["training"]["augment"] is None
    assert main(["train", "--data", str(digits), *RUN, "--augment", "none", "--aug-shift", "1"]) == 2
    assert capsys.readouterr().err == "nnzero: error: --augment none cannot be combined with --aug-shift\n"


def test_augmenting_rows_that_are_not_images_is_one_line_and_exit_2(tmp_path, capsys):
    rng = np.random.default_rng(0)
    path = tmp_path / "table.npz"
    np.savez(path, X=rng.random((100, 10)).astype(np.float32), y=np.arange(100) % 2)
    assert main(["train", "--data", str(path), *RUN, "--augment", "--out", str(tmp_path / "m.safetensors")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("nnzero: error: augmentation needs image inputs: 10 features is not a square image")
    assert err.count("\n") == 1
    args = ["train", "--data", str(path), *RUN, "--augment", "--image-shape", "3x4"]
    assert main(args) == 2
    assert "image_shape 3x4 has 12 pixels, but the inputs have 10 features" in capsys.readouterr().err
    assert main([*args[:-1], "2x5", "--out", str(tmp_path / "m.safetensors")]) == 0    # a 2×5 "image"


def test_cli_resumes_exactly_with_augmentation(digits, tmp_path, monkeypatch, capsys):
    run = [*RUN, "--dropout", "0.2", "--augment", "--checkpoint-every", "1"]
    ref = tmp_path / "ref.safetensors"
    assert main(["train", "--data", str(digits), *run, "--out", str(ref)]) == 0
    original = Checkpointer.on_epoch_end

    def interrupt(self, epoch, logs=None):
        original(self, epoch, logs)
        if epoch == 0:
            raise KeyboardInterrupt
    monkeypatch.setattr(Checkpointer, "on_epoch_end", interrupt)
    out = tmp_path / "m.safetensors"
    assert main(["train", "--data", str(digits), *run, "--out", str(out)]) == 130
    monkeypatch.undo()
    ckpt = tmp_path / "m.ckpt.safetensors"
    capsys.readouterr()
    assert main(["train", "--resume", str(ckpt), "--aug-shift", "1"]) == 2
    assert "augmentation flags differ from the checkpoint's augmentation (shift 1.5 px" in capsys.readouterr().err
    assert main(["train", "--resume", str(ckpt), "--augment", "elastic", "--quiet"]) == 0   # same settings: fine
    a, b = nz.load(ref), nz.load(out)
    assert all(np.array_equal(a.params[k], b.params[k]) for k in a.params)
    assert a.history["loss"] == b.history["loss"]


@pytest.mark.parametrize("recipe", ["fast99", "best"])
def test_augmented_recipes_carry_their_augmentation(digits, tmp_path, recipe):
    from nnzero import recipes

    settings = recipes.get(recipe)
    assert settings["augment"] and Augment(**settings["augment"])       # valid settings
    assert all(isinstance(layer, (nz.Dense, nz.ReLU, nz.Dropout, nz.Softmax))
               for layer in recipes.build_model(settings, 784, 10).layers)  # dense layers only
    out = tmp_path / "m.safetensors"
    small = ["--hidden", "16", "--epochs", "1", "--quiet", "--out", str(out)]
    assert main(["train", "--data", str(digits), "--recipe", recipe, *small]) == 0
    assert nz.load(out).metadata["training"]["augment"] == Augment(**settings["augment"]).config()
    out = tmp_path / "none.safetensors"
    small[-1] = str(out)
    assert main(["train", "--data", str(digits), "--recipe", recipe, "--augment", "none", *small]) == 0
    assert nz.load(out).metadata["training"]["augment"] is None


def test_a_crafted_checkpoint_augmentation_is_a_clear_file_error():
    from nnzero.cli import recorded

    ok = {"augment": Augment().config()}
    recorded._check(ok, {"augment": recorded.CHECKS["augment"]}, "c.safetensors", "training setting")
    with pytest.raises(nz.ModelFileError, match="augment"):
        recorded._check({"augment": {"shift": "far"}}, {"augment": recorded.CHECKS["augment"]},
                        "c.safetensors", "training setting")
