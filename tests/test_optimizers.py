"""Optimizers and learning-rate schedules: update rules on numbers small enough to check by hand,
state for checkpoints, settings errors. (Agreement with torch.optim: test_torch_reference.py.)"""

import math

import numpy as np
import pytest

import nnzero as nz
from nnzero import optimizers


def _params():
    return {"0.W": np.array([[1.0, -2.0], [0.5, 4.0]]), "0.b": np.array([1.0, -1.0])}


def _grads():
    return {"0.W": np.array([[0.5, 0.5], [-1.0, 2.0]]), "0.b": np.array([2.0, 0.0])}


def test_sgd_plain_step():
    p = _params()
    optimizers.SGD(lr=0.1).step(p, _grads())
    np.testing.assert_allclose(p["0.W"], [[0.95, -2.05], [0.6, 3.8]], rtol=1e-15)
    np.testing.assert_allclose(p["0.b"], [0.8, -1.0], rtol=1e-15)


def test_sgd_momentum_and_nesterov_two_steps():
    # With a constant gradient g: v₁ = g, v₂ = μg + g = 1.5g (μ = 0.5).
    # Heavy ball: w₂ = w₀ − lr·(v₁ + v₂) = w₀ − 2.5·lr·g.
    # Nesterov:   step_t = g + μ·v_t → 1.5g then 1.75g, so w₂ = w₀ − 3.25·lr·g.
    for nesterov, factor in ((False, 2.5), (True, 3.25)):
        p, g = _params(), _grads()
        opt = optimizers.SGD(lr=0.1, momentum=0.5, nesterov=nesterov)
        opt.step(p, g)
        opt.step(p, g)
        for k in p:
            np.testing.assert_allclose(p[k], _params()[k] - factor * 0.1 * g[k], rtol=1e-14)
        np.testing.assert_allclose(opt.state["velocity.0.W"], 1.5 * g["0.W"], rtol=1e-15)


@pytest.mark.parametrize("make", [
    lambda: optimizers.SGD(lr=0.1, weight_decay=0.5),
    lambda: optimizers.SGD(lr=0.1, momentum=0.9, weight_decay=0.5),
    lambda: optimizers.Adam(lr=0.1, weight_decay=0.5),
    lambda: optimizers.AdamW(lr=0.1, weight_decay=0.5),
])
def test_weight_decay_shrinks_matrices_never_biases(make):
    p = _params()
    zero = {k: np.zeros_like(v) for k, v in p.items()}
    make().step(p, zero)
    np.testing.assert_array_equal(p["0.b"], _params()["0.b"])
    assert np.all(np.abs(p["0.W"]) < np.abs(_params()["0.W"]))


def test_sgd_weight_decay_is_l2_in_the_gradient():
    p = _params()
    optimizers.SGD(lr=0.1, weight_decay=0.5).step(p, _grads())
    # W ← W − lr·(g + λW) = W·(1 − 0.05) − 0.1·g
    np.testing.assert_allclose(p["0.W"], 0.95 * _params()["0.W"] - 0.1 * _grads()["0.W"], rtol=1e-15)


def test_adam_first_step_is_lr_times_sign():
    # At t = 1 the bias corrections give m̂ = g, v̂ = g², so the step is lr·g/(|g| + ε).
    p, g = _params(), _grads()
    optimizers.Adam(lr=0.01).step(p, g)
    for k in p:
        expected = _params()[k] - 0.01 * g[k] / (np.abs(g[k]) + 1e-8)
        np.testing.assert_allclose(p[k], expected, rtol=1e-14)


def test_adamw_decays_weights_directly():
    # AdamW with a zero gradient: the Adam step is 0 (m = 0), only W ← W·(1 − lr·λ) remains.
    p = _params()
    optimizers.AdamW(lr=0.1, weight_decay=0.2).step(p, {k: np.zeros_like(v) for k, v in p.items()})
    np.testing.assert_allclose(p["0.W"], 0.98 * _params()["0.W"], rtol=1e-15)


@pytest.mark.parametrize("make", [
    lambda: optimizers.SGD(lr=0.05, momentum=0.9, nesterov=True, weight_decay=1e-3),
    lambda: optimizers.Adam(lr=0.01, weight_decay=1e-3),
    lambda: optimizers.AdamW(lr=0.01),
])
def test_state_dict_resumes_exactly(make, rng):
    grads = [{k: rng.normal(size=v.shape) for k, v in _params().items()} for _ in range(6)]
    straight, p = make(), _params()
    for g in grads:
        straight.step(p, g)

    first, q = make(), _params()
    for g in grads[:3]:
        first.step(q, g)
    state = first.state_dict()
    for arr in state["arrays"].values():
        arr += 1.0                      # state_dict must hand out copies...
    state = first.state_dict()
    resumed = make()
    resumed.load_state_dict(state)
    for arr in state["arrays"].values():
        arr += 1.0                      # ...and load_state_dict must take copies
    for g in grads[3:]:
        resumed.step(q, g)
    assert resumed.t == straight.t == 6
    for k in p:
        assert p[k].tobytes() == q[k].tobytes()


def test_float32_parameters_stay_float32():
    for opt in (optimizers.SGD(0.1, momentum=0.9, weight_decay=0.1), optimizers.Adam(weight_decay=0.1),
                optimizers.AdamW()):
        p = {k: v.astype(np.float32) for k, v in _params().items()}
        opt.step(p, {k: v.astype(np.float32) for k, v in _grads().items()}, lr=np.float64(0.01))
        assert all(v.dtype == np.float32 for v in p.values())
        assert all(v.dtype == np.float32 for v in opt.state.values())


@pytest.mark.parametrize("make, message", [
    (lambda: optimizers.SGD(lr=0), "learning rate must be a finite number > 0, got 0"),
    (lambda: optimizers.Adam(lr=-1e-3), "learning rate must be a finite number > 0, got -0.001"),
    (lambda: optimizers.SGD(lr=float("nan")), "learning rate must be a finite number > 0, got nan"),
    (lambda: optimizers.SGD(lr="fast"), "learning rate must be a finite number > 0, got 'fast'"),
    (lambda: optimizers.SGD(momentum=1.0), r"momentum must be in \[0, 1\), got 1.0"),
    (lambda: optimizers.SGD(nesterov=True), "nesterov=True needs momentum > 0"),
    (lambda: optimizers.Adam(beta2=1.0), r"Adam beta2 must be in \[0, 1\), got 1.0"),
    (lambda: optimizers.Adam(weight_decay=-0.1), "weight_decay must be a finite number ≥ 0, got -0.1"),
    (lambda: optimizers.get("rmsprop"), r"unknown optimizer 'rmsprop'; expected one of \['adam', 'adamw', 'sgd'\]"),
    (lambda: optimizers.get_schedule("linear"), "unknown schedule 'linear'"),
    (lambda: optimizers.get_schedule({"name": "step", "every": 3}), "bad settings for schedule 'step'"),
    (lambda: optimizers.StepDecay(step_size=0), "step_size must be a finite number > 0, got 0"),
])
def test_invalid_optimizer_settings(make, message):
    with pytest.raises(nz.ConfigError, match=message):
        make()


def test_get_builds_by_name():
    opt = optimizers.get("SGD", lr=0.2, momentum=0.9)
    assert isinstance(opt, nz.SGD) and opt.lr == 0.2 and opt.momentum == 0.9
    assert isinstance(optimizers.get("adamw"), nz.AdamW)


# -- schedules: multipliers of the base lr at fractional epoch e of E ---------------------------

@pytest.mark.parametrize("epoch", [0.0, 0.5, 2.0, 3.7, 10.0])
def test_cosine_formula(epoch):
    # f = f_min + (1 − f_min)·(1 + cos(π·e/E))/2
    f = nz.Cosine(min_factor=0.1)(epoch, 10)
    assert f == pytest.approx(0.1 + 0.9 * (1 + math.cos(math.pi * epoch / 10)) / 2, rel=1e-15)


def test_cosine_with_warmup():
    cos = nz.Cosine(warmup=2.0)
    assert cos(0.0, 10) == 0.01                          # the ramp starts at 1 %, not at 0
    assert cos(1.0, 10) == 0.5                           # linear ramp e/warmup
    assert cos(2.0, 10) == 1.0                           # the cosine starts at the peak...
    assert cos(6.0, 10) == pytest.approx(0.5)            # ...is half way at (E − warmup)/2 after it
    assert cos(10.0, 10) == pytest.approx(0.0, abs=1e-15)
    assert cos(12.0, 10) == pytest.approx(0.0, abs=1e-15)   # stays at the floor past the end


@pytest.mark.parametrize("epoch, factor", [(0, 1.0), (2.9, 1.0), (3, 0.5), (5.99, 0.5), (6, 0.25), (9, 0.125)])
def test_step_decay_formula(epoch, factor):
    # f = γ^⌊e / step⌋
    assert nz.StepDecay(step_size=3, gamma=0.5)(epoch, 20) == factor


@pytest.mark.parametrize("epoch, factor", [(0, 0.01), (0.001, 0.01), (0.5, 0.25), (1.0, 0.5), (2.0, 1.0), (7, 1.0)])
def test_warmup_formula(epoch, factor):
    # f = min(1, max(e / warmup, 0.01))
    assert nz.Warmup(warmup=2.0)(epoch, 10) == factor


def test_lr_at_multiplies_the_base_rate():
    opt = optimizers.SGD(lr=0.2, schedule={"name": "step", "step_size": 1, "gamma": 0.1})
    assert opt.lr_at(0.5, 5) == 0.2
    assert opt.lr_at(2.0, 5) == pytest.approx(0.002, rel=1e-14)
    assert optimizers.Adam(lr=0.1).lr_at(3.0, 5) == 0.1  # no schedule: constant


def test_get_schedule_accepts_names_dicts_instances_and_callables():
    assert isinstance(optimizers.get_schedule(None), nz.Constant)
    assert isinstance(optimizers.get_schedule("cosine"), nz.Cosine)
    step = optimizers.get_schedule({"name": "step", "step_size": 2, "gamma": 0.3})
    assert (step.step_size, step.gamma) == (2.0, 0.3)
    assert optimizers.get_schedule(optimizers.get_schedule(step.config())).config() == step.config()
    assert optimizers.get_schedule(step) is step
    half = lambda epoch, epochs: 0.5
    assert optimizers.get_schedule(half) is half


def test_defaults_are_pytorchs():
    # torch.optim.SGD(lr=0.01 is ours: torch has no default), Adam(lr=1e-3, betas=(0.9, 0.999),
    # eps=1e-8, weight_decay=0), AdamW(... weight_decay=1e-2).
    assert optimizers.SGD().config() == {"lr": 0.01, "weight_decay": 0.0, "schedule": {"name": "constant"},
                                         "momentum": 0.0, "nesterov": False}
    adam = {"lr": 1e-3, "weight_decay": 0.0, "schedule": {"name": "constant"}, "beta1": 0.9, "beta2": 0.999,
            "eps": 1e-8}
    assert optimizers.Adam().config() == adam
    assert optimizers.AdamW().config() == {**adam, "weight_decay": 0.01}


@pytest.mark.parametrize("cls", [optimizers.SGD, optimizers.Adam, optimizers.AdamW])
def test_the_schedule_reaches_every_optimizer(cls):
    opt = cls(schedule={"name": "cosine", "warmup": 1})
    assert isinstance(opt.schedule, optimizers.Cosine) and opt.schedule.warmup == 1


@pytest.mark.parametrize("make, message", [
    (lambda: optimizers.SGD(0.1, momentum=-0.5), "momentum must be"),
    (lambda: optimizers.SGD(0.1, nesterov=True), "nesterov=True needs momentum > 0"),
    (lambda: optimizers.Adam(eps=0), "eps must be"),
    (lambda: optimizers.Adam(beta1=1.0), "Adam beta1 must be in"),
    (lambda: optimizers.Adam(beta2=-0.1), "Adam beta2 must be in"),
])
def test_bad_settings_name_the_setting(make, message):
    with pytest.raises(nz.ConfigError, match=message):
        make()


def test_beta1_zero_is_allowed():
    p = _params()
    optimizers.Adam(lr=0.01, beta1=0.0).step(p, _grads())        # m is the gradient itself
    assert np.isfinite(p["0.W"]).all()


def test_flush_period_and_flush():
    # k = min(64, ⌊ln 10⁻³ / ln β⌋), at least 1; values below tiny/βᵏ become exactly 0.
    assert [optimizers.flush_period(b) for b in (0.9, 0.999, 0.5, 0.001)] == [64, 64, 9, 1]
    a = np.array([1e-39, -1e-39, 1e-30, 1.0], np.float32)
    optimizers.flush_subnormals(a, 0.9)
    assert a.tolist() == [0.0, 0.0, np.float32(1e-30), 1.0] and not np.signbit(a[1])
