"""One sample step by step (explain), and docs/math.md quoting the code that really runs."""

import importlib
import inspect
import re
from pathlib import Path

import numpy as np
import pytest

import nnzero as nz
from nnzero.explain import explain, format_explanation

ROOT = Path(__file__).resolve().parents[1]


def _hand_model():
    """x (2,) → Dense(2, 2) → ReLU → Dense(2, 3) → Softmax, float64, weights chosen by hand."""
    model = nz.Sequential([nz.Dense(2, 2), nz.ReLU(), nz.Dense(2, 3), nz.Softmax()],
                          dtype="float64").build(seed=0)
    model.set_weights({"0.W": np.array([[1.0, -1.0], [2.0, 0.5]]), "0.b": np.array([0.5, 0.0]),
                       "2.W": np.array([[1.0, 0.0, -1.0], [3.0, 1.0, 0.0]]), "2.b": np.array([0.0, 1.0, 2.0])})
    model.classes_ = np.array(["cat", "dog", "emu"])
    return model


def test_explain_a_hand_worked_sample():
    r = explain(_hand_model(), np.array([1.0, 2.0]))
    dense1, relu, dense2 = r["layers"]
    # z = x·W + b = [1·1 + 2·2 + 0.5, 1·(−1) + 2·0.5 + 0] = [5.5, 0]
    assert dense1["rule"] == "z = x·W + b" and np.array_equal(dense1["output"], [5.5, 0.0])
    assert dense1["W_shape"] == (2, 2)
    # Unit 0 has the largest |z|: 1·1 + 2·2 = 5 plus bias 0.5; its largest term is x₁·W₁₀ = 4.
    ex = dense1["example"]
    assert (ex["unit"], ex["dot"], ex["bias"], ex["z"]) == (0, 5.0, 0.5, 5.5)
    assert ex["top_terms"][0] == (1, 2.0, 2.0, 4.0)
    assert relu["rule"] == "a = max(z, 0)" and np.array_equal(relu["output"], [5.5, 0.0])
    # logits = [5.5·1, 5.5·0 + 1, 5.5·(−1) + 2] = [5.5, 1, −3.5]
    assert np.array_equal(dense2["output"], [5.5, 1.0, -3.5])
    sm = r["softmax"]
    assert sm["max"] == 5.5 and np.array_equal(sm["shifted"], [0.0, -4.5, -9.0])
    assert np.allclose(sm["exp"], [1.0, np.exp(-4.5), np.exp(-9.0)], rtol=1e-15)
    assert sm["sum"] == pytest.approx(1 + np.exp(-4.5) + np.exp(-9.0), rel=1e-15)
    assert np.allclose(sm["probabilities"], sm["exp"] / sm["sum"], rtol=1e-15)
    assert (r["predicted_index"], r["predicted_class"]) == (0, "cat")
    assert r["probability"] == pytest.approx(1 / (1 + np.exp(-4.5) + np.exp(-9.0)), rel=1e-15)


def test_explain_agrees_exactly_with_predict_proba(rng):
    model = nz.mlp(20, [16, 8], 4, activation="tanh").build(seed=1)
    X = rng.random((5, 20)).astype(np.float32)
    proba = model.predict_proba(X)
    for i in range(5):
        r = explain(model, X[i])
        assert np.array_equal(r["softmax"]["probabilities"], proba[i])
        assert r["predicted_class"] == model.predict(X[i:i + 1])[0]
    assert [s["kind"] for s in r["layers"]] == ["Dense", "Tanh", "Dense", "Tanh", "Dense"]


def test_explain_a_regression_model_has_no_softmax(rng):
    model = nz.Sequential([nz.Dense(3, 4), nz.Sigmoid(), nz.Dense(4, 2)], loss="mse").build(seed=0)
    x = rng.random(3)
    r = explain(model, x)
    assert r["softmax"] is None and "predicted_class" not in r
    assert np.array_equal(r["output"], model.predict(x[None])[0])
    assert "output (regression)" in format_explanation(r)


def test_explain_takes_one_sample_only(rng):
    model = nz.mlp(3, [4], 2).build(seed=0)
    with pytest.raises(nz.ShapeError, match=r"one sample of shape \(3,\), got shape \(2, 3\)"):
        explain(model, rng.random((2, 3)))
    with pytest.raises(nz.ShapeError, match="expected 3 input features"):
        explain(model, rng.random(4))


def test_format_explanation_shows_the_real_numbers():
    text = format_explanation(explain(_hand_model(), np.array([1.0, 2.0])), max_values=10)
    assert "z = [5.5, 0]" in text
    assert ("z[0] = Σ_i x[i]·W[i,0] + b[0]\n    = (2·2 + 1·1 + … over 2 non-zero inputs) + 0.5\n"
            "    = 5 + 0.5 = 5.5") in text
    assert "unit 0, the predicted class: z[0]" in text
    assert "1 of 2 units active (z > 0), 1 set to 0" in text
    assert "m = max z       = 5.5  (unit 0)" in text
    assert "z − m           = [0, -4.5, -9]" in text
    assert "predicted class: cat  (p = 0.9889)" in text


def test_explain_follows_the_predicted_class_and_an_active_unit():
    model = _hand_model()
    # x = [1, −3]: z1 = [1 − 6 + 0.5, −1 − 1.5] = [−4.5, −2.5]: both ReLUs zero; logits = b = [0, 1, 2]
    # x = [3, −1]: z1 = [3 − 2 + 0.5, −3 − 0.5] = [1.5, −3.5] → a = [1.5, 0]; logits = [1.5, 1, 0.5]
    r = explain(model, np.array([3.0, -1.0]))
    dense1, relu, dense2 = r["layers"]
    assert r["predicted_index"] == 0 and dense2["example"]["unit"] == 0
    # unit 1 has the largest |z| (−3.5) but ReLU zeroes it; unit 0 is active and feeds class 0
    assert dense1["example"]["unit"] == 0 and relu["unit"] == 0
    text = format_explanation(r)
    # signed terms read as products: 3·1 + (−1)·2, bias + 0.5; no "+ -"
    assert "= (3·1 + (−1)·2 + … over 2 non-zero inputs) + 0.5" in text and "+ -" not in text
    assert "unit 0, the active unit adding most to unit 0 of layer 2" in text


def test_backward_shows_the_gradient_training_computes(rng):
    from nnzero.explain import explain_backward, format_backward

    model = nz.mlp(6, [5, 4], 3, activation="tanh", dtype="float64").build(seed=2)
    model.classes_ = np.array([10, 20, 30])
    x = rng.standard_normal(6)
    back = explain_backward(model, x, label=30)
    p = model.predict_proba(x[None])[0]
    assert back["target_index"] == 2
    np.testing.assert_allclose(back["delta"], p - np.array([0, 0, 1]), rtol=1e-12, atol=1e-15)   # ŷ − y
    assert back["loss"] == pytest.approx(-np.log(p[2]), rel=1e-12)
    # the same gradients as a training step on this one sample
    model.forward(x[None], training=True)
    _, g = model.loss.loss_and_grad(model.forward(x[None], training=True), np.array([2]))
    model.backward(g)
    dense = [s for s in back["layers"] if s["kind"] == "Dense"]
    assert [s["index"] for s in dense] == [4, 2, 0]
    for s in dense:
        np.testing.assert_array_equal(s["grad_W"], model.layers[s["index"]].grads["W"])
        np.testing.assert_array_equal(s["grad_b"], model.layers[s["index"]].grads["b"])
    text = format_backward(explain(model, x), back, classes=model.classes_)
    assert "dL/dz = ŷ − y  (y: 1 at class 30, 0 elsewhere)" in text
    assert "f'(z) = 1 − a²" in text and "dL/dW[" in text
    # without a label it follows the predicted class
    assert explain_backward(model, x)["target_index"] == int(np.argmax(p))


def test_format_explanation_draws_square_inputs_and_truncates_vectors(rng):
    model = nz.mlp(64, [20], 3).build(seed=0)
    x = np.zeros(64, dtype=np.float32)
    x[[9, 18, 27]] = 1.0                              # a diagonal stroke on the 8×8 grid
    text = format_explanation(explain(model, x), max_values=4)
    art = [line for line in text.splitlines() if line.startswith("    ")][:8]
    assert [line.find("@@") for line in art[1:4]] == [4 + 2, 4 + 4, 4 + 6]
    assert "… (16 more)" in text


def test_explain_command(tmp_path, capsys):
    io = pytest.importorskip("nnzero.serialization")
    model = _hand_model()
    model.classes_ = np.array([0, 1, 2])
    path = tmp_path / "m.safetensors"
    io.save(model, path, preprocessing={"kind": "scale", "factor": 0.5})
    np.savez(tmp_path / "rows.npz", X=np.array([[9.0, 9.0], [2.0, 4.0]]), y=np.array([1, 0]))
    assert main(["explain", str(path), "--data", str(tmp_path / "rows.npz"), "--index", "1"]) == 0
    out = capsys.readouterr().out
    # Row 1 scaled by the stored preprocessing is x = [1, 2]: the hand-worked sample above.
    assert "row 1 of" in out and "true label 0" in out and "z = [5.5, 0]" in out
    assert main(["explain", str(path), "--data", str(tmp_path / "rows.npz"), "--index", "1", "--backward"]) == 0
    out = capsys.readouterr().out
    # true label 0 ('cat' index 0): dL/dz = ŷ − y = [0.9889 − 1, 0.01099, 0.000122]
    assert "loss L = −log ŷ[0] = −log 0.9889" in out and "dL/dz = ŷ − y" in out and "[-0.01111" in out
    assert main(["explain", str(path), "--data", str(tmp_path / "rows.npz"), "--index", "2"]) == 2
    assert "--index 2 is out of range" in capsys.readouterr().err


# -- docs/math.md ------------------------------------------------------------------------------------

def _quoted_blocks():
    text = (ROOT / "docs" / "math.md").read_text(encoding="utf-8")
    for block in re.findall(r"```python\n(.*?)```", text, flags=re.S):
        head, *lines = block.splitlines()
        m = re.fullmatch(r"# quoted from (src/nnzero/[\w/]+|tests/\w+)\.py: ([\w.]+)", head.strip())
        assert m, ("docs/math.md code block must start with '# quoted from src/nnzero/<file>.py: <function>': "
                   f"{head!r}")
        yield m.group(1), m.group(2), [ln for ln in lines if ln.strip()]


def _code(line):
    """A line without indentation and trailing comment: comments may be reworded freely."""
    return line.split("  #")[0].strip()


def _source(path, qualname):
    """The source of function ``qualname`` in ``src/nnzero/...`` (imported) or ``tests/x.py`` (parsed)."""
    if path.startswith("src/"):
        obj = importlib.import_module(path[len("src/"):].replace("/", "."))
        for part in qualname.split("."):
            obj = getattr(obj, part)
        return inspect.getsource(obj)
    import ast

    text = (ROOT / f"{path}.py").read_text(encoding="utf-8")
    nodes = [n for n in ast.walk(ast.parse(text)) if isinstance(n, ast.FunctionDef) and n.name == qualname]
    assert nodes, f"docs/math.md quotes {path}.py: {qualname}, which does not exist"
    return ast.get_source_segment(text, nodes[0])


def test_math_md_quotes_the_real_code():
    blocks = list(_quoted_blocks())
    assert len(blocks) >= 15
    for path, qualname, lines in blocks:
        source = {_code(ln) for ln in _source(path, qualname).splitlines()}
        module_name = path
        missing = [ln.strip() for ln in lines if _code(ln) not in source]
        assert not missing, f"docs/math.md quotes lines that are not in {module_name}.{qualname}: {missing}"


def main(argv):
    """The ``nnzero`` command line, imported when a test uses it."""
    from nnzero.cli import main as cli_main

    return cli_main(argv)
