"""One test per bug class that once slipped through the suite (issue #19).

Each test checks the plumbing against an independent reference: rows repeated by their integer
weights, a NumPy forward pass written here, the schedule's formula, a permutation check, a hand-made
sequence of monitored values, a spy on the operating system's calls. docs/testing.md lists each
class with the one-line bug that was put back into the source to watch the test fail.

Only public API is used (``nz.*``, ``model.params``/``grads``, user-defined losses, optimizers and
callbacks, the ``nnzero`` command), so the tests survive a refactor of the modules behind it.
"""

import csv
import json
import math
import os
import re
import stat

import numpy as np
import pytest

import nnzero as nz
from nnzero.cli import main


# -- spies -------------------------------------------------------------------------------------
class RecordingMSE(nz.MeanSquaredError):
    """Mean squared error that records every training batch it is given: (output, target, weight).

    ``frozen=True`` returns a zero gradient, so the weights never move and the output of a
    Dense(1, 1) with W = 1, b = 0 is the input row itself."""

    def __init__(self, frozen=False):
        self.batches, self.frozen = [], frozen

    def loss_and_grad(self, yhat, y, weight=None, grad=True, out=None):
        if not grad:                                   # validation / evaluation: not a training batch
            return super().loss_and_grad(yhat, y, weight, grad, out)
        self.batches.append((np.array(yhat), np.array(y), None if weight is None else np.array(weight)))
        if self.frozen:
            return 0.0, np.zeros_like(yhat)
        return super().loss_and_grad(yhat, y, weight, grad, out)


def identity_regressor(loss):
    """Dense(1, 1) with W = 1, b = 0 in float64: its output is its input."""
    model = nz.Sequential([nz.Dense(1, 1)], loss=loss, dtype="float64").build(seed=0)
    model.set_weights({k: (np.ones if v.ndim == 2 else np.zeros)(v.shape) for k, v in model.params.items()})
    return model


def small_classifier(n_features=4, hidden=6, classes=3):
    return nz.Sequential([nz.Dense(n_features, hidden), nz.Tanh(), nz.Dense(hidden, classes), nz.Softmax()],
                         dtype="float64")


def weights_of(model):
    return {k: v.copy() for k, v in model.params.items()}


def assert_same_weights(a, b, rtol=1e-10):
    assert a.keys() == b.keys()
    for k in a:
        np.testing.assert_allclose(a[k], b[k], rtol=rtol, atol=1e-13, err_msg=k)


def blocks_of_mean_one(rng, n_blocks, size):
    """Integer weights in 0..3, each consecutive block of ``size`` summing to ``size`` (mean 1)."""
    w = []
    for _ in range(n_blocks):
        block = np.zeros(size, dtype=int)
        for _ in range(size):                          # drop `size` unit weights into random slots, ≤ 3 each
            free = np.flatnonzero(block < 3)
            block[rng.choice(free)] += 1
        w.append(block)
    return np.concatenate(w)


# -- 1. sample_weight in mini-batches ----------------------------------------------------------
# Weights are per-row multipliers of the loss, L_B = Σ_{i∈B} w_i·ℓ_i / |B|. If a batch's weights
# average exactly 1, that batch's gradient equals the plain mean gradient over the batch with
# row i repeated w_i times (a batch of the same size). So, unshuffled, a weighted fit over blocks
# of mean-one weights equals, step for step, the unweighted fit on np.repeat(X, w).
@pytest.mark.parametrize("batch_size", [None, 6])
def test_weighted_fit_equals_the_fit_on_rows_repeated_by_their_weights(batch_size, rng):
    n, bs = 24, 6
    X = rng.normal(size=(n, 4))
    y = rng.integers(0, 3, size=n)
    w = blocks_of_mean_one(rng, n // bs, bs)
    assert w.sum() == n and (w != 1).sum() >= n // 2
    settings = dict(epochs=3, batch_size=batch_size, shuffle=False, seed=7)

    weighted = small_classifier()
    h_w = weighted.fit(X, y, optimizer=nz.SGD(0.5), sample_weight=w, **settings)
    repeated = small_classifier()
    h_r = repeated.fit(np.repeat(X, w, axis=0), np.repeat(y, w), optimizer=nz.SGD(0.5), **settings)
    plain = small_classifier()
    plain.fit(X, y, optimizer=nz.SGD(0.5), **settings)

    assert_same_weights(weights_of(weighted), weights_of(repeated))
    np.testing.assert_allclose(h_w["loss"], h_r["loss"], rtol=1e-10)
    # The weights matter: ignoring them gives a clearly different model.
    diff = max(np.abs(weights_of(weighted)[k] - weights_of(plain)[k]).max() for k in weighted.params)
    assert diff > 1e-2


def test_each_shuffled_batch_carries_the_weights_of_its_own_rows(rng):
    # Row i has target t_i (all distinct) and weight f(t_i); whatever the shuffle, every batch the
    # loss sees must pair each target with its own row's weight.
    n = 45
    t = rng.permutation(n).astype(float)
    f = lambda target: 1.0 + (target % 4)              # noqa: E731  (weights 1..4)
    spy = RecordingMSE(frozen=True)
    model = identity_regressor(spy)
    model.fit(t[:, None], t, epochs=2, batch_size=8, shuffle=True, seed=3, sample_weight=f(t),
              optimizer=nz.SGD(0.1))
    assert len(spy.batches) == 2 * math.ceil(n / 8)
    for _, target, weight in spy.batches:
        assert weight is not None
        np.testing.assert_array_equal(weight, f(target.ravel()))


# -- 2 and 3. the CLI's accuracy and its image prediction ---------------------------------------
def numpy_forward(weights, X):
    """Logits of Dense → ReLU → Dense, written out here: the reference for the CLI."""
    h = np.maximum(X @ weights["0.W"] + weights["0.b"], 0)
    return h @ weights["2.W"] + weights["2.b"]


@pytest.fixture(scope="module")
def random_model(tmp_path_factory):
    """(model file, model, X (10000, 20), y): labels right for the first 7000 rows, wrong after,
    by the reference forward pass, so the accuracy is 70 % and every chunk of rows differs."""
    d = tmp_path_factory.mktemp("acc")
    r = np.random.default_rng(11)
    X = r.normal(size=(10_000, 20)).astype(np.float32)
    model = nz.Sequential([nz.Dense(20, 32), nz.ReLU(), nz.Dense(32, 3), nz.Softmax()])
    model.fit(X[:300], r.integers(0, 3, 300), epochs=1, seed=0)           # sets the classes
    pred = numpy_forward(model.get_weights(), X.astype(np.float64)).argmax(axis=1)
    y = np.where(np.arange(len(X)) < 7000, pred, (pred + 1) % 3)
    path = d / "m.safetensors"
    nz.save(model, path)
    np.savez(d / "rows.npz", X=X, y=y)
    np.save(d / "rows.npy", X)
    return path, model, X, y


def test_cli_evaluate_accuracy_is_the_share_of_right_predictions_over_all_rows(random_model, capsys):
    path, model, X, y = random_model
    expected = np.mean(numpy_forward(model.get_weights(), X.astype(np.float64)).argmax(axis=1) == y)
    assert expected == 0.7                          # by construction of y
    assert main(["evaluate", str(path), "--data", str(path.parent / "rows.npz"), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["n"] == len(X)
    assert report["accuracy"] == pytest.approx(expected, abs=1e-12)
    assert np.trace(np.asarray(report["confusion_matrix"])) == 7000
    assert main(["evaluate", str(path), "--data", str(path.parent / "rows.npz")]) == 0
    assert "accuracy  70.00%  (7000 of 10000)" in capsys.readouterr().out


def test_cli_predict_rows_labels_every_row_like_the_reference(random_model, tmp_path, capsys):
    path, model, X, _ = random_model
    out = tmp_path / "pred.csv"
    assert main(["predict", str(path), "--data", str(path.parent / "rows.npy"), "--out", str(out)]) == 0
    with open(out, newline="") as fh:
        rows = list(csv.DictReader(fh))
    logits = numpy_forward(model.get_weights(), X.astype(np.float64))
    assert [int(r["label"]) for r in rows] == model.classes_[logits.argmax(axis=1)].tolist()


@pytest.mark.parametrize("preprocessing", [{"kind": "scale", "factor": 1 / 255}, {"kind": "none"}])
def test_cli_image_prediction_equals_model_predict_on_the_prepared_digit(preprocessing, tmp_path, capsys):
    images = pytest.importorskip("nnzero.images")
    Image = pytest.importorskip("PIL.Image")
    r = np.random.default_rng(5)
    model = nz.Sequential([nz.Dense(784, 16), nz.ReLU(), nz.Dense(16, 10), nz.Softmax()])
    model.fit(r.random((64, 784)).astype(np.float32), np.arange(64) % 10, epochs=1, seed=0)
    path = tmp_path / "m.safetensors"
    nz.save(model, path, preprocessing=preprocessing)
    canvas = np.zeros((40, 40), np.uint8)             # a thick light stroke on black, off-centre
    canvas[8:30, 14:19] = 255
    canvas[8:12, 10:19] = 200
    png = tmp_path / "one.png"
    Image.fromarray(canvas).save(png)

    digit = images.load_digit(png)                     # (784,) in [0, 1]: what the model must see
    assert digit.shape == (784,) and 0 <= digit.min() and digit.max() <= 1 and digit.max() > 0.5
    # The model's own inputs are its preprocessed rows, so for a 1/255 model the digit is already one.
    expected = model.predict_proba(digit[None].astype(np.float32))[0]

    out = tmp_path / "pred.csv"
    assert main(["predict", str(path), str(png), "--out", str(out)]) == 0
    with open(out, newline="") as fh:
        (row,) = list(csv.DictReader(fh))
    got = np.array([float(row[f"prob_{c}"]) for c in model.classes_])
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-7)


# -- 4. the learning rate at every batch -------------------------------------------------------
class UpdateRecorder(nz.Callback):
    """The learning rate each SGD step applied, read off the update: Δp = −lr·g  ⇒  lr = −Δp·g / g·g."""

    def __init__(self):
        self.lrs = []

    def on_batch_begin(self, batch, logs=None):
        self.before = {k: v.copy() for k, v in self.model.params.items()}

    def on_batch_end(self, batch, logs=None):
        dp = np.concatenate([(self.model.params[k] - self.before[k]).ravel() for k in self.before])
        g = np.concatenate([self.model.grads[k].ravel() for k in self.before])
        self.lrs.append(-float(dp @ g) / float(g @ g))


@pytest.mark.parametrize("schedule, factor", [
    (nz.Cosine(), lambda t, E: 0.5 * (1 + math.cos(math.pi * t / E))),
    (nz.StepDecay(step_size=0.5, gamma=0.5), lambda t, E: 0.5 ** math.floor(t / 0.5)),
    (nz.Warmup(warmup=2.0), lambda t, E: min(1.0, max(t / 2.0, 0.01))),
])
def test_the_lr_at_each_batch_is_the_schedule_at_the_fractional_epoch(schedule, factor, rng):
    n, bs, epochs, base = 20, 6, 3, 0.05                # 4 batches an epoch, the last one of 2 rows
    X, y = rng.normal(size=(n, 4)), rng.integers(0, 3, size=n)
    rec = UpdateRecorder()
    history = small_classifier().fit(X, y, epochs=epochs, batch_size=bs, seed=1, callbacks=[rec],
                                     optimizer=nz.SGD(base, schedule=schedule))
    n_batches = 4
    expected = [base * factor(e + b / n_batches, epochs) for e in range(epochs) for b in range(n_batches)]
    np.testing.assert_allclose(rec.lrs, expected, rtol=1e-9)
    assert len(set(np.round(expected, 12))) > epochs   # the schedule really moves within an epoch
    np.testing.assert_allclose(history["lr"], expected[n_batches - 1::n_batches], rtol=1e-12)


# -- 5. the shuffle ----------------------------------------------------------------------------
@pytest.mark.parametrize("n, bs", [(50, 8), (48, 12)])
def test_every_epoch_visits_a_fresh_permutation_of_the_rows(n, bs):
    spy = RecordingMSE(frozen=True)
    ids = np.arange(n, dtype=float)
    identity_regressor(spy).fit(ids[:, None], ids, epochs=4, batch_size=bs, seed=0, optimizer=nz.SGD(0.1))
    per_epoch = math.ceil(n / bs)
    assert len(spy.batches) == 4 * per_epoch
    orders = []
    for e in range(4):
        batches = spy.batches[e * per_epoch:(e + 1) * per_epoch]
        for output, target, _ in batches:             # each row's features travel with its target
            np.testing.assert_array_equal(output, target)
        order = np.concatenate([t.ravel() for _, t, _ in batches]).astype(int)
        np.testing.assert_array_equal(np.sort(order), np.arange(n))
        assert not np.array_equal(order, np.arange(n))
        orders.append(tuple(order))
    assert len(set(orders)) == 4


def test_shuffle_false_keeps_the_row_order():
    spy = RecordingMSE(frozen=True)
    ids = np.arange(20, dtype=float)
    identity_regressor(spy).fit(ids[:, None], ids, epochs=2, batch_size=6, shuffle=False, optimizer=nz.SGD(0.1))
    order = np.concatenate([t.ravel() for _, t, _ in spy.batches])
    np.testing.assert_array_equal(order, np.tile(np.arange(20), 2))


# -- 6 and 7. EarlyStopping's mode and min_delta ----------------------------------------------
def run_early_stopping(values, **settings):
    """Feed ``values`` epoch by epoch; return (epoch stopped at or None, best epoch)."""
    model = small_classifier().build(seed=0)
    es = nz.EarlyStopping(**settings)
    es.model = model
    model.stop_training = False
    es.on_train_begin({})
    for epoch, v in enumerate(values):
        es.on_epoch_end(epoch, {settings.get("monitor", "val_loss"): v})
        if model.stop_training:
            return epoch, es.best_epoch
    return None, es.best_epoch


@pytest.mark.parametrize("settings", [dict(monitor="val_accuracy"), dict(monitor="val_accuracy", mode="max"),
                                      dict(monitor="val_loss", mode="max")])
def test_early_stopping_mode_max_waits_for_a_higher_value(settings):
    # best 0.7 at epoch 2; epochs 3 and 4 are lower: stop at epoch 4 with patience 2.
    assert run_early_stopping([0.5, 0.6, 0.7, 0.65, 0.66, 0.9], patience=2, **settings) == (4, 2)
    assert run_early_stopping([0.5, 0.6, 0.7, 0.8, 0.9], patience=2, **settings) == (None, 4)


def test_early_stopping_mode_min_waits_for_a_lower_value():
    assert run_early_stopping([0.9, 0.8, 0.7, 0.75, 0.72, 0.1], patience=2) == (4, 2)
    assert run_early_stopping([0.5, 0.6, 0.7], patience=2, monitor="val_accuracy", mode="min") == (2, 0)


@pytest.mark.parametrize("mode, values", [("min", [1.0, 0.95, 0.91, 0.92, 0.5]),
                                          ("max", [0.50, 0.55, 0.59, 0.58, 0.9])])
def test_early_stopping_counts_changes_within_min_delta_as_no_improvement(mode, values):
    # Each step changes by less than min_delta = 0.1: no improvement after epoch 0.
    assert run_early_stopping(values, patience=2, mode=mode, min_delta=0.1) == (2, 0)
    # Without min_delta the small steps are improvements.
    assert run_early_stopping(values, patience=2, mode=mode)[0] is None


def test_early_stopping_min_delta_improvement_is_measured_from_the_best_value():
    # 1.0 → 0.85 improves by 0.15 > 0.1 (new best); 0.8, 0.78, 0.77 are each less than 0.1 below
    # 0.85, the best so far, which is what an improvement is measured from.
    assert run_early_stopping([1.0, 0.85, 0.8, 0.78, 0.77], patience=3, min_delta=0.1) == (4, 1)
    assert run_early_stopping([1.0, 0.85, 0.8, 0.78, 0.2], patience=3, min_delta=0.1) == (None, 4)


# -- 8. atomic writes: fsync the file, rename, fsync the folder ---------------------------------
@pytest.fixture
def os_spy(monkeypatch):
    """Record os.fsync (of a file: inode and size at that moment; of a folder: its inode) and
    os.replace, in call order."""
    events = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd):
        st = os.fstat(fd)
        kind = "dir" if stat.S_ISDIR(st.st_mode) else "file"
        events.append(("fsync", kind, st.st_ino, st.st_size))
        return real_fsync(fd)

    def replace(src, dst, *args, **kwargs):
        events.append(("replace", os.fspath(src), os.fspath(dst)))
        return real_replace(src, dst, *args, **kwargs)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    return events


def assert_durable_write(events, path):
    """The file's full contents were fsynced before the rename onto ``path``, and ``path``'s folder
    was fsynced after it."""
    path = os.fspath(path)
    st = os.stat(path)
    renames = [i for i, e in enumerate(events) if e[0] == "replace" and e[2] == path]
    assert renames, f"{path} was not written by os.replace: {events}"
    i = renames[-1]
    synced = [e for e in events[:i] if e[:3] == ("fsync", "file", st.st_ino)]
    assert synced and synced[-1][3] == st.st_size, f"the file was not fsynced in full before the rename: {events}"
    folder = os.stat(os.path.dirname(path)).st_ino
    assert ("fsync", "dir", folder, ) in [e[:3] for e in events[i + 1:]], f"no fsync of the folder after the rename: {events}"


def test_model_files_are_fsynced_then_renamed_then_the_folder_fsynced(os_spy, tmp_path, rng):
    model = small_classifier()
    model.fit(rng.normal(size=(12, 4)), np.arange(12) % 3, epochs=1, seed=0)
    path = tmp_path / "m.safetensors"
    nz.save(model, path)
    assert_durable_write(os_spy, path)
    os_spy.clear()
    nz.save(model, path)                                # over an existing file
    assert_durable_write(os_spy, path)


def test_cli_outputs_are_written_durably(os_spy, random_model, tmp_path, capsys):
    path = random_model[0]
    out = tmp_path / "pred.csv"
    assert main(["predict", str(path), "--data", str(path.parent / "rows.npy"), "--out", str(out)]) == 0
    assert_durable_write(os_spy, out)


# -- 9. validation loss with sample weights ----------------------------------------------------
def test_validation_loss_is_weighted_by_the_held_out_rows_sample_weights(rng):
    n = 40
    X = rng.normal(size=(n, 3))
    y = rng.normal(size=n)                              # distinct targets identify the rows
    w = rng.integers(1, 5, size=n).astype(float)
    spy = RecordingMSE()
    model = nz.Sequential([nz.Dense(3, 5), nz.Tanh(), nz.Dense(5, 1)], loss=spy, dtype="float64")
    history = model.fit(X, y, epochs=2, batch_size=8, validation_split=0.25, sample_weight=w, seed=2,
                        optimizer=nz.SGD(0.05))
    seen = np.concatenate([t.ravel() for _, t, _ in spy.batches])
    held_out = ~np.isin(y, seen)
    assert held_out.sum() == 10
    err = (np.asarray(model.predict(X[held_out])).ravel() - y[held_out]) ** 2
    weighted = float(np.sum(w[held_out] * err) / held_out.sum())
    assert history["val_loss"][-1] == pytest.approx(weighted, rel=1e-10)
    assert abs(weighted - err.mean()) > 1e-3 * weighted   # the weights change the number


def test_the_report_is_written_durably(os_spy, tmp_path, rng):
    pytest.importorskip("matplotlib")
    from nnzero.report import write_report

    model = nz.Sequential([nz.Dense(16, 8), nz.ReLU(), nz.Dense(8, 3), nz.Softmax()])
    X, y = rng.random((30, 16)).astype(np.float32), np.arange(30) % 3
    model.fit(X, y, epochs=2, seed=0, validation_split=0.2)
    index = write_report(model, tmp_path / "report", X, y)
    files = sorted((tmp_path / "report").iterdir())
    assert index in files and len(files) >= 3 and not [f for f in files if ".part" in f.name]
    for f in files:
        assert_durable_write(os_spy, f)


def test_temporary_names_fit_the_name_limit_and_carry_64_random_bits(os_spy, tmp_path, rng):
    # A legal output name of NAME_MAX bytes must not fail because its temporary sibling is longer.
    limit = os.pathconf(tmp_path, "PC_NAME_MAX")
    model = small_classifier()
    model.fit(rng.normal(size=(12, 4)), np.arange(12) % 3, epochs=1, seed=0)
    path = tmp_path / ("m" * (limit - len(".safetensors")) + ".safetensors")
    nz.save(model, path)
    assert_durable_write(os_spy, path)
    (temp,) = [os.path.basename(e[1]) for e in os_spy if e[0] == "replace"]
    assert len(os.fsencode(temp)) <= limit
    assert re.fullmatch(r"m+\.part-[0-9a-f]{16}", temp), temp


# -- EarlyStopping and History: settings, boundaries, nothing to restore (from mutation testing) --
def test_early_stopping_defaults():
    es = nz.EarlyStopping()
    assert (es.monitor, es.patience, es.min_delta, es.mode, es.restore_best_weights) == ("val_loss", 5, 0.0, "min", True)
    assert nz.EarlyStopping(monitor="val_accuracy").mode == "max"
    assert nz.EarlyStopping(monitor="accuracy").mode == "max"
    assert nz.EarlyStopping(patience=0).patience == 0


@pytest.mark.parametrize("kwargs, message", [
    (dict(patience=-1), "patience must be an integer ≥ 0, got -1"),
    (dict(patience=1.5), "patience must be an integer ≥ 0, got 1.5"),
    (dict(patience=True), "patience must be an integer ≥ 0, got True"),
    (dict(mode="maximum"), "mode must be 'auto', 'min' or 'max', got 'maximum'"),
])
def test_early_stopping_bad_settings_are_named(kwargs, message):
    with pytest.raises(nz.ConfigError, match=re.escape(message)):
        nz.EarlyStopping(**kwargs)


@pytest.mark.parametrize("mode", ["min", "max"])
def test_early_stopping_treats_an_equal_value_as_no_improvement(mode):
    assert run_early_stopping([0.5, 0.5, 0.5, 0.5], patience=2, mode=mode) == (2, 0)


def test_early_stopping_counts_from_zero_and_restores_nothing_when_nothing_improved():
    model = small_classifier().build(seed=0)
    before = weights_of(model)
    es = nz.EarlyStopping(patience=2)
    es.model = model
    es.on_train_begin({})
    for epoch in range(2):                              # +inf never improves on the initial +inf
        es.on_epoch_end(epoch, {"val_loss": math.inf})
        assert model.stop_training == (epoch == 1)
    es.on_train_end({})                                 # no best weights: the model stays as it is
    assert_same_weights(weights_of(model), before, rtol=0)


def test_early_stopping_without_its_metric_names_the_fix():
    es = nz.EarlyStopping()
    es.model = small_classifier().build(seed=0)
    es.on_train_begin({})
    with pytest.raises(nz.ConfigError, match=re.escape(
            "EarlyStopping monitors 'val_loss' but it is not available; pass validation data "
            "(or validation_split) or monitor 'loss'")):
        es.on_epoch_end(0, {"loss": 0.3})


def test_history_round_trips_values_diagnostics_and_seed():
    h = nz.History({"loss": [0.5, 0.25], "lr": [0.1, 0.05]}, epoch=[0, 1], diagnostics=[{"epoch": 0}], seed=42)
    assert h["loss"] == [0.5, 0.25] and h["lr"] == [0.1, 0.05] and len(h) == 2
    assert h.diagnostics == [{"epoch": 0}] and h.seed == 42
    again = nz.History.from_dict(h.to_dict())
    assert again.to_dict() == h.to_dict()
    assert again.seed == 42 and again.diagnostics == [{"epoch": 0}]


def test_history_to_dict_writes_nan_as_null_and_keeps_resumed_epoch_numbers():
    h = nz.History({"loss": [0.5, 0.25], "val_loss": [math.nan, 0.3]}, epoch=[3, 4], seed=7)
    d = h.to_dict()
    assert d["epoch"] == [3, 4] and d["loss"] == [0.5, 0.25] and d["val_loss"] == [None, 0.3]
    json.dumps(d, allow_nan=False)                      # model files refuse NaN in JSON
    again = nz.History.from_dict(d)
    assert again.epoch == [3, 4] and again["loss"] == [0.5, 0.25]
    assert math.isnan(again["val_loss"][0]) and again["val_loss"][1] == 0.3
    partial = nz.History.from_dict({"loss": [1.0]})      # keys it lacks come back empty
    assert partial["loss"] == [1.0] and partial["val_loss"] == [] and partial.epoch == [0]
