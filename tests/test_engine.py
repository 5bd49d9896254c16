"""fit's fast path (nnzero.engine) gives the numbers of the plain code a learner reads.

The plain run is the loop of docs/math.md written out here with the public pieces only —
``model.forward(x, training=True)``, ``loss_and_grad``, ``model.backward``, ``optimizer.step`` —
drawing its shuffles and dropout masks from the same generators fit uses. Where the engine does
the same arithmetic in the same order (layers, SGD, momentum, Nesterov, weight decay) the
weights must agree bit for bit; Adam's weighted-sum form rounds differently from the paper's,
so there the agreement is to a stated tolerance.
"""

import copy
import math
import pickle

import numpy as np
import pytest

import nnzero as nz
from nnzero import engine


def plain_fit(model, X, y, optimizer, epochs, batch_size, seed):
    """The textbook loop, with fit's randomness: seed → (init, split, stream) generators."""
    init_rng, _, rng = (np.random.Generator(np.random.PCG64(s)) for s in np.random.SeedSequence(seed).spawn(3))
    model.set_classes(y)
    model.build(rng=init_rng)
    for layer in model.layers:
        if hasattr(layer, "rng"):
            layer.rng = rng
    target = model.targets(y, len(X))
    n, n_batches = len(X), math.ceil(len(X) / batch_size)
    for epoch in range(epochs):
        order = rng.permutation(n)
        for b in range(n_batches):
            idx = order[b * batch_size:(b + 1) * batch_size]
            logits = model.forward(X[idx], training=True)
            _, grad = model.loss.loss_and_grad(logits, target[idx])
            model.backward(grad)
            optimizer.step(model.params, model.grads, optimizer.lr_at(epoch + b / n_batches, epochs))
    return model


def _data(dtype, n=150, d=6, classes=3):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((n, d)).astype(dtype)
    y = (X[:, 0] > 0).astype(int) + (X[:, 1] + X[:, 2] > 0.5)
    return X, y


class PlainDense(nz.Dense):
    """A Dense the engine has no kernel for: fit runs its plain forward/backward, which assigns
    new gradient arrays (the engine copies them into its vector)."""


def _net(dtype, dropout=0.2):
    # Dropout(0.0) draws nothing in either path; PlainDense runs the layer's own code inside fit.
    return nz.Sequential([nz.Dropout(0.1), nz.Dense(6, 16), nz.ReLU(), nz.Dropout(dropout), nz.Dense(16, 12),
                          nz.Tanh(), nz.Dropout(0.0), PlainDense(12, 8), nz.LeakyReLU(0.1), nz.Dense(8, 3),
                          nz.Softmax()], dtype=dtype)


def _both(make_optimizer, dtype, epochs=3, batch_size=32, seed=7):
    X, y = _data(dtype)
    plain, fast = _net(dtype), _net(dtype)
    plain_opt, fast_opt = make_optimizer(), make_optimizer()
    plain_fit(plain, X, y, plain_opt, epochs, batch_size, seed)
    fast.fit(X, y, epochs=epochs, batch_size=batch_size, optimizer=fast_opt, seed=seed, verbose=0)
    assert fast_opt.t == plain_opt.t == epochs * math.ceil(len(X) / batch_size)
    return plain, fast, plain_opt, fast_opt


SAME_ARITHMETIC = {
    "sgd": lambda: nz.SGD(0.05),
    "sgd-l2-cosine": lambda: nz.SGD(0.05, weight_decay=1e-2, schedule="cosine"),
    "momentum": lambda: nz.SGD(0.05, momentum=0.9, weight_decay=1e-3),
    "nesterov": lambda: nz.SGD(0.05, momentum=0.9, nesterov=True, weight_decay=1e-3),
}


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name", sorted(SAME_ARITHMETIC))
def test_fit_equals_the_plain_loop_bit_for_bit(name, dtype):
    plain, fast, plain_opt, fast_opt = _both(SAME_ARITHMETIC[name], dtype)
    for k, p in plain.params.items():
        assert p.tobytes() == fast.params[k].tobytes(), k
    for k, s in plain_opt.state.items():
        assert s.tobytes() == fast_opt.state[k].tobytes(), k
    assert plain.params["1.W"].dtype == np.dtype(dtype)
    init_rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence(7).spawn(3)[0]))
    start = _net(dtype).build(rng=init_rng).params
    assert not np.array_equal(fast.params["7.W"], start["7.W"])                 # PlainDense learned


ADAMS = {
    "adam": lambda: nz.Adam(1e-2),
    "adam-l2": lambda: nz.Adam(1e-2, beta1=0.8, beta2=0.99, weight_decay=1e-3, schedule="cosine"),
    "adamw": lambda: nz.AdamW(1e-2, weight_decay=0.05),
}


@pytest.mark.parametrize("name", sorted(ADAMS))
def test_adam_as_weighted_sums_equals_the_papers_form(name):
    # Float64, 15 steps: the two forms differ only by rounding (a few ulps per step), so weights
    # agree to 1e-12 relative and the engine's sums are the paper's m/(1−β₁) and v/(1−β₂).
    plain, fast, plain_opt, fast_opt = _both(ADAMS[name], "float64")
    for k, p in plain.params.items():
        np.testing.assert_allclose(fast.params[k], p, rtol=1e-12, atol=1e-14, err_msg=k)
        np.testing.assert_allclose((1 - fast_opt.beta1) * fast_opt.state[f"m_sum.{k}"], plain_opt.state[f"m.{k}"],
                                   rtol=1e-11, atol=1e-16, err_msg=k)
        np.testing.assert_allclose((1 - fast_opt.beta2) * fast_opt.state[f"v_sum.{k}"], plain_opt.state[f"v.{k}"],
                                   rtol=1e-11, atol=1e-20, err_msg=k)


def test_adam_in_float32_agrees_to_float32_rounding():
    # In float32 the two forms drift apart by rounding, a few units of 1e-7 per step, then
    # amplified by training: after 15 steps both stay within 1e-4 of each other.
    plain, fast, *_ = _both(ADAMS["adam"], "float32")
    for k, p in plain.params.items():
        np.testing.assert_allclose(fast.params[k], p, rtol=1e-4, atol=1e-5, err_msg=k)


def test_a_wrong_kernel_is_caught():
    # The comparison above can fail: an engine ReLU that lets negative inputs leak through.
    class LeakyKernel(engine._ReLU):
        def forward(self, x):
            out = super().forward(x)
            out += np.float32(1e-3) * (x < 0) * x
            return out

    original = engine.LAYER_KERNELS[nz.ReLU]
    engine.LAYER_KERNELS[nz.ReLU] = LeakyKernel
    try:
        plain, fast, *_ = _both(SAME_ARITHMETIC["sgd"], "float64")
    finally:
        engine.LAYER_KERNELS[nz.ReLU] = original
    assert any(p.tobytes() != fast.params[k].tobytes() for k, p in plain.params.items())


def test_a_layer_without_a_kernel_runs_its_own_code():
    # Tanh and LeakyReLU have no kernel (plain forward/backward); a Dense subclass neither.
    class MyDense(nz.Dense):
        pass

    model = nz.Sequential([MyDense(6, 4), nz.Tanh(), nz.Dense(4, 3), nz.Softmax()]).build(seed=0)
    run = engine.Engine(model, nz.SGD(0.1))
    assert [type(k).__name__ for k in run.kernels] == ["_Plain", "_Plain", "_Dense"]


def test_parameters_are_views_of_one_vector():
    model = nz.Sequential([nz.Dense(4, 3), nz.ReLU(), nz.Dense(3, 2), nz.Softmax()]).build(seed=0)
    before = model.get_weights()
    run = engine.Engine(model, nz.Adam())
    assert run.flat_p.shape == (model.count_params(),)
    np.testing.assert_array_equal(run.flat_p, np.concatenate([w.ravel() for w in before.values()]))
    run.flat_p[0] = 7.0
    assert model.layers[0].params["W"][0, 0] == 7.0                 # views, not copies
    for clone in (pickle.loads(pickle.dumps(model)), copy.deepcopy(model)):
        assert clone.layers[0].params["W"][0, 0] == 7.0
        assert not np.shares_memory(clone.layers[0].params["W"], run.flat_p)


def test_the_state_survives_a_restore_and_a_pickle(rng):
    # optimizer.state is replaced (a resume, or a restore after divergence): the engine rebuilds
    # its vectors from it, and the run goes on exactly as without the interruption.
    X = rng.normal(size=(64, 4)).astype(np.float32)
    y = rng.integers(0, 2, size=64)
    straight = nz.Sequential([nz.Dense(4, 5), nz.ReLU(), nz.Dense(5, 2), nz.Softmax()])
    straight.fit(X, y, epochs=4, batch_size=16, optimizer=nz.Adam(1e-2), seed=0, verbose=0)
    model = nz.Sequential([nz.Dense(4, 5), nz.ReLU(), nz.Dense(5, 2), nz.Softmax()])
    opt = nz.Adam(1e-2)
    model.fit(X, y, epochs=4, batch_size=16, optimizer=opt, seed=0, verbose=0,
              callbacks=[nz.LambdaCallback(on_epoch_end=lambda e, logs: model.stop_training or (
                  setattr(model, "stop_training", e == 1)))])
    state = copy.deepcopy(model.train_state)
    state.optimizer = None
    again = pickle.loads(pickle.dumps(model))
    again.fit(X, y, epochs=4, batch_size=16, optimizer=pickle.loads(pickle.dumps(opt)), resume=state, verbose=0)
    for k, p in straight.params.items():
        assert p.tobytes() == again.params[k].tobytes(), k


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_inference_gives_forwards_bits(dtype):
    # predict/predict_proba go through engine.infer (in-place bias and ReLU, Dropout skipped):
    # the same bits as the plain forward, chunk by chunk, and the input is left untouched.
    X, _ = _data(dtype, n=300)
    model = _net(dtype).build(seed=1)
    before = X.copy()
    plain = np.concatenate([model.forward(X[i:i + 128]) for i in range(0, len(X), 128)])
    assert engine.infer(model.body, X, 3, model.dtype, batch_size=128).tobytes() == plain.tobytes()
    assert model._outputs(X).tobytes() == model.forward(X).tobytes()
    assert X.tobytes() == before.tobytes()
    relu_first = nz.Sequential([nz.ReLU(), nz.Dense(6, 3)], loss="mse", dtype=dtype).build(seed=0)
    assert relu_first.predict(X).tobytes() == relu_first.forward(X).tobytes()
    assert X.tobytes() == before.tobytes()                      # ReLU on the input: not in place


@pytest.mark.parametrize("chunk", [4099, 65536])
def test_adam_chunk_by_chunk_is_one_pass(chunk):
    # The Adam kernel runs its passes chunk by chunk (for the cache): bit for bit the result of
    # running each pass over the whole vector, across chunk edges that fall inside a parameter.
    rng = np.random.default_rng(0)
    shapes = {"0.W": (300, 400), "0.b": (400,), "2.W": (400, 3), "2.b": (3,)}
    results = []
    for size in (chunk, 10 ** 9):
        start = {k: rng.standard_normal(s).astype(np.float32) for k, s in shapes.items()}
        rng = np.random.default_rng(0)
        flat = np.concatenate([a.ravel() for a in start.values()])
        kernel = engine.update_kernel(nz.Adam(1e-2, weight_decay=1e-3), engine._split(flat, start), flat)
        kernel.chunk = size
        grads = np.random.default_rng(1)
        for _ in range(5):
            kernel.step(grads.standard_normal(flat.size).astype(np.float32), 1e-2)
        results.append((flat.copy(), kernel.slot("m_sum").copy(), kernel.slot("v_sum").copy()))
    for a, b in zip(*results):
        assert a.tobytes() == b.tobytes()


def test_an_optimizer_without_a_kernel_runs_its_own_step():
    # A subclass is not the engine's business: fit calls its plain step, so fit and the plain loop
    # agree bit for bit, and the state keeps the class's own slots (the paper's m and v).
    class MyAdam(nz.Adam):
        pass

    plain, fast, plain_opt, fast_opt = _both(lambda: MyAdam(1e-2, weight_decay=1e-3), "float32")
    for k, p in plain.params.items():
        assert p.tobytes() == fast.params[k].tobytes(), k
    assert {k.split(".")[0] for k in fast_opt.state} == {"m", "v"}
    assert engine.saved_slots(fast_opt) == ("m", "v")


def test_the_slots_a_checkpoint_holds():
    assert engine.saved_slots(nz.Adam()) == engine.saved_slots(nz.AdamW()) == ("m_sum", "v_sum")
    assert engine.saved_slots(nz.SGD(0.1, momentum=0.9)) == ("velocity",)
    assert engine.saved_slots(nz.SGD(0.1)) == ()
