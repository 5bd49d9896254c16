"""The studio's JSON endpoints, through Starlette's TestClient, against independent references:
NumPy written out here, PyTorch autograd for the gradients, the predict command's image path."""

import base64
import json
import re
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("starlette")
pytest.importorskip("uvicorn")
from starlette.testclient import TestClient  # noqa: E402

import nnzero as nz  # noqa: E402
from nnzero import studio  # noqa: E402
from nnzero.images import preprocess_digit  # noqa: E402

STATIC = Path(studio.__file__).parent / "static"


def f32(text):
    return np.frombuffer(base64.b64decode(text), dtype="<f4")


@pytest.fixture(scope="module")
def model(studio_model):
    return nz.load(studio_model)


@pytest.fixture(scope="module")
def client(studio_model):
    return TestClient(studio.create_app(studio.State(studio.open_model(studio_model))))


@pytest.fixture(scope="module")
def test_rows():
    _, (X, y) = nz.datasets.load_dataset("mnist")
    return X, y


def seven():
    """A 7 drawn as a person would on a 112×112 canvas: light strokes on black, uint8."""
    img = np.zeros((112, 112), np.uint8)
    img[28:36, 30:84] = 255                                # the bar
    for r in range(36, 92):                                # the diagonal stroke
        c = int(84 - (r - 36) * 0.55)
        img[r, c - 4:c + 4] = 255
    return img


def canvas(img):
    return {"input": {"canvas": {"width": img.shape[1], "height": img.shape[0],
                                 "pixels": base64.b64encode(img.tobytes()).decode()}}}


def relu_forward(model, x):
    """Independent forward pass: the Dense weights, ReLU and softmax written out in NumPy."""
    dense = [layer for layer in model.layers if isinstance(layer, nz.Dense)]
    a, out = x.astype(np.float64), []
    for k, d in enumerate(dense):
        z = a @ d.params["W"].astype(np.float64) + d.params["b"]
        a = np.maximum(z, 0) if k < len(dense) - 1 else np.exp(z - z.max()) / np.exp(z - z.max()).sum()
        out.append((z, a))
    return out


def test_predict_sample_matches_numpy_forward(client, model, test_rows):
    X, y = test_rows
    r = client.post("/api/predict", json={"input": {"sample": 3}})
    assert r.status_code == 200
    body = r.json()
    x = X[3:4] / np.float32(255)
    ref = relu_forward(model, x)
    np.testing.assert_allclose(f32(body["input"]), x[0], rtol=1e-6)
    for stage, (_, a) in zip(body["stages"], ref):
        np.testing.assert_allclose(f32(stage["a"]), a[0], rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(body["probabilities"], ref[-1][1][0], rtol=1e-4, atol=1e-7)
    assert body["prediction"] == int(model.predict(x)[0]) == int(np.argmax(ref[-1][1]))


def test_canvas_goes_the_way_of_nnzero_predict(client, model):
    img = seven()
    body = client.post("/api/predict", json=canvas(img)).json()
    x = preprocess_digit(img)                     # what `nnzero predict seven.png` prepares
    np.testing.assert_allclose(f32(body["input"]), x, atol=1e-6)
    expected = model.predict_proba((x * np.float32(255))[None] / np.float32(255))[0]
    np.testing.assert_allclose(body["probabilities"], expected, rtol=1e-5, atol=1e-7)
    assert body["prediction"] == 7


def test_model_info_and_dead_units(client, model, test_rows):
    info = client.get("/api/model").json()
    assert [s["units"] for s in info["stages"]] == [128, 10]
    assert info["stages"][0]["grid"] == [8, 16] and info["stages"][1]["grid"] == [2, 5]
    assert info["params_total"] == model.count_params() == 784 * 128 + 128 + 128 * 10 + 10
    assert info["image"] and info["data"] == {"name": "MNIST test set", "rows": 10000, "labelled": True}
    assert info["lr"] == pytest.approx(2e-3) and len(info["history"]["loss"]) == 2
    assert "Dense" in info["summary"] and "101,770" in info["summary"]
    z1 = relu_forward(model, test_rows[0] / 255.0)[0][0]
    assert info["stages"][0]["dead"] == np.flatnonzero((z1 > 0).sum(axis=0) == 0).tolist()
    assert info["stages"][0]["always_on"] == np.flatnonzero((z1 > 0).all(axis=0)).tolist()


def test_neuron_formula_with_real_numbers(client, model, test_rows):
    x = test_rows[0][0:1] / 255.0
    (z1, a1), (z2, _) = relu_forward(model, x)
    W1 = model.layers[0].params["W"]
    body = client.post("/api/neuron", json={"input": {"sample": 0}, "layer": 0, "unit": 5}).json()
    np.testing.assert_allclose(f32(body["weights"]), W1[:, 5])
    assert body["z"] == pytest.approx(z1[0, 5], rel=1e-4, abs=1e-5)
    assert body["z"] == pytest.approx(body["sum_terms"] + body["bias"], rel=1e-4, abs=1e-5)
    assert body["a"] == pytest.approx(max(z1[0, 5], 0), abs=1e-5)
    terms = x[0] * W1[:, 5]
    assert [t["index"] for t in body["top"]] == np.argsort(-np.abs(terms), kind="stable")[:8].tolist()
    fired = (relu_forward(model, test_rows[0] / 255.0)[0][1][:, 5] > 0).mean()
    assert body["firing_rate"] == pytest.approx(fired)
    out = client.post("/api/neuron", json={"input": {"sample": 0}, "layer": 1, "unit": 7}).json()
    assert out["z"] == pytest.approx(z2[0, 7], rel=1e-4, abs=1e-5)
    assert out["input_grid"] == [8, 16] and out["firing_rate"] is None
    assert sum(t["x"] * t["w"] for t in out["top"][:1]) == pytest.approx(out["top"][0]["xw"])
    assert np.allclose(a1[0, [t["index"] for t in out["top"]]], [t["x"] for t in out["top"]], atol=1e-5)


def test_backprop_matches_torch_autograd(client, model, test_rows):
    torch = pytest.importorskip("torch")
    x = test_rows[0][0:1] / 255.0
    label = 2
    body = client.post("/api/backprop", json={"input": {"sample": 0}, "label": label}).json()
    W1, b1 = (torch.tensor(model.layers[0].params[k], dtype=torch.float64, requires_grad=True) for k in "Wb")
    W2, b2 = (torch.tensor(model.layers[3].params[k], dtype=torch.float64, requires_grad=True) for k in "Wb")
    z1 = torch.tensor(x) @ W1 + b1
    z1.retain_grad()
    z2 = torch.relu(z1) @ W2 + b2
    z2.retain_grad()
    loss = torch.nn.functional.cross_entropy(z2, torch.tensor([label]))
    loss.backward()
    assert body["loss"] == pytest.approx(loss.item(), rel=1e-4)
    np.testing.assert_allclose(body["delta"], z2.grad[0].numpy(), atol=1e-6)
    np.testing.assert_allclose(f32(body["stages"][1]["dz"]), z2.grad[0].numpy(), atol=1e-6)
    np.testing.assert_allclose(f32(body["stages"][0]["dz"]), z1.grad[0].numpy(), rtol=1e-4, atol=1e-6)
    for stage, W, b in ((body["stages"][0], W1, b1), (body["stages"][1], W2, b2)):
        assert stage["dW_norm"] == pytest.approx(W.grad.norm().item(), rel=1e-4)
        assert stage["db_norm"] == pytest.approx(b.grad.norm().item(), rel=1e-4)
    unit = body["dW0"]["unit"]
    np.testing.assert_allclose(f32(body["dW0"]["values"]), W1.grad[:, unit].numpy(), rtol=1e-4, atol=1e-7)
    # One step of plain gradient descent at lr 0.5, on the reference.
    body = client.post("/api/backprop", json={"input": {"sample": 0}, "label": label, "lr": 0.5}).json()
    with torch.no_grad():
        z = torch.relu(torch.tensor(x) @ (W1 - 0.5 * W1.grad) + (b1 - 0.5 * b1.grad)) @ (W2 - 0.5 * W2.grad)
        p = torch.softmax(z + (b2 - 0.5 * b2.grad), dim=1)[0].numpy()
    np.testing.assert_allclose(body["after"]["probabilities"], p, rtol=1e-4, atol=1e-7)
    assert body["after"]["loss"] < body["loss"]
    # The loaded model itself is unchanged by a backprop request.
    again = client.post("/api/predict", json={"input": {"sample": 0}}).json()
    np.testing.assert_allclose(again["probabilities"], relu_forward(model, x)[-1][1][0], rtol=1e-4, atol=1e-7)


def test_confusion_and_mistakes(client, model, test_rows):
    X, y = test_rows
    cm = client.get("/api/confusion").json()
    m = np.array(cm["matrix"])
    assert m.sum() == 10000 and cm["rows"] == 10000
    pred = model.predict(X / np.float32(255))
    assert cm["accuracy"] == pytest.approx(np.mean(pred == y))
    assert m[4, 9] == np.sum((y == 4) & (pred == 9))
    body = client.get("/api/mistakes?true=4&pred=9&limit=5").json()
    assert body["count"] == m[4, 9]
    assert body["indices"] == np.flatnonzero((y == 4) & (pred == 9))[:5].tolist()
    assert len(base64.b64decode(body["pixels"])) == len(body["indices"]) * 784


BAD = [
    ("post", "/api/predict", {"input": {"canvas": {"width": 8, "height": 8, "pixels": "%%%"}}}, "base64"),
    ("post", "/api/predict", {"input": {"canvas": {"width": 8, "height": 8, "pixels": "AAAA"}}}, "expected width·height = 64"),
    ("post", "/api/predict", {"input": {"canvas": {"width": 5000, "height": 8, "pixels": ""}}}, "width must be"),
    ("post", "/api/predict", canvas(np.zeros((16, 16), np.uint8)), "no ink"),
    ("post", "/api/predict", {"input": {"sample": 10000}}, "0..9999"),
    ("post", "/api/predict", {"input": {"sample": "3"}}, "sample index"),
    ("post", "/api/predict", {"input": {"row": [1.0] * 5}}, "784 features"),
    ("post", "/api/predict", {"input": {"pixels": 1}}, "unknown input kind"),
    ("post", "/api/predict", {}, '"input" must be'),
    ("post", "/api/neuron", {"input": {"sample": 0}, "layer": 2, "unit": 0}, "layer must be"),
    ("post", "/api/neuron", {"input": {"sample": 0}, "layer": 0, "unit": 128}, "0..127"),
    ("post", "/api/neuron", {"input": {"sample": 0}, "layer": 0}, "unit must be"),
    ("post", "/api/backprop", {"input": {"sample": 0}, "label": 11}, "classes"),
    ("post", "/api/backprop", {"input": {"sample": 0}, "label": 1, "lr": -1}, "lr must be"),
    ("get", "/api/mistakes?true=4", None, "pred"),
    ("get", "/api/mistakes?true=x&pred=1", None, "integer"),
    ("get", "/api/mistakes?true=10&pred=1", None, "class index"),
]


@pytest.mark.parametrize("method,path,body,message", BAD, ids=[f"{p}:{m}" for _, p, _, m in BAD])
def test_bad_requests_get_a_400_with_a_message(client, method, path, body, message):
    r = client.post(path, json=body) if method == "post" else client.get(path)
    assert r.status_code == 400
    assert message in r.json()["error"]


def test_body_that_is_not_json_or_too_large(client):
    r = client.post("/api/predict", content=b"{not json", headers={"content-type": "application/json"})
    assert r.status_code == 400 and "JSON" in r.json()["error"]
    r = client.post("/api/predict", content=b"[1, 2]")
    assert r.status_code == 400 and "object" in r.json()["error"]
    r = client.post("/api/predict", content=b" " * (5 << 20))
    assert r.status_code == 413


def test_page_and_vendored_chart_library_are_served(client):
    page = client.get("/")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    for src in re.findall(r'(?:src|href)="(/static/[^"]+)"', page.text):
        assert client.get(src).status_code == 200, src
    for hook in ("draw-canvas", "clear", "neuron-view", "backprop-view", "confusion-matrix"):
        assert f'data-testid="{hook}"' in page.text
    js = "".join(f.read_text() for f in STATIC.glob("*.js"))
    for hook in ("prediction", "probabilities", "layer-${k}"):
        assert f'data-testid="{hook}"' in js
    assert "MIT" in (STATIC / "vendor" / "uplot" / "LICENSE").read_text()


def test_without_a_model_the_page_says_how_to_train(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("NNZERO_DATA", str(tmp_path / "cache"))
    assert studio.default_model() is None
    message = studio.NO_MODEL.format(places="here")
    client = TestClient(studio.create_app(studio.State(message=message)))
    assert client.get("/api/status").json() == {"model": False, "message": message}
    r = client.get("/api/model")
    assert r.status_code == 409 and "nnzero train" in r.json()["error"]
    (tmp_path / "model.safetensors").write_bytes(b"")
    assert studio.default_model() == Path("model.safetensors")


def test_cli(tmp_path, capsys):
    from nnzero.cli import main

    with pytest.raises(SystemExit) as exc:
        main(["studio", "--help"])
    assert exc.value.code == 0 and "--no-browser" in capsys.readouterr().out
    assert main(["studio", str(tmp_path / "missing.safetensors"), "--no-browser"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "missing.safetensors" in err


def test_rows_model_uses_data_file(tmp_path):
    """A model whose input is not an image: rows come from --data, and a canvas is refused."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 5)).astype(np.float32)
    y = (X[:, 0] > 0).astype(np.int64)
    m = nz.mlp(5, [4], 2)
    m.fit(X, y, epochs=2, batch_size=20, seed=0)
    m.save(tmp_path / "rows.safetensors")
    np.savez(tmp_path / "rows.npz", X=X, y=y)
    s = studio.open_model(tmp_path / "rows.safetensors", data=tmp_path / "rows.npz")
    client = TestClient(studio.create_app(studio.State(s)))
    info = client.get("/api/model").json()
    assert not info["image"] and info["data"]["rows"] == 60
    body = client.post("/api/predict", json={"input": {"sample": 7}}).json()
    np.testing.assert_allclose(body["probabilities"], m.predict_proba(X[7:8])[0], rtol=1e-5)
    assert client.post("/api/predict", json=canvas(seven())).status_code == 400
    assert client.post("/api/predict", json={"input": {"row": X[3].tolist()}}).json()["prediction"] == \
        int(m.predict(X[3:4])[0])
    assert json.dumps(client.get("/api/confusion").json())
