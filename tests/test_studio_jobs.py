"""Training from the studio: the same code path as ``nnzero train`` (same weights, same error
messages), exact Stop/Resume through its checkpoints, one run at a time, the event stream."""

import numpy as np
import pytest

pytest.importorskip("starlette")
pytest.importorskip("uvicorn")
from starlette.testclient import TestClient  # noqa: E402

import nnzero as nz  # noqa: E402
from nnzero import studio  # noqa: E402
from nnzero.cli import main  # noqa: E402
from nnzero.studio.jobs import Job  # noqa: E402

FORM = {"hidden": "24", "epochs": "3", "batch_size": "64", "seed": "5", "validation_split": "0.1"}


@pytest.fixture(scope="module")
def small_npz(tmp_path_factory):
    """3000 MNIST rows as an NPZ file (seconds per run)."""
    (X, y), _ = nz.datasets.load_dataset("mnist")
    path = tmp_path_factory.mktemp("jobs") / "small.npz"
    np.savez(path, X=X[:3000], y=y[:3000])
    return path


def wait_for(job, kind):
    """Block until the running job has logged an event of type ``kind``."""
    while not any(e["type"] == kind for e in job.events):
        assert job.thread.is_alive(), job.message
        job.thread.join(0.05)


def cli_weights(tmp_path, form, data):
    argv = ["train", "--data", str(data), "--out", str(tmp_path / "cli.safetensors"), "--quiet"]
    for field, value in form.items():
        argv += ["--" + field.replace("_", "-"), value]
    assert main(argv) == 0
    return nz.load(tmp_path / "cli.safetensors").params


def test_stop_in_an_epoch_then_resume_equals_the_cli_run(tmp_path, small_npz):
    stops = []

    def stop_after_first_epoch(event):         # runs in the training thread: deterministic
        if event["type"] == "epoch" and event["epoch"] == 0 and not stops:
            stops.append(event)
            job.stop()

    job = Job(folder=tmp_path, on_event=stop_after_first_epoch)
    assert job.start({**FORM, "data": str(small_npz)})["state"] in ("running", "stopping")
    job.thread.join(120)
    assert job.state == "stopped" and job.epoch == 1
    assert job.checkpoint.exists() and not job.model_path.exists()
    assert "stopped after epoch 1 of 3" in job.message
    job.resume()
    job.thread.join(120)
    assert job.state == "done", job.message
    assert job.model_path.name == "studio-model.safetensors" and "test accuracy" in job.message
    got = nz.load(job.model_path)
    expected = cli_weights(tmp_path, FORM, small_npz)
    assert set(got.params) == set(expected)
    for k, v in expected.items():
        assert np.array_equal(got.params[k], v), k
    kinds = [(e["type"], e.get("epoch")) for e in job.events if e["type"] in ("epoch", "weights")]
    assert kinds == [("epoch", 0), ("epoch", 1), ("epoch", 2), ("weights", 2)]
    assert len(got.history.diagnostics) == 3 and job.command.startswith("nnzero train --data ") and "--hidden 24 --epochs 3" in job.command


BAD = [{"lr": "0"}, {"hidden": "0"}, {"epochs": "-1"}, {"dropout": "1.5"}, {"optimizer": "adagrad"},
       {"data": "no-such-file.csv"}, {"momentum": "0.9"}]


@pytest.mark.parametrize("form", BAD, ids=[next(iter(f)) for f in BAD])
def test_bad_settings_are_refused_with_the_cli_message(tmp_path, monkeypatch, capsys, form):
    monkeypatch.chdir(tmp_path)
    argv = ["train", "--epochs", "1", "--quiet"]
    for field, value in form.items():
        argv += ["--" + field.replace("_", "-"), value]
    if "momentum" in form:
        client = TestClient(studio.create_app(studio.State(message="none")))
        r = client.post("/api/train/start", json={"settings": {"momentum": "0.9"}})
        assert r.status_code == 400 and "unknown training settings ['momentum']" in r.json()["error"]
        return
    with pytest.raises(SystemExit) if "data" not in form else _no_exit():
        code = main(argv)
        assert code == 2
    cli_message = capsys.readouterr().err.strip()
    client = TestClient(studio.create_app(studio.State(job=Job(folder=tmp_path), message="none")))
    r = client.post("/api/train/start", json={"settings": {"epochs": "1", **form}})
    assert r.status_code == 400
    message = r.json()["error"]
    assert message and message in cli_message


class _no_exit:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def test_one_run_at_a_time_and_the_event_stream(tmp_path, small_npz):
    state = studio.State(message="no model yet")
    state.job = Job(folder=tmp_path, on_done=state.open)
    client = TestClient(studio.create_app(state))
    info = client.get("/api/train").json()
    assert info["state"] == "idle" and "mnist" in info["datasets"] and "default" in info["recipes"]
    r = client.post("/api/train/start", json={"settings": {**FORM, "epochs": "500", "data": str(small_npz)}})
    assert r.status_code == 200 and r.json()["state"] == "running"
    again = client.post("/api/train/start", json={"settings": FORM})
    assert again.status_code == 409 and "already going" in again.json()["error"]
    assert client.post("/api/train/resume").status_code == 409
    wait_for(state.job, "epoch")               # a checkpoint needs one whole epoch
    # The training loop reports each batch's accuracy and the batch count from the start: the
    # first epoch's events carry the smoothed accuracy and the time left.
    first_epoch = [e for e in state.job.events if e["type"] == "batch" and e["epoch"] == 0]
    n = -(-2430 // 64)       # 3000 rows less 10 % held out as the test set, then 10 % for validation
    assert first_epoch and all(e["n_batches"] == n and e["left"] is not None for e in first_epoch)
    assert all(0 <= e["accuracy"] <= 1 and 0 <= e["smooth_acc"] <= 1 for e in first_epoch)
    text = client.get("/api/train/events?once=1").text
    assert text.startswith("retry: 1000") and '"type": "batch"' in text and '"state": "running"' in text
    last = max(e["id"] for e in state.job.events)
    later = client.get(f"/api/train/events?once=1&after={last}").text
    assert f"id: {last}\n" not in later
    # The answer is "stopping", or already "stopped" when the training thread reached its batch end
    # before the answer was made (a quiet machine does a batch in a millisecond).
    assert client.post("/api/train/stop").json()["state"] in ("stopping", "stopped")
    state.job.thread.join(60)
    assert state.job.state == "stopped" and state.job.checkpoint.exists()
    assert client.post("/api/train/stop").status_code == 400
    # Stopped inside the first epoch, a run has nothing to save: it is cancelled, not resumable.
    first = []
    state.job.on_event = lambda e: (first.append(e), state.job.stop()) if e["type"] == "batch" and not first else None
    state.job.start({**FORM, "data": str(small_npz)})
    state.job.thread.join(60)
    assert state.job.state == "cancelled" and "nothing saved" in state.job.message
    assert client.post("/api/train/resume").status_code == 400


def test_finished_run_opens_in_the_views_and_shutdown_checkpoints(tmp_path, small_npz):
    state = studio.State(message="no model yet")
    state.job = Job(folder=tmp_path, on_done=state.open)
    client = TestClient(studio.create_app(state))
    assert client.get("/api/model").status_code == 409
    state.job.start({**FORM, "epochs": "1", "data": str(small_npz)})
    state.job.thread.join(120)
    assert state.job.state == "done"
    info = client.get("/api/model").json()
    assert info["path"] == str(state.job.model_path) and info["stages"][0]["units"] == 24
    # A server stopping while a run goes leaves a checkpoint to resume.
    state.job.start({**FORM, "epochs": "50", "data": str(small_npz)})
    wait_for(state.job, "epoch")
    state.job.shutdown()
    assert state.job.state == "stopped" and state.job.checkpoint.exists()
    assert state.job.model_path.name == "studio-model-2.safetensors"


def test_form_fields_become_the_cli_flags():
    from nnzero.studio.jobs import form_to_argv

    argv = form_to_argv({"hidden": "64", "augment": "affine", "lr": " 0.01 ", "dropout": "", "seed": None})
    assert argv == ["--hidden", "64", "--lr", "0.01", "--augment", "affine"]
    with pytest.raises(nz.ConfigError, match="unknown training settings"):
        form_to_argv({"layers": "3"})


def _fed_stream(tmp_path, monkeypatch, begin_logs, batches):
    """A Job's stream callback fed by hand: ``batches`` of (epoch, batch, logs) after
    ``on_train_begin(begin_logs)``; every batch is emitted (no thinning)."""
    from nnzero.studio import jobs

    monkeypatch.setattr(jobs, "BATCH_EVENTS_PER_S", 1e12)
    job = Job(folder=tmp_path)
    job.epochs = 3
    stream = jobs._Stream(job)
    stream.on_train_begin(begin_logs)
    for epoch, batch, logs in batches:
        if batch == 0:
            stream.on_epoch_begin(epoch)
        stream.on_batch_end(batch, logs)
    return job, [e for e in job.events if e["type"] == "batch"]


def test_every_epochs_last_batch_is_streamed_however_thin(tmp_path, monkeypatch):
    # Thinned to almost nothing (as when a whole epoch runs faster than the thinning interval),
    # each epoch's last batch still goes out, so the curves reach every epoch's end.
    from nnzero.studio import jobs

    job = Job(folder=tmp_path)
    job.epochs = 3
    stream = jobs._Stream(job)
    monkeypatch.setattr(jobs, "BATCH_EVENTS_PER_S", 1e-9)
    stream.on_train_begin({"n_batches": 5})
    for epoch in range(3):
        stream.on_epoch_begin(epoch)
        for b in range(5):
            stream.on_batch_end(b, {"loss": 1.0, "accuracy": 0.5, "size": 4})
    events = [(e["epoch"], e["batch"]) for e in job.events if e["type"] == "batch"]
    assert (0, 4) in events and (1, 4) in events and (2, 4) in events
    assert len(events) <= 4                            # the first batch, then only the epochs' ends


def test_batch_events_stream_smoothed_loss_and_accuracy(tmp_path, monkeypatch):
    losses, accs = [2.0, 1.0, 0.5, 0.25], [0.125, 0.5, 0.75, 1.0]
    feed = [(0, b, {"loss": loss, "accuracy": acc, "size": 8}) for b, (loss, acc) in enumerate(zip(losses, accs))]
    job, events = _fed_stream(tmp_path, monkeypatch, {"n_batches": 10}, feed)
    assert [e["accuracy"] for e in events] == accs and [e["loss"] for e in events] == losses
    smooth, smooth_acc = [], []
    for loss, acc in zip(losses, accs):      # s ← 0.95·s + 0.05·x, starting at the first value
        smooth.append(loss if not smooth else 0.95 * smooth[-1] + 0.05 * loss)
        smooth_acc.append(acc if not smooth_acc else 0.95 * smooth_acc[-1] + 0.05 * acc)
    assert [e["smooth"] for e in events] == pytest.approx(smooth, rel=1e-12)
    assert [e["smooth_acc"] for e in events] == pytest.approx(smooth_acc, rel=1e-12)
    # n_batches known from the start: time left from the very first batches of epoch 1, for
    # 3 epochs × 10 batches: elapsed / done × (30 − done).
    assert all(e["n_batches"] == 10 and e["left"] is not None for e in events)
    last = events[-1]
    assert last["left"] == pytest.approx(last["elapsed"] / 4 * 26, rel=1e-3, abs=1e-6)
    # The page's stream carries them as sent.
    state = studio.State(message="none", job=job)
    text = TestClient(studio.create_app(state)).get("/api/train/events?once=1").text
    assert f'"smooth_acc": {smooth_acc[-1]!r}' in text and '"accuracy": 1.0' in text


def test_batch_events_without_the_loops_accuracy_or_batch_count(tmp_path, monkeypatch):
    """A training loop that reports only the loss: accuracy is None (the page draws no batch
    curve), and time left waits for the first epoch to count its batches."""
    feed = [(0, b, {"loss": 1.0, "size": 8}) for b in range(3)]
    job, events = _fed_stream(tmp_path, monkeypatch, {}, feed)
    assert [(e["accuracy"], e["smooth_acc"], e["left"], e["n_batches"]) for e in events] == [(None,) * 4] * 3


def test_augmented_samples_for_the_forms_settings(tmp_path, small_npz):
    """The grid of augmented training samples: nnzero's Augment with the run's settings (preset
    or recipe), on the run's first training rows, seeded with the run's seed; 400s for bad input."""
    import base64

    from nnzero import recipes
    from nnzero.augment import Augment

    client = TestClient(studio.create_app(studio.State(message="none", job=Job(folder=tmp_path))))
    settings = {"data": str(small_npz), "augment": "elastic", "seed": "3"}
    r = client.post("/api/train/augmented", json={"settings": settings, "samples": 6, "copies": 3})
    assert r.status_code == 200, r.text
    d = r.json()
    assert d["augment"] == Augment.preset("elastic").config() and d["shape"] == [28, 28]
    assert (d["samples"], d["copies"]) == (6, 3) and "elastic" in d["description"]
    got = np.frombuffer(base64.b64decode(d["pixels"]), dtype=np.uint8).reshape(4, 6, 784)
    X = np.load(small_npz)["X"][:6].astype(np.float32)
    rng = np.random.default_rng(3)
    rows = [X] + [Augment.preset("elastic")(X, rng) for _ in range(3)]
    expected = np.round(255 * np.clip(np.stack(rows), 0, X.max()) / X.max())
    assert np.array_equal(got, expected)
    assert all(not np.array_equal(got[0], got[k]) for k in (1, 2, 3))     # the warps move the ink
    # The recipe's own augmentation, when the form leaves it to the recipe; none: null.
    best = client.post("/api/train/augmented", json={"settings": {"data": str(small_npz), "recipe": "best"}}).json()
    assert best["augment"] == Augment(**recipes.RECIPES["best"]["augment"]).config()
    assert (best["samples"], best["copies"]) == (8, 2)
    plain = client.post("/api/train/augmented", json={"settings": {"data": str(small_npz)}}).json()
    assert plain["augment"] is None and "no augmentation" in plain["description"]
    # Bad input: 400 with a message.
    np.savez(tmp_path / "rows.npz", X=np.ones((20, 5)), y=np.arange(20) % 2)
    for body, words in [({"settings": settings, "samples": 0}, "samples must be an integer in 1..32"),
                        ({"settings": settings, "copies": "2"}, "copies must be an integer in 1..8"),
                        ({"settings": {**settings, "lr": "0"}}, "argument --lr: expected a number > 0"),
                        ({"settings": {**settings, "data": str(tmp_path / "rows.npz")}}, "needs image inputs"),
                        ({"settings": {**settings, "data": str(tmp_path / "none.npz")}}, "none.npz"),
                        ({"settings": ["augment"]}, "must be a JSON object")]:
        r = client.post("/api/train/augmented", json=body)
        assert r.status_code == 400 and words in r.json()["error"], (body, r.text)
