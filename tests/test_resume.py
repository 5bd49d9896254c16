"""Exact resume: a run interrupted at any point (Ctrl-C, SIGKILL) and resumed from its checkpoint
ends with byte-identical weights to an uninterrupted run."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import nnzero as nz
from nnzero import serialization as io, recipes
from nnzero.cli import main
from nnzero.cli.checkpointing import Checkpointer
from nnzero.errors import ConfigError, DataError

SRC = str(Path(nz.__file__).resolve().parents[1])


def weight_bytes(model_or_path):
    model = nz.load(model_or_path) if isinstance(model_or_path, (str, Path)) else model_or_path
    return {k: v.tobytes() for k, v in model.params.items()}


# -- the Python API: fit(resume=...) ------------------------------------------------------------
def _toy():
    rng = np.random.default_rng(5)
    X = rng.standard_normal((240, 12)).astype(np.float32)
    return X, (X[:, 0] + X[:, 1] > 0).astype(int) + (X[:, 2] > 1)


def _fresh(optimizer):
    settings = {**recipes.get("default"), "hidden": [16, 8], "dropout": 0.25, **optimizer}
    return recipes.build_model(settings, 12, 3), recipes.build_optimizer(settings)


FIT = dict(epochs=5, batch_size=32, validation_split=0.2, seed=11)
OPTIMIZERS = {"adam-cosine": {}, "sgd-nesterov": {"optimizer": "sgd", "lr": 0.05, "momentum": 0.9, "nesterov": True,
                                                   "schedule": {"name": "step", "step_size": 2}},
              "sgd-plain": {"optimizer": "sgd", "lr": 0.1, "schedule": None},
              "adamw": {"optimizer": "adamw", "weight_decay": 0.05}}


class _Interrupt(nz.Callback):
    """Ctrl-C after ``batches`` steps in total."""

    def __init__(self, batches):
        self.left = batches

    def on_batch_end(self, batch, logs=None):
        self.left -= 1
        if self.left == 0:
            raise KeyboardInterrupt


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_fit_resumes_exactly_from_any_step(tmp_path, name):
    X, y = _toy()
    model, opt = _fresh(OPTIMIZERS[name])
    batches = []
    model.fit(X, y, optimizer=opt, callbacks=[nz.LambdaCallback(on_batch_end=lambda b, logs: batches.append(b))],
              **FIT)
    expected, expected_loss = weight_bytes(model), model.history["loss"]
    nb = len(batches) // FIT["epochs"]
    # Interrupt in the first epoch (checkpoint of epoch 0), in the last batch of an epoch, just
    # after an epoch, in the middle of one, in the last epoch.
    for steps in (2, nb, nb + 1, 2 * nb + 3, 4 * nb - 1, 4 * nb + 2):
        model, opt = _fresh(OPTIMIZERS[name])
        with pytest.raises(KeyboardInterrupt):
            model.fit(X, y, optimizer=opt, callbacks=[_Interrupt(steps)], **FIT)
        io.save_checkpoint(tmp_path / "c.safetensors", model)
        model, opt, state = io.load_checkpoint(tmp_path / "c.safetensors")
        assert state.epoch == (steps - 1) // nb     # the last epoch completed before the interrupt
        model.fit(X, y, epochs=state.epochs, batch_size=state.batch_size, optimizer=opt,
                  validation_split=0.2, resume=state)
        assert weight_bytes(model) == expected, (name, steps)
        assert model.history["loss"] == expected_loss


def test_fit_with_augmentation_resumes_exactly_from_any_step(tmp_path):
    # 5×5 "images": the warp draws from the run's stream between the shuffle and dropout draws,
    # so the checkpointed generator state must carry it.
    rng = np.random.default_rng(8)
    X = rng.random((200, 25)).astype(np.float32)
    y = (X[:, :12].sum(axis=1) > X[:, 13:].sum(axis=1)).astype(int)
    aug = nz.Augment(shift=1, rotate=10, scale=0.1, shear=0.1, elastic=0.8, elastic_sigma=2)

    def fresh():
        settings = {**recipes.get("default"), "hidden": [16], "dropout": 0.25}
        return recipes.build_model(settings, 25, 2), recipes.build_optimizer(settings)

    fit = dict(epochs=4, batch_size=32, validation_split=0.2, seed=2)
    model, opt = fresh()
    model.fit(X, y, optimizer=opt, augment=aug, **fit)
    expected, expected_loss = weight_bytes(model), model.history["loss"]
    model, opt = fresh()
    model.fit(X, y, optimizer=opt, **fit)
    assert weight_bytes(model) != expected               # the augmentation did change the run
    for steps in (3, 5, 6, 13):                           # 5 batches an epoch
        model, opt = fresh()
        with pytest.raises(KeyboardInterrupt):
            model.fit(X, y, optimizer=opt, callbacks=[_Interrupt(steps)], augment=aug, **fit)
        io.save_checkpoint(tmp_path / "c.safetensors", model)
        model, opt, state = io.load_checkpoint(tmp_path / "c.safetensors")
        assert state.metadata["training"]["augment"] == aug.config()
        again = nz.Augment.from_config(state.metadata["training"]["augment"])
        model.fit(X, y, epochs=state.epochs, batch_size=state.batch_size, optimizer=opt,
                  validation_split=0.2, resume=state, augment=again)
        assert weight_bytes(model) == expected, steps
        assert model.history["loss"] == expected_loss


def test_fit_with_early_stopping_resumes_exactly_from_every_epoch(tmp_path):
    # EarlyStopping picks up a checkpointed run: counters replayed from the history, best weights
    # from the checkpoint. lr 0.05 makes val_loss rise early, so the run stops before its 12 epochs.
    X, y = _toy()
    fit = dict(FIT, epochs=12)
    settings = {"lr": 0.05, "schedule": None}

    def early_stopping():
        return nz.EarlyStopping(monitor="val_loss", patience=2)

    model, opt = _fresh(settings)
    es = early_stopping()
    def save(epoch, logs):
        io.save_checkpoint(tmp_path / f"e{epoch + 1}.safetensors", model, early_stopping=es)
        io.save_checkpoint(tmp_path / f"bare{epoch + 1}.safetensors", model)

    saves = nz.LambdaCallback(on_epoch_end=save)
    model.fit(X, y, optimizer=opt, callbacks=[es, saves], **fit)
    expected, stopped = weight_bytes(model), es.stopped_epoch
    assert stopped is not None and stopped + 1 < fit["epochs"]
    assert es.best_epoch < stopped                  # the best weights are not the last ones

    for k in range(1, stopped + 1):
        model, opt, state = io.load_checkpoint(tmp_path / f"e{k}.safetensors")
        es = early_stopping()
        model.fit(X, y, epochs=state.epochs, batch_size=state.batch_size, optimizer=opt,
                  validation_split=0.2, callbacks=[es], resume=state)
        assert es.stopped_epoch == stopped, k
        assert weight_bytes(model) == expected, k

    # Saved without the EarlyStopping, a checkpoint whose best epoch is not its last lacks the
    # best weights: refused, not guessed.
    model, opt, state = io.load_checkpoint(tmp_path / f"bare{stopped}.safetensors")
    with pytest.raises(nz.errors.ModelFileError, match="no early-stopping weights"):
        model.fit(X, y, epochs=state.epochs, batch_size=state.batch_size, optimizer=opt,
                  validation_split=0.2, callbacks=[early_stopping()], resume=state)


# -- the command line ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def train_file(mnist_small, tmp_path_factory):
    (X, y), _ = mnist_small
    path = tmp_path_factory.mktemp("data") / "train.npz"
    np.savez(path, X=np.round(X[:1000] * 255).astype(np.uint8), y=y[:1000])
    return path


# Dropout, a validation split and early stopping that triggers (epoch 5 of 12): every piece of
# state a resume has to restore.
ES_RUN = ["--hidden", "32", "--dropout", "0.2", "--lr", "0.01", "--epochs", "12", "--batch-size", "64",
          "--early-stopping", "1", "--checkpoint-every", "1", "--quiet"]
# Slow enough epochs that a process can be killed in the middle of the run.
LONG_RUN = ["--hidden", "64", "--epochs", "20", "--batch-size", "16", "--checkpoint-every", "1", "--quiet"]


@pytest.fixture(scope="module")
def es_reference(train_file, tmp_path_factory):
    out = tmp_path_factory.mktemp("ref") / "es.safetensors"
    assert main(["train", "--data", str(train_file), *ES_RUN, "--out", str(out)]) == 0
    return out


@pytest.fixture(scope="module")
def long_reference(train_file, tmp_path_factory):
    out = tmp_path_factory.mktemp("ref") / "long.safetensors"
    assert main(["train", "--data", str(train_file), *LONG_RUN, "--out", str(out)]) == 0
    return out


@pytest.mark.slow
def test_cli_resumes_exactly_from_every_epoch(train_file, es_reference, tmp_path, monkeypatch, capsys):
    history = nz.load(es_reference).history
    stopped = len(history)
    assert stopped < 12              # early stopping did stop the run: its state must survive resume
    original = Checkpointer.on_epoch_end
    for stop in range(1, stopped + 1):
        def interrupt(self, epoch, logs=None):
            original(self, epoch, logs)
            if epoch + 1 == stop:
                raise KeyboardInterrupt
        monkeypatch.setattr(Checkpointer, "on_epoch_end", interrupt)
        out = tmp_path / f"run{stop}.safetensors"
        ckpt = tmp_path / f"run{stop}.ckpt.safetensors"
        assert main(["train", "--data", str(train_file), *ES_RUN, "--out", str(out)]) == 130
        err = capsys.readouterr().err
        assert err == (f"nnzero: interrupted; saved a checkpoint after epoch {stop} of 12 to {ckpt}; "
                       f"continue with: nnzero train --resume {ckpt}\n")
        assert not out.exists()
        monkeypatch.setattr(Checkpointer, "on_epoch_end", original)
        assert main(["train", "--resume", str(ckpt), "--quiet"]) == 0
        assert weight_bytes(out) == weight_bytes(es_reference), stop
        assert nz.load(out).history["val_loss"] == history["val_loss"]


def test_cli_resumes_from_the_middle_of_an_epoch(train_file, es_reference, tmp_path, monkeypatch, capsys):
    steps = []

    def interrupt(self, batch, logs=None):
        steps.append(batch)
        if steps.count(0) == 2 and batch == 4:        # the fifth step of the second epoch
            raise KeyboardInterrupt
    monkeypatch.setattr(Checkpointer, "on_batch_end", interrupt, raising=False)
    out = tmp_path / "m.safetensors"
    assert main(["train", "--data", str(train_file), *ES_RUN, "--out", str(out)]) == 130
    monkeypatch.undo()
    assert io.load_checkpoint(tmp_path / "m.ckpt.safetensors")[2]["epoch"] == 1
    assert main(["train", "--resume", str(tmp_path / "m.ckpt.safetensors")]) == 0
    assert "resuming after epoch 1 of 12" in capsys.readouterr().out
    assert weight_bytes(out) == weight_bytes(es_reference)


def _start(args, tmp_path):
    env = {**os.environ, "PYTHONPATH": SRC}
    return subprocess.Popen([sys.executable, "-m", "nnzero", "train", *args], env=env, cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_for(path, proc, timeout=60):
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline
        time.sleep(0.002)


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGINT])
def test_killed_process_resumes_exactly(train_file, long_reference, tmp_path, sig):
    out, ckpt = tmp_path / "m.safetensors", tmp_path / "m.ckpt.safetensors"
    proc = _start(["--data", str(train_file), *LONG_RUN, "--out", str(out)], tmp_path)
    _wait_for(ckpt, proc)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    if sig == signal.SIGINT:     # Ctrl-C: a fresh checkpoint and a one-line hint
        assert proc.returncode == 130 and f"continue with: nnzero train --resume {ckpt}" in err
    else:
        assert proc.returncode == -signal.SIGKILL
    epoch = io.read_metadata(ckpt)["checkpoint"]["epoch"]
    assert 1 <= epoch < 20 and not out.exists()          # really stopped in the middle of the run
    assert main(["train", "--resume", str(ckpt)]) == 0
    assert weight_bytes(out) == weight_bytes(long_reference)


def test_resume_keeps_the_run_settings_and_data(train_file, tmp_path, monkeypatch):
    out, ckpt = tmp_path / "m.safetensors", tmp_path / "m.ckpt.safetensors"
    original = Checkpointer.on_epoch_end

    def interrupt(self, epoch, logs=None):
        original(self, epoch, logs)
        raise KeyboardInterrupt
    monkeypatch.setattr(Checkpointer, "on_epoch_end", interrupt)
    assert main(["train", "--data", str(train_file), *ES_RUN, "--out", str(out)]) == 130
    monkeypatch.undo()
    with pytest.raises(ConfigError, match="--lr 0.1 differs from the checkpoint's 0.01"):
        from nnzero.cli import build_parser, train

        train.run(build_parser().parse_args(["train", "--resume", str(ckpt), "--lr", "0.1"]))
    (X, y) = nz.datasets.load_file(train_file)
    other = tmp_path / "other.npz"
    np.savez(other, X=X, y=np.roll(y, 1))
    with pytest.raises(DataError, match="sha256 mismatch"):
        train.run(build_parser().parse_args(["train", "--resume", str(ckpt), "--data", str(other)]))
