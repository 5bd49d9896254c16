"""The training loop: History, validation split, callbacks, full-batch and weighted training,
determinism, one dtype end to end, divergence, and a real-data sanity check."""

import os
import sys

import numpy as np
import pytest

import nnzero as nz
from nnzero import engine, training



def _same_bytes(a, b):
    return set(a) == set(b) and all(a[k].tobytes() == b[k].tobytes() for k in a)


# -- History and verbose output ------------------------------------------------------------------

def test_history_keys_and_values(rng, blobs, small_net):
    X, y = blobs(rng, [0, 1, 2])
    history = small_net(3).fit(X, y, epochs=3, batch_size=32, validation_split=0.2, seed=0)
    assert list(history.keys()) == ["loss", "accuracy", "val_loss", "val_accuracy", "lr", "time"]
    assert history.epoch == [0, 1, 2] and len(history) == 3
    assert all(len(history[k]) == 3 for k in history.keys())
    assert all(0 <= a <= 1 for a in history["accuracy"] + history["val_accuracy"])
    assert history["lr"] == [1e-3] * 3                    # the default optimizer, Adam(1e-3)
    assert history["loss"][-1] < history["loss"][0]
    no_val = small_net(3).fit(X, y, epochs=1, seed=0)
    assert np.isnan(no_val["val_loss"][0]) and np.isnan(no_val["val_accuracy"][0])


def test_verbose_2_prints_one_plain_line_per_epoch(rng, capsys, blobs, small_net):
    X, y = blobs(rng, [0, 1])
    small_net(2).fit(X, y, epochs=2, batch_size=16, verbose=2, seed=0)
    lines = capsys.readouterr().out.splitlines()
    assert [line.split("  ")[0] for line in lines] == ["epoch 1/2", "epoch 2/2"]
    assert all("loss" in line and "\r" not in line and "\x1b" not in line for line in lines)


# -- validation split -----------------------------------------------------------------------------

def test_validation_split_is_stratified_and_seeded(monkeypatch, rng, blobs, small_net):
    splits, real = [], training.stratified_split

    def recording_split(*args, **kwargs):
        splits.append(real(*args, **kwargs))
        return splits[-1]

    monkeypatch.setattr(training, "stratified_split", recording_split)
    X, y = blobs(rng, ["a", "b", "c"], n_per_class=40)
    keep = np.r_[0:40, 40:60, 80:90]                     # imbalanced: 40 a, 20 b, 10 c
    X, y = X[keep], y[keep]
    for seed in (1, 1, 2):
        small_net(3).fit(X, y, epochs=1, validation_split=0.25, seed=seed)
    (train, val), (train_again, val_again), (_, val_other) = splits
    # 25 % of each class: round(10), round(5), round(2.5) = 10, 5, 2 rows for validation.
    assert [int(np.sum(y[val] == c)) for c in "abc"] == [10, 5, 2]
    assert sorted(np.r_[train, val].tolist()) == list(range(70))
    np.testing.assert_array_equal(val, val_again)
    np.testing.assert_array_equal(train, train_again)
    assert not np.array_equal(val, val_other)


# -- callbacks ----------------------------------------------------------------------------------------

class Recorder(nz.Callback):
    """Logs every hook call; stops training at ``stop_at`` epoch end if given."""

    def __init__(self, stop_at=None):
        self.events, self.stop_at = [], stop_at

    def on_train_begin(self, logs=None): self.events.append("train_begin")
    def on_epoch_begin(self, epoch, logs=None): self.events.append(f"epoch_begin {epoch}")
    def on_batch_begin(self, batch, logs=None): self.events.append(f"batch_begin {batch}")
    def on_batch_end(self, batch, logs=None): self.events.append(f"batch_end {batch} n={logs['size']}")
    def on_train_end(self, logs=None): self.events.append("train_end")

    def on_epoch_end(self, epoch, logs=None):
        self.events.append(f"epoch_end {epoch} {sorted(logs)}")
        if epoch == self.stop_at:
            self.model.stop_training = True


def test_callback_hooks_run_in_order(rng, blobs, small_net):
    X, y = blobs(rng, [0, 1], n_per_class=25)            # 50 rows, batches of 20: 20, 20, 10
    model = small_net(2)
    rec = Recorder()
    model.fit(X, y, epochs=2, batch_size=20, callbacks=[rec], seed=0)
    keys = sorted(["loss", "accuracy", "lr", "time"])
    epoch = lambda e: ([f"epoch_begin {e}"]
                       + [ev for b, m in enumerate((20, 20, 10)) for ev in (f"batch_begin {b}", f"batch_end {b} n={m}")]
                       + [f"epoch_end {e} {keys}"])
    assert rec.events == ["train_begin", *epoch(0), *epoch(1), "train_end"]
    assert rec.model is model


def test_batch_logs_carry_the_batch_accuracy(rng, blobs, small_net):
    # on_batch_end's accuracy is the batch's own (from the logits of its training step, so with
    # the weights before that step's update); weighted by batch size they make the epoch's.
    X, y = blobs(rng, [0, 1, 2], n_per_class=20)         # 60 rows, batches of 25: 25, 25, 10
    model = small_net(3)
    begin, batches, epochs = [], [], []
    cb = nz.LambdaCallback(on_train_begin=lambda logs: begin.append(logs),
                           on_batch_end=lambda b, logs: batches.append(logs),
                           on_epoch_end=lambda e, logs: epochs.append(logs))
    model.fit(X, y, epochs=2, batch_size=25, callbacks=[cb], seed=0)
    assert begin == [{"epochs": 2, "n_batches": 3, "start_epoch": 0}]
    for e in range(2):
        logs = batches[3 * e:3 * e + 3]
        assert [b["size"] for b in logs] == [25, 25, 10]
        assert all(0 <= b["accuracy"] <= 1 and (b["accuracy"] * b["size"]).is_integer() for b in logs)
        correct = sum(round(b["accuracy"] * b["size"]) for b in logs)
        assert correct / 60 == epochs[e]["accuracy"]


def test_callback_can_stop_training(rng, blobs, small_net):
    X, y = blobs(rng, [0, 1])
    rec = Recorder(stop_at=1)
    history = small_net(2).fit(X, y, epochs=10, callbacks=[rec], seed=0)
    assert len(history) == 2 and rec.events[-1] == "train_end"


def test_early_stopping_stops_and_restores_best_weights(rng, blobs, small_net):
    # Validation labels are the training labels flipped: the better the fit, the worse val_loss,
    # so epoch 0 is the best and patience 2 stops training after epoch 2.
    X, y = blobs(rng, [0, 1])
    seen = []
    snap = nz.LambdaCallback(on_epoch_end=lambda epoch, logs: seen.append(model.get_weights()))
    for restore in (True, False):
        model = small_net(2)
        stop = nz.EarlyStopping(monitor="val_loss", patience=2, restore_best_weights=restore)
        seen.clear()
        history = model.fit(X, y, epochs=20, batch_size=16, optimizer=nz.Adam(0.03),
                            validation_data=(X, 1 - y), callbacks=[snap, stop], seed=0)
        assert len(history) == 3 and (stop.best_epoch, stop.stopped_epoch) == (0, 2)
        assert np.all(np.diff(history["val_loss"]) > 0)
        assert _same_bytes(model.get_weights(), seen[0] if restore else seen[2])


def test_early_stopping_without_validation_data_is_a_clear_error(rng, blobs, small_net):
    X, y = blobs(rng, [0, 1], n_per_class=5)
    with pytest.raises(nz.ConfigError, match="monitors 'val_loss' but it is not available"):
        small_net(2).fit(X, y, epochs=2, callbacks=[nz.EarlyStopping()])


@pytest.mark.parametrize("make, message", [
    (lambda: nz.EarlyStopping(monitor="val_f1"), "EarlyStopping cannot monitor 'val_f1'"),
    (lambda: nz.LambdaCallback(on_step=print), "unknown callback hook 'on_step'"),
])
def test_invalid_callback_settings(make, message):
    with pytest.raises(nz.ConfigError, match=message):
        make()


# -- full batch, sample weights, regression ---------------------------------------------------------

def test_batch_size_none_is_one_full_batch_gradient_step(rng, blobs, small_net):
    X, y = blobs(rng, [0, 1, 2], n_per_class=10)
    model = small_net(3, dtype="float64").build(seed=0)
    # The expected step, by hand: W ← W − lr·∂L/∂W over all 30 rows at once.
    loss, g = model.loss.loss_and_grad(model.forward(X.astype(np.float64), training=True), y)
    model.backward(g)
    expected = {k: w - 0.5 * model.grads[k] for k, w in model.params.items()}

    rec = Recorder()
    history = model.fit(X, y, epochs=1, batch_size=None, optimizer=nz.SGD(0.5), callbacks=[rec], seed=0)
    assert [e for e in rec.events if e.startswith("batch_end")] == ["batch_end 0 n=30"]
    assert history["loss"][0] == pytest.approx(loss, rel=1e-12)
    for k, w in expected.items():
        np.testing.assert_allclose(model.params[k], w, rtol=1e-12, atol=1e-15)


def test_zero_sample_weights_equal_dropping_the_rows(rng, blobs, small_net):
    # The weighted loss is Σ w_i ℓ_i / n over all n rows, so weights n/n_kept on the kept rows
    # and 0 on the others define exactly the loss of the kept rows alone.
    X, y = blobs(rng, [0, 1, 2], n_per_class=12)
    keep = rng.random(len(y)) < 0.6
    w = np.where(keep, len(y) / keep.sum(), 0.0)
    runs = []
    for Xr, yr, wr in ((X, y, w), (X[keep], y[keep], None)):
        model = small_net(3, dtype="float64").build(seed=0)
        history = model.fit(Xr, yr, epochs=5, batch_size=None, optimizer=nz.SGD(0.1, momentum=0.9),
                            sample_weight=wr, classes=[0, 1, 2], seed=0)
        runs.append((history["loss"], model.get_weights()))
    (loss_w, weights_w), (loss_k, weights_k) = runs
    np.testing.assert_allclose(loss_w, loss_k, rtol=1e-12)
    for k in weights_w:
        np.testing.assert_allclose(weights_w[k], weights_k[k], rtol=1e-10, atol=1e-13)


def test_regression_with_mse_learns(rng):
    X = rng.uniform(-2, 2, size=(256, 3)).astype(np.float32)
    y = (np.sin(X[:, 0]) + 0.5 * X[:, 1] * X[:, 2]).astype(np.float32)
    model = nz.Sequential([nz.Dense(3, 32, init="glorot"), nz.Tanh(), nz.Dense(32, 1)], loss="mse")
    history = model.fit(X, y, epochs=60, batch_size=32, optimizer=nz.Adam(0.01), seed=0)
    assert history["loss"][-1] < 0.05 * history["loss"][0]
    assert all(np.isnan(history["accuracy"]))
    assert model.evaluate(X, y)["loss"] < 0.05 * np.var(y)
    assert model.predict(X).shape == (256, 1)


# -- determinism ------------------------------------------------------------------------------------

def _train(X, y, seed, dropout, small_net):
    model = small_net(3, dropout=dropout)
    model.fit(X, y, epochs=3, batch_size=16, validation_split=0.2, seed=seed,
              optimizer=nz.SGD(0.05, momentum=0.9, nesterov=True))
    return model


@pytest.mark.parametrize("dropout", [0.0, 0.5])
def test_same_seed_gives_byte_identical_weights(dropout, rng, blobs, small_net):
    X, y = blobs(rng, [0, 1, 2])
    a, b, c = (_train(X, y, seed, dropout, small_net) for seed in (7, 7, 8))
    assert _same_bytes(a.get_weights(), b.get_weights())
    assert a.history["loss"] == b.history["loss"] and a.history["val_loss"] == b.history["val_loss"]
    assert not any(a.params[k].tobytes() == c.params[k].tobytes() for k in ("0.W", "3.W" if dropout else "2.W"))


def test_unseeded_runs_record_their_seed(rng, blobs, small_net):
    X, y = blobs(rng, [0, 1])
    first = small_net(2)
    first.fit(X, y, epochs=2)
    again = small_net(2)
    again.fit(X, y, epochs=2, seed=first.history.seed)
    assert _same_bytes(first.get_weights(), again.get_weights())


# -- one dtype end to end -----------------------------------------------------------------------------

NNZERO_DIR = os.path.dirname(os.path.abspath(nz.__file__))


def _is_float64(v):
    return isinstance(v, (np.ndarray, np.generic)) and v.dtype == np.float64


class Float64Alarm(np.ndarray):
    """A view type for parameters and gradients: every ufunc that touches one (and so every
    optimizer update, whose state is made with zeros_like/empty_like and inherits the type)
    reports a float64 result, even a temporary like the ``np.float64(lr) * g`` in ``p -= ...``."""

    found = None

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        plain = lambda a: a.view(np.ndarray) if isinstance(a, Float64Alarm) else a
        if "out" in kwargs:
            kwargs["out"] = tuple(plain(o) for o in kwargs["out"])
        result = getattr(ufunc, method)(*map(plain, inputs), **kwargs)
        for r in result if isinstance(result, tuple) else (result,):
            if _is_float64(r):
                caller = sys._getframe(1)
                Float64Alarm.found.append(f"{ufunc.__name__}.{method} -> float64 at "
                                          f"{caller.f_code.co_filename}:{caller.f_lineno}")
        return result


class Float64Tracer:
    """A sys.settrace hook: inside nnzero's own code, at every line and every return, any local
    variable (or item of a local dict/list/tuple) or return value that is a float64 array or
    NumPy float64 scalar is reported."""

    def __init__(self):
        self.found = []

    def _check(self, frame, name, value):
        items = value.items() if isinstance(value, dict) else (
            enumerate(value) if isinstance(value, (list, tuple)) else [(None, value)])
        for key, v in items:
            if _is_float64(v):
                where = f"{frame.f_code.co_filename}:{frame.f_lineno} in {frame.f_code.co_name}"
                self.found.append(f"{name}{'' if key is None else f'[{key!r}]'} is float64 at {where}")

    def _local(self, frame, event, arg):
        if event in ("line", "return"):
            for name, value in frame.f_locals.items():
                self._check(frame, name, value)
            if event == "return":
                self._check(frame, "return value", arg)
        return self._local

    def __call__(self, frame, event, arg):
        return self._local if frame.f_code.co_filename.startswith(NNZERO_DIR) else None


def float64_report(loss, optimizer, rng, blobs):
    """Train one epoch on float32 data under both detectors; return what they found and every
    parameter, gradient and optimizer-state array that is not float32."""
    X, y = blobs(rng, [0, 1, 2], n_per_class=15)        # 45 rows, batches of 16: a short last one
    layers = [nz.Dense(4, 8), nz.LeakyReLU(0.1), nz.Dropout(0.3), nz.Dense(8, 6), nz.Tanh(),
              nz.Dense(6, 5), nz.Sigmoid(), nz.Dense(5, 3), nz.Softmax()]
    if loss == "mse":
        y = np.eye(3, dtype=np.float32)[y]
    model = nz.Sequential(layers, loss=loss).build(seed=0)   # init may draw in float64; training may not
    for layer in model.layers:
        layer.params = {k: v.view(Float64Alarm) for k, v in layer.params.items()}
        layer.grads = {k: v.view(Float64Alarm) for k, v in layer.grads.items()}
    Float64Alarm.found, tracer = [], Float64Tracer()
    weight = np.linspace(0.5, 1.5, len(X), dtype=np.float32)

    previous = sys.gettrace()
    sys.settrace(tracer)
    try:
        model.fit(X, y, epochs=1, batch_size=16, optimizer=optimizer, sample_weight=weight,
                  validation_data=(X[:10], y[:10]), seed=0)
    finally:
        sys.settrace(previous)
        found, Float64Alarm.found = tracer.found + Float64Alarm.found, None

    arrays = {**model.params, **{f"grad {k}": g for k, g in model.grads.items()},
              **{f"state {k}": s for k, s in optimizer.state.items()}}
    return found, {k: a.dtype.name for k, a in arrays.items() if a.dtype != np.float32}


@pytest.mark.parametrize("loss, make_optimizer", [
    ("cross_entropy", lambda: nz.Adam(1e-3, weight_decay=1e-4)),
    ("cross_entropy", lambda: nz.AdamW(1e-3, schedule="cosine")),
    ("cross_entropy", lambda: nz.SGD(0.1, momentum=0.9, nesterov=True, weight_decay=1e-4,
                                     schedule={"name": "warmup", "warmup": 0.5})),
    ("mse", lambda: nz.SGD(0.01, momentum=0.5)),
])
def test_float32_training_creates_no_float64_array(loss, make_optimizer, rng, blobs):
    optimizer = make_optimizer()
    assert float64_report(loss, optimizer, rng, blobs) == ([], {})
    assert len(optimizer.state) >= 8                     # its state exists, so it was checked


def _float64_slot(self, name):
    """A state slot kept in float64 (a bug the float64 checks must catch)."""
    if name not in self.flat:
        self.flat[name] = np.zeros(self.flat_p.shape)
        self.opt.state.update({f"{name}.{k}": v for k, v in engine._split(self.flat[name], self.params).items()})
    return self.flat[name]


def test_the_float64_checks_catch_a_leak(monkeypatch, rng, blobs):
    # Prove the test above can fail. A float64 scalar in an update makes a float64 temporary
    # that the in-place subtraction silently casts back: only the Float64Alarm sees it.
    def leaky_update(self, g, lr):
        self.flat_p -= np.float64(lr) * g

    with monkeypatch.context() as m:
        m.setattr(engine._SGD, "update", leaky_update)
        found, _ = float64_report("mse", nz.SGD(0.01), rng, blobs)
    assert found and all(f.startswith("multiply.__call__ -> float64") for f in found)

    # A schedule that returns np.float64: the learning rate held in a local becomes float64.
    with monkeypatch.context() as m:
        m.setattr(nz.Constant, "__call__", lambda self, epoch, epochs: np.float64(1.0))
        m.setattr(nz.optimizers.Optimizer, "lr_at", lambda self, e, n: self.lr * self.schedule(e, n))
        found, _ = float64_report("mse", nz.SGD(0.01), rng, blobs)
    assert any(f.startswith("lr is float64") for f in found), found

    # A float64 optimizer state.
    with monkeypatch.context() as m:
        m.setattr(engine._Update, "slot", _float64_slot)
        found, wrong = float64_report("mse", nz.SGD(0.01, momentum=0.5), rng, blobs)
    assert found and wrong == {f"state velocity.{k}": "float64" for k in ("0.W", "0.b", "3.W", "3.b",
                                                                          "5.W", "5.b", "7.W", "7.b")}


# -- divergence -------------------------------------------------------------------------------------
# NumPy warns about the overflow on its way to inf; the point here is what fit does next.

@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_divergence_stops_with_a_plain_reason_and_keeps_the_last_good_weights(rng, blobs, small_net):
    X, y = blobs(rng, [0, 1, 2])
    model = small_net(3)
    optimizer = nz.SGD(0.05)
    after_epoch = []

    def blow_up(epoch, logs):
        after_epoch.append(model.get_weights())
        if epoch == 1:
            optimizer.lr = 1e12                          # two good epochs, then a hopeless lr

    with pytest.raises(nz.TrainingDivergedError) as info:
        model.fit(X, y, epochs=10, batch_size=16, optimizer=optimizer, seed=0,
                  callbacks=[nz.LambdaCallback(on_epoch_end=blow_up)])
    message = str(info.value)
    assert "training diverged at epoch 3" in message
    assert "The model keeps the weights after epoch 2" in message
    assert "Lower the learning rate (it was 1e+12)" in message and "scale the inputs" in message
    assert isinstance(info.value, nz.NnzeroError)
    assert len(info.value.history) == 2 and all(np.isfinite(info.value.history["loss"]))
    assert model.train_state.epoch == 2
    assert _same_bytes(model.get_weights(), after_epoch[-1])
    assert _same_bytes(model.train_state.weights, after_epoch[-1])
    assert all(np.isfinite(p).all() for p in model.params.values())


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_divergence_in_the_first_epoch_keeps_the_initial_weights(rng, blobs, small_net):
    X, y = blobs(rng, [0, 1, 2])
    model = small_net(3).build(seed=0)
    initial = model.get_weights()
    with pytest.raises(nz.TrainingDivergedError, match="keeps the initial weights. Lower the learning rate"):
        model.fit(X, y, epochs=3, batch_size=8, optimizer=nz.SGD(1e12), seed=0)
    assert _same_bytes(model.get_weights(), initial)
    assert len(model.history) == 0


# -- real data ----------------------------------------------------------------------------------------

@pytest.mark.slow
def test_mnist_subset_sanity(mnist_small):
    (X_train, y_train), (X_test, y_test) = mnist_small
    model = nz.mlp(784, [64], 10)
    history = model.fit(X_train[:2000], y_train[:2000], epochs=3, batch_size=32,
                        optimizer=nz.Adam(3e-3), seed=0)
    assert history["loss"][-1] < history["loss"][0]
    assert model.evaluate(X_test, y_test)["accuracy"] > 0.85
