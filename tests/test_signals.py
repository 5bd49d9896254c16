"""SIGTERM/SIGHUP during training save the last whole epoch like Ctrl-C; start-up interrupts
are one quiet line; divergence (NaN, or a finite loss exploding) writes the last good weights or
says plainly that nothing was written, and names the likely cause."""

import os
import signal
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

import nnzero as nz
from nnzero.cli import main, signals
from nnzero.cli import train as train_cmd
from nnzero.divergence import LossWatch, likely_cause

SRC = str(Path(nz.__file__).resolve().parents[1])


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """8000 rows of 40 features, 4 classes: epochs long enough (~0.1-0.3 s) to signal between."""
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(4, 40)) * 2
    y = rng.integers(0, 4, 8000)
    X = (centres[y] + rng.normal(size=(8000, 40))).astype(np.float32)
    d = tmp_path_factory.mktemp("sig")
    np.savez(d / "data.npz", X=X, y=y)
    return d


TRAIN = ["--hidden", "64", "--batch-size", "16", "--epochs", "6", "--test-split", "0",
         "--preprocessing", "none", "--optimizer", "sgd", "--lr", "0.01", "--schedule", "constant"]


def _train_process(data, out, *extra):
    cmd = [sys.executable, "-m", "nnzero", "train", "--data", str(data / "data.npz"), "--out", str(out), *TRAIN,
           *extra]
    env = {**os.environ, "PYTHONPATH": SRC, "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


@pytest.mark.parametrize("signum, code, words", [(signal.SIGTERM, 143, "terminated (SIGTERM)"),
                                                 (signal.SIGHUP, 129, "hung up (SIGHUP)")])
def test_termination_signals_checkpoint_the_last_whole_epoch(data, tmp_path, signum, code, words):
    out = tmp_path / "m.safetensors"
    proc = _train_process(data, out)
    try:
        for line in proc.stdout:                 # one line per epoch (stdout is a pipe)
            if line.startswith("epoch 2/"):
                break
        proc.send_signal(signum)
        stdout, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
    ckpt = tmp_path / "m.ckpt.safetensors"
    assert proc.returncode == code, err
    assert err.count("\n") == 1 and err.startswith(f"nnzero: {words}; saved a checkpoint after epoch "), err
    assert err.rstrip().endswith(f"continue with: nnzero train --resume {ckpt}")
    assert "Traceback" not in err and not out.exists()
    assert not [p for p in tmp_path.iterdir() if ".part-" in p.name]
    state = nz.serialization.load_checkpoint(ckpt)[2]
    assert 2 <= state.epoch < 6
    if signum != signal.SIGTERM:
        return
    # Resumed, the run ends with the weights an uninterrupted run has.
    resumed = subprocess.run([sys.executable, "-m", "nnzero", "train", "--resume", str(ckpt), "--quiet"],
                             capture_output=True, text=True, env={**os.environ, "PYTHONPATH": SRC}, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    whole = tmp_path / "whole.safetensors"
    assert main(["train", "--data", str(data / "data.npz"), "--out", str(whole), *TRAIN, "--quiet"]) == 0
    a, b = nz.load(out).get_weights(), nz.load(whole).get_weights()
    assert all(np.array_equal(a[k], b[k]) for k in a)


def test_an_interrupt_during_start_up_is_one_quiet_line(monkeypatch, cli):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr("nnzero.cli.build_parser", interrupted)
    code, out, err = cli(["train"])
    assert (code, out, err) == (130, "", "nnzero: interrupted\n")


def test_sigterm_while_loading_data_exits_143_and_saves_nothing(data, tmp_path, monkeypatch, cli):
    def terminated(*args, **kwargs):
        os.kill(os.getpid(), signal.SIGTERM)      # the real signal, through the real handler
        raise AssertionError("the handler should have raised")

    previous = signal.getsignal(signal.SIGTERM)
    monkeypatch.setattr(train_cmd, "_load_data", terminated)
    code, out, err = cli(["train", "--data", data / "data.npz", "--out", tmp_path / "m.safetensors"])
    assert (code, err) == (143, "nnzero: terminated (SIGTERM)\n")
    assert list(tmp_path.iterdir()) == []
    assert signal.getsignal(signal.SIGTERM) is previous           # handlers are put back


def test_exit_codes_and_names():
    assert signals.exit_code(KeyboardInterrupt()) == 130
    assert signals.exit_code(signals.Interrupted(signal.SIGTERM)) == 143
    assert signals.name(signals.Interrupted(signal.SIGHUP)) == "hung up (SIGHUP)"


# -- divergence ---------------------------------------------------------------------------------
SMALL = ["--hidden", "16", "--epochs", "3", "--test-split", "0", "--quiet", "--preprocessing", "none"]


def test_a_finite_loss_that_explodes_stops_training_and_names_the_learning_rate(data, tmp_path, cli):
    out = tmp_path / "m.safetensors"
    code, _, err = cli(["train", "--data", data / "data.npz", "--out", out, "--optimizer", "adam", "--lr", "1e3",
                        *SMALL])
    assert code == 2 and "without becoming NaN" in err and "orders of magnitude" in err, err
    assert "Lower the learning rate (it was 1e+03)" in err
    assert f"Nothing was written to {out}: no epoch finished before it diverged" in err
    assert not out.exists()


def test_weight_decay_is_named_when_it_is_the_cause(data, tmp_path, cli):
    code, _, err = cli(["train", "--data", data / "data.npz", "--out", tmp_path / "m.safetensors",
                        "--optimizer", "sgd", "--lr", "0.1", "--weight-decay", "100", *SMALL])
    assert code == 2 and "training diverged" in err and "Likely cause: weight decay 100" in err, err
    assert "Lower the learning rate" not in err


def test_divergence_after_good_epochs_writes_the_last_good_weights(data, tmp_path, cli, monkeypatch):
    """The learning rate jumps to 1e6 from the third epoch on: epochs 1 and 2 are kept."""
    real = nz.SGD.lr_at
    monkeypatch.setattr(nz.SGD, "lr_at", lambda self, e, n: real(self, e, n) if e < 2 else 1e6)
    out = tmp_path / "m.safetensors"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        code, _, err = cli(["train", "--data", data / "data.npz", "--out", out, "--optimizer", "sgd", "--lr",
                            "0.01", "--schedule", "constant", *SMALL])
    assert code == 2 and err.count("\n") == 1 and "training diverged at epoch 3" in err, err
    assert err.rstrip().endswith(f"Saved the weights after epoch 2 to {out}.")
    model = nz.load(out)
    assert len(model.history) == 2 and "diverged at epoch 3" in model.metadata["notes"]["diverged"]
    assert all(np.isfinite(w).all() for w in model.get_weights().values())


def test_the_loss_watch_warns_then_stops():
    watch = LossWatch()
    assert watch.batch(2.0) is None and watch.batch(3.0) is None and watch.healthy
    with pytest.warns(nz.errors.DivergenceWarning, match="grew from 2 to 4000"):
        assert watch.batch(4000.0) is None
    assert not watch.healthy
    assert "without becoming NaN" in watch.batch(3e6)
    assert watch.epoch_end(5000.0) is None and "two epochs" in watch.epoch_end(6000.0)
    resumed = LossWatch(floor=np.log(10))         # a resumed run at loss 0.001 is not alarmed by 5.0
    assert resumed.batch(0.001) is None and resumed.batch(5.0) is None and resumed.healthy


def test_likely_cause_names_the_setting():
    assert "momentum 0.999" in likely_cause(nz.SGD(0.01, momentum=0.999), 0.01)
    assert "weight decay 10" in likely_cause(nz.SGD(0.1, weight_decay=10), 0.1)
    assert "inputs are large (up to 255)" not in likely_cause(nz.Adam(1.0), 1.0, 255.0)
    assert "inputs are large (up to 6.55e+04)" in likely_cause(nz.Adam(1e-3), 1e-3, 65535.0)
    assert "Lower the learning rate (it was 1)" in likely_cause(nz.Adam(1.0), 1.0)
