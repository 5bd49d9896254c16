"""Optimizer state never holds subnormal floats (they are many times slower on Intel cores).

Adam's m (and SGD's velocity) for a weight whose gradient is zero from some step on decays by β
each step: from 1e-3 it passes through float32's subnormal range (below 1.2e-38) after ~750 steps
of Adam. Before the flush, 90 of Adam's and 559 of SGD momentum's state values were subnormal
after 1024 steps of MNIST training (784-32-10, batch 128).
"""

import numpy as np
import pytest

import nnzero as nz
from nnzero import engine


def subnormals(optimizer):
    return sum(int(np.count_nonzero((a != 0) & (np.abs(a) < np.finfo(a.dtype).tiny)))
               for a in optimizer.state.values())


OPTIMIZERS = {
    "adam": lambda: nz.Adam(1e-3),
    "adamw": lambda: nz.AdamW(1e-3),
    "sgd-momentum": lambda: nz.SGD(0.05, momentum=0.9),
    "sgd-nesterov": lambda: nz.SGD(0.05, momentum=0.5, nesterov=True),
    "adam-fast-betas": lambda: nz.Adam(1e-3, beta1=0.5, beta2=0.9),     # v decays within the test too
}


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("flat", [False, True])
@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_decaying_state_never_becomes_subnormal(name, flat, dtype):
    # One small gradient, then zeros: the state decays geometrically through the subnormal range
    # (and, in float32, Adam's g² lands in it at once for part of the entries).
    opt = OPTIMIZERS[name]()
    p_flat, g_flat = np.ones(12, dtype), np.zeros(12, dtype)
    params = {"0.W": p_flat[:8].reshape(2, 4), "0.b": p_flat[8:]}
    grads = {"0.W": g_flat[:8].reshape(2, 4), "0.b": g_flat[8:]}
    g0, steps = (1e-17, 800) if dtype == np.float32 else (1e-150, 4000)
    g_flat[:] = np.geomspace(g0, 1e4 * g0, 12)
    kernel = engine.update_kernel(opt, params, p_flat) if flat else None   # fit's fast path
    for t in range(steps):
        if flat:
            kernel.step(g_flat, opt.lr)
        else:
            opt.step(params, grads)
        g_flat[:] = 0
        assert subnormals(opt) == 0, f"step {t + 1}"
    assert all(a.dtype == dtype for a in opt.state.values())


def test_flush_leaves_normal_values_bit_identical():
    # Values above the threshold are untouched: the same run with the flush disabled agrees exactly
    # as long as no value is small (here 300 steps of gradients in [0.1, 1]).
    rng = np.random.default_rng(0)
    runs = []
    for flush in (True, False):
        opt = nz.Adam(1e-2)
        if not flush:
            opt.decaying = {}
        p = {"0.W": np.ones((3, 4), np.float32)}
        for _ in range(300):
            opt.step(p, {"0.W": rng.uniform(0.1, 1, (3, 4)).astype(np.float32)})
        runs.append((p["0.W"].copy(), {k: v.copy() for k, v in opt.state.items()}))
        rng = np.random.default_rng(0)
    np.testing.assert_array_equal(runs[0][0], runs[1][0])
    for k in runs[0][1]:
        np.testing.assert_array_equal(runs[0][1][k], runs[1][1][k])


@pytest.mark.slow
@pytest.mark.parametrize("make", [lambda: nz.Adam(1e-3), lambda: nz.SGD(0.05, momentum=0.9)],
                         ids=["adam", "sgd-momentum"])
def test_no_subnormals_after_mnist_training(make):
    (X, y), _ = nz.datasets.load_mnist(normalize=True)
    opt = make()
    model = nz.Sequential([nz.Dense(784, 32), nz.ReLU(), nz.Dense(32, 10), nz.Softmax()])
    model.fit(X[:8192], y[:8192], epochs=16, batch_size=128, optimizer=opt, seed=0, verbose=0)   # 1024 steps
    assert opt.t == 1024
    assert subnormals(opt) == 0
