"""The studio in a real browser: Playwright drives headless Chromium (Debian's package).

Draws digits with mouse strokes and checks what the model reads, opens a unit, the backprop
view and the confusion matrix, checks there are no console errors, and saves screenshots to
$NNZERO_SCREENSHOTS (default: a temporary folder) for a person to look at.
"""

import os
import re
import shlex
import socket
import threading
import time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("starlette")
uvicorn = pytest.importorskip("uvicorn")
sync_api = pytest.importorskip("playwright.sync_api")

import nnzero as nz  # noqa: E402
from nnzero import studio  # noqa: E402
from nnzero.cli import main  # noqa: E402
from nnzero.studio.jobs import Job  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
pytestmark = [pytest.mark.browser,
              pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs Debian's chromium at /usr/bin/chromium")]

# Strokes in the 280×280 canvas's own pixels, as a person would draw them.
DIGITS = {
    7: [[(75, 70), (205, 70), (120, 225)]],
    1: [[(150, 45), (140, 235)]],
    0: [[(140, 50), (90, 80), (80, 140), (95, 205), (140, 230), (185, 205), (200, 140), (190, 80), (140, 50)]],
}


def serve(state):
    """Run the studio for ``state`` on a free local port in a thread; yields its URL."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    app = studio.create_app(state)
    srv = uvicorn.Server(uvicorn.Config(app, log_level="warning", timeout_graceful_shutdown=1))
    thread = threading.Thread(target=srv.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not srv.started:
        assert time.monotonic() < deadline, "the studio server did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}/"
    srv.should_exit = True
    thread.join(10)


@pytest.fixture(scope="module")
def server(studio_model):
    """The studio on the small test model."""
    yield from serve(studio.State(studio.open_model(studio_model)))


@pytest.fixture(scope="module")
def empty_server(tmp_path_factory):
    """The studio started without a model; runs from the Train view write into a temp folder."""
    state = studio.State(message="no model given and none found")
    state.job = Job(folder=tmp_path_factory.mktemp("runs"), on_done=state.open)
    for url in serve(state):
        yield url, state.job


@pytest.fixture(scope="module")
def shots(tmp_path_factory):
    folder = Path(os.environ.get("NNZERO_SCREENSHOTS") or tmp_path_factory.mktemp("screenshots"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True,
                              args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        yield b
        b.close()


@pytest.fixture
def page(browser, server):
    """A fresh page on the studio; fails the test if the page logged an error."""
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    errors = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(server)
    page.wait_for_selector('[data-testid="layer-0"]')
    yield page
    page.close()
    assert errors == [], f"console errors: {errors}"


def draw(page, strokes):
    box = page.get_by_test_id("draw-canvas").bounding_box()
    sx, sy = box["width"] / 280, box["height"] / 280
    for stroke in strokes:
        x, y = stroke[0]
        page.mouse.move(box["x"] + x * sx, box["y"] + y * sy)
        page.mouse.down()
        for x, y in stroke[1:]:
            page.mouse.move(box["x"] + x * sx, box["y"] + y * sy, steps=12)
        page.mouse.up()


def reads_as(page, digit):
    sync_api.expect(page.get_by_test_id("prediction")).to_contain_text(f"reads as {digit} ", timeout=10_000)


@pytest.mark.parametrize("digit", sorted(DIGITS))
def test_drawn_digit_is_read(page, shots, digit):
    draw(page, DIGITS[digit])
    reads_as(page, digit)
    bars = page.get_by_test_id("probabilities").locator(".bar")
    assert bars.count() == 10
    page.screenshot(path=str(shots / f"draw-{digit}.png"))
    page.get_by_test_id("clear").click()
    sync_api.expect(page.get_by_test_id("prediction")).to_have_text("Draw a digit")


def test_open_neuron_and_backprop(page, shots):
    draw(page, DIGITS[7])
    reads_as(page, 7)
    grid = page.get_by_test_id("layer-0")
    box = grid.bounding_box()
    grid.click(position={"x": box["width"] * 0.3, "y": box["height"] * 0.4})
    view = page.get_by_test_id("neuron-view")
    sync_api.expect(view).to_be_visible()
    sync_api.expect(view.locator(".terms tr.total")).to_contain_text("z")
    sync_api.expect(view.locator(".activation")).to_contain_text("max(0, z) =")
    page.screenshot(path=str(shots / "neuron.png"), full_page=True)
    # The output layer: a unit there is a class.
    page.get_by_test_id("nav-draw").click()
    page.get_by_test_id("layer-1").click(position={"x": 5, "y": 5})
    sync_api.expect(page.locator("#neuron-title")).to_contain_text("class 0")
    page.get_by_test_id("nav-backprop").click()
    bp = page.get_by_test_id("backprop-view")
    sync_api.expect(bp).to_be_visible()
    sync_api.expect(bp.locator("#bp-output")).to_contain_text("ŷ − y")
    bp.locator('#bp-labels button', has_text="1").click()
    sync_api.expect(bp.locator("#bp-output")).to_contain_text("−log ŷ1")
    page.screenshot(path=str(shots / "backprop.png"), full_page=True)


def test_confusion_matrix_to_draw(page, shots):
    page.get_by_test_id("nav-mistakes").click()
    cm = page.get_by_test_id("confusion-matrix")
    sync_api.expect(cm.locator("table.cm")).to_be_visible()
    assert cm.locator("tbody tr").count() == 10
    cm.locator("button").first.click()
    first = page.get_by_test_id("mistake").first
    sync_api.expect(first).to_be_visible()
    page.screenshot(path=str(shots / "mistakes.png"), full_page=True)
    first.click()
    sync_api.expect(page.get_by_test_id("draw-canvas")).to_be_visible()
    sync_api.expect(page.get_by_test_id("prediction")).to_contain_text("reads as")
    page.get_by_test_id("nav-model").click()
    sync_api.expect(page.locator(".uplot").first).to_be_visible()
    page.screenshot(path=str(shots / "model.png"), full_page=True)


def test_keyboard_and_phone(browser, server, shots):
    page = browser.new_page(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    errors = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.goto(server)
    page.wait_for_selector('[data-testid="layer-0"]')
    page.get_by_test_id("random-sample").focus()
    page.keyboard.press("Enter")
    sync_api.expect(page.get_by_test_id("prediction")).to_contain_text("reads as")
    grid = page.get_by_test_id("layer-0")
    grid.focus()
    page.keyboard.press("ArrowRight")
    page.keyboard.press("Enter")
    sync_api.expect(page.locator("#neuron-unit")).to_have_value("1")
    page.get_by_test_id("nav-draw").click()
    page.screenshot(path=str(shots / "phone.png"), full_page=True)
    page.close()
    assert errors == []


def test_train_stop_resume_then_draw(browser, empty_server, shots, tmp_path):
    """From no model: train on MNIST digits from the page, stop during an epoch, reload
    (reconnects), resume, see "done", then draw on the new model; its weights equal the CLI run's."""
    url, job = empty_server
    (X, y), _ = nz.datasets.load_dataset("mnist")
    np.savez(tmp_path / "digits.npz", X=X[:6000], y=y[:6000])    # 6,000 digits: a second an epoch
    # The training thread waits at its first batch report of epoch 2 until the test has clicked
    # Stop, so the stop lands inside that epoch however fast or slow this machine is.
    gate = threading.Event()
    job.on_event = lambda e: gate.wait(60) if e["type"] == "batch" and e["epoch"] == 1 else None
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    errors = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(url)
    sync_api.expect(page.locator("#no-model")).to_be_visible()
    sync_api.expect(page.get_by_test_id("nav-draw")).to_be_hidden()
    form = page.locator("#train-form")
    form.locator('[name="lr"]').fill("0")
    page.get_by_test_id("train-start").click()
    sync_api.expect(page.locator("#status")).to_contain_text("argument --lr: expected a number > 0, got '0'")
    assert len(errors) == 1 and "400" in errors.pop()      # Chromium logs the refused request
    form.locator('[name="data"]').fill(str(tmp_path / "digits.npz"))
    form.locator('[name="hidden"]').fill("64")
    form.locator('[name="lr"]').fill("0.002")
    form.locator('[name="batch_size"]').fill("32")
    page.get_by_test_id("train-epochs").fill("4")
    page.get_by_test_id("train-start").click()
    status = page.get_by_test_id("train-status")
    sync_api.expect(status).to_contain_text("epoch 2/4 · batch", timeout=60_000)
    sync_api.expect(status).to_have_text(re.compile(r"· accuracy \d+\.\d% · .* left$"))
    sync_api.expect(page.get_by_test_id("loss-chart").locator(".uplot")).to_be_visible()
    drawn = page.evaluate("() => Train.charts.accuracy.data[1].filter((v) => v != null)")
    assert drawn and all(0 <= v <= 1 for v in drawn)          # the smoothed batch accuracy
    page.screenshot(path=str(shots / "train-running.png"), full_page=True)
    page.reload()                                      # reconnects to the running job
    sync_api.expect(status).to_contain_text("epoch 2/4 · batch", timeout=20_000)
    sync_api.expect(page.locator('#train-form [name="hidden"]')).to_have_value("64")
    page.get_by_test_id("train-stop").click()
    gate.set()
    sync_api.expect(status).to_contain_text("stopped after epoch 1 of 4", timeout=60_000)
    sync_api.expect(page.get_by_test_id("train-resume")).to_be_enabled()
    page.screenshot(path=str(shots / "train-stopped.png"), full_page=True)
    page.get_by_test_id("train-resume").click()
    sync_api.expect(status).to_contain_text("done", timeout=120_000)
    sync_api.expect(page.get_by_test_id("weights-grid")).to_be_visible()
    # The curves go on through the resumed epochs (x = epochs done, fractional).
    page.wait_for_timeout(300)
    for chart in ("loss", "accuracy"):
        xs = page.evaluate(f"() => {{ const d = Train.charts.{chart}.data; return d[0].filter((x, i) => d[1][i] != null); }}")
        assert xs and xs[0] < 1 < 3 < max(xs) <= 4, chart
        epochs = page.evaluate(f"() => Train.charts.{chart}.data[2].filter((v) => v != null).length")
        assert epochs == 4, chart
    page.screenshot(path=str(shots / "train-done.png"), full_page=True)
    command = page.locator("#train-command").inner_text()
    page.get_by_test_id("nav-draw").click()
    page.wait_for_selector('[data-testid="layer-1"]')
    draw(page, DIGITS[7])
    reads_as(page, 7)
    page.screenshot(path=str(shots / "train-then-draw.png"))
    page.close()
    assert errors == [], f"console errors: {errors}"
    # The command the page shows, run by the CLI, gives the same weights.
    argv = shlex.split(command)[1:]
    out = argv.index("--out") + 1
    trained = nz.load(argv[out])
    argv[out] = str(tmp_path / "cli.safetensors")
    assert main(argv + ["--quiet"]) == 0
    expected = nz.load(tmp_path / "cli.safetensors").params
    assert all(np.array_equal(trained.params[k], v) for k, v in expected.items())


def test_train_view_draws_batch_accuracy(browser, shots, tmp_path, monkeypatch):
    """The smoothed per-batch accuracy the server streams is drawn next to the loss, and the
    status shows it with time left inside the first epoch (a run's events fed by hand)."""
    from nnzero.studio import jobs

    monkeypatch.setattr(jobs, "BATCH_EVENTS_PER_S", 1e12)
    state = studio.State(message="no model given and none found")
    job = state.job = Job(folder=tmp_path, on_done=state.open)
    job.epochs, job.form = 3, {"hidden": "32", "epochs": "3"}
    job._set("running")
    stream = jobs._Stream(job)
    stream.on_train_begin({"n_batches": 40})
    stream.on_epoch_begin(0)
    for b in range(30):
        stream.on_batch_end(b, {"loss": 2.3 / (1 + b / 5), "accuracy": min(1.0, 0.1 + b / 30), "size": 32})
    smooth_acc = [e["smooth_acc"] for e in job.events if e["type"] == "batch"]
    for url in serve(state):
        page = browser.new_page(viewport={"width": 1280, "height": 800})
        errors = []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(url)
        status = page.get_by_test_id("train-status")
        sync_api.expect(status).to_contain_text(f"epoch 1/3 · batch 30/40 · loss ", timeout=20_000)
        sync_api.expect(status).to_contain_text(f"accuracy {100 * smooth_acc[-1]:.1f}% · ")
        sync_api.expect(status).to_contain_text(" s left")
        sync_api.expect(page.get_by_test_id("acc-chart").locator(".uplot")).to_be_visible()
        drawn = page.evaluate("() => Train.charts.accuracy.data[1].filter((v) => v != null)")
        assert drawn == pytest.approx(smooth_acc)
        sync_api.expect(page.get_by_test_id("acc-chart")).to_contain_text("batch accuracy (smoothed)")
        page.screenshot(path=str(shots / "train-accuracy.png"), full_page=True)
        page.close()
        job.state = "idle"              # nothing runs: the server's shutdown has nothing to stop
        assert errors == [], f"console errors: {errors}"


def test_resume_after_a_restart_and_the_augmented_samples(browser, shots, tmp_path):
    """A run stopped under one server is offered by a new server in the same folder; Resume
    finishes it; the augmented samples show for a run that uses augmentation."""
    (X, y), _ = nz.datasets.load_dataset("mnist")
    np.savez(tmp_path / "digits.npz", X=X[:3000], y=y[:3000])
    folder = tmp_path / "runs"
    folder.mkdir()
    first = Job(folder=folder)
    first.on_event = lambda e: first.stop() if e["type"] == "epoch" and e["epoch"] == 0 else None
    first.start({"data": str(tmp_path / "digits.npz"), "hidden": "24", "epochs": "3", "batch_size": "64",
                 "augment": "affine", "seed": "2"})
    first.thread.join(120)
    assert first.state == "stopped", first.message
    state = studio.State(message="no model given and none found")    # the restarted server
    state.job = Job(folder=folder, on_done=state.open)
    for url in serve(state):
        phone = browser.new_page(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
        phone.goto(url)
        sync_api.expect(phone.get_by_test_id("resume-checkpoint")).to_be_visible(timeout=20_000)
        assert phone.evaluate("() => document.documentElement.scrollWidth") <= 390     # no sideways scroll
        phone.screenshot(path=str(shots / "phone-train-resumable.png"), full_page=True)
        phone.close()
        page = browser.new_page(viewport={"width": 1280, "height": 800})
        errors = []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(url)
        listed = page.get_by_test_id("resumable")
        sync_api.expect(listed).to_be_visible(timeout=20_000)
        sync_api.expect(listed).to_contain_text("studio-model.ckpt.safetensors")
        sync_api.expect(listed.locator("tbody tr")).to_have_count(1)
        sync_api.expect(listed).to_contain_text("hidden 24 · adam lr 0.002 · batch 64")
        sync_api.expect(listed).to_contain_text("augment shift ±2 px, rotate ±12°")
        sync_api.expect(listed.locator("td").nth(2)).to_have_text("epoch 1 of 3")
        # The default form trains without augmentation: no samples; a preset shows them.
        samples = page.get_by_test_id("augmented-samples")
        sync_api.expect(samples).to_be_hidden()
        page.locator("#train-augment").select_option("elastic")
        sync_api.expect(samples).to_be_visible(timeout=60_000)
        sync_api.expect(samples).to_contain_text("elastic 1 px")
        box = page.locator("#augmented-grid").bounding_box()
        assert box["width"] > 200 and box["height"] > 60
        page.screenshot(path=str(shots / "train-resumable.png"), full_page=True)
        page.get_by_test_id("resume-checkpoint").click()
        status = page.get_by_test_id("train-status")
        sync_api.expect(status).to_contain_text("done", timeout=120_000)
        sync_api.expect(page.locator('#train-form [name="hidden"]')).to_have_value("24")
        sync_api.expect(page.locator("#train-augment")).to_have_value("affine")
        sync_api.expect(samples).to_contain_text("shift ±2 px, rotate ±12°", timeout=60_000)
        sync_api.expect(listed).to_be_hidden()
        # The curves start at the checkpoint's epoch 1, not at the resumed epoch 2.
        epochs = page.evaluate("() => Train.charts.loss.data[2].filter((v) => v != null).length")
        assert epochs == 3
        page.screenshot(path=str(shots / "train-resumed.png"), full_page=True)
        page.close()
        assert errors == [], f"console errors: {errors}"
