"""nnzero against PyTorch (autograd, torch.nn.functional, torch.optim, lr_scheduler), float64,
on random shapes: forward values and the gradients of weights, biases and inputs."""

import numpy as np
import pytest

import nnzero as nz
from nnzero import losses, optimizers

torch = pytest.importorskip("torch")
F = torch.nn.functional

LAYER_TOL = dict(rtol=1e-10, atol=1e-12)
OPT_TOL = dict(rtol=1e-9, atol=1e-12)   # torch's Adam uses lerp/addcmul: same math, other rounding


def t(a, grad=False):
    return torch.tensor(a, dtype=torch.float64, requires_grad=grad)


def shapes(seed):
    r = np.random.default_rng(seed)
    return np.random.default_rng(seed + 100), int(r.integers(1, 9)), int(r.integers(1, 7)), int(r.integers(2, 6))


TORCH_OPS = {
    "ReLU": (nz.ReLU, F.relu),
    "LeakyReLU": (lambda: nz.LeakyReLU(0.07), lambda x: F.leaky_relu(x, 0.07)),
    "Tanh": (nz.Tanh, torch.tanh),
    "Sigmoid": (nz.Sigmoid, torch.sigmoid),
    "Softmax": (nz.Softmax, lambda x: torch.softmax(x, dim=1)),
}


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("name", list(TORCH_OPS))
def test_activation_matches_torch(name, seed):
    rng, n, d, _ = shapes(seed)
    ours, theirs = TORCH_OPS[name][0](), TORCH_OPS[name][1]
    x = rng.normal(scale=3.0, size=(n, d))
    x[np.abs(x) < 1e-3] = 0.5                    # 0 is a kink; torch and we both pick slope 0 there anyway
    G = rng.normal(size=(n, d))
    out = ours.forward(x, training=True)
    xt = t(x, grad=True)
    ref = theirs(xt)
    ref.backward(t(G))
    np.testing.assert_allclose(out, ref.detach().numpy(), **LAYER_TOL)
    np.testing.assert_allclose(ours.backward(G), xt.grad.numpy(), **LAYER_TOL)
    np.testing.assert_allclose(ours.forward(x), ref.detach().numpy(), **LAYER_TOL)   # inference path


@pytest.mark.parametrize("seed", range(4))
def test_dense_matches_torch_linear(seed):
    rng, n, d_in, d_out = shapes(seed)
    layer = nz.Dense(d_in, d_out)
    layer.build(d_in, rng, np.float64)
    layer.params["b"][:] = rng.normal(size=d_out)
    x, G = rng.normal(size=(n, d_in)), rng.normal(size=(n, d_out))
    out = layer.forward(x, training=True)
    dx = layer.backward(G)
    # torch.nn.Linear stores W as (d_out, d_in); ours is (d_in, d_out), hence the transpose.
    xt, Wt, bt = t(x, True), t(layer.params["W"].T.copy(), True), t(layer.params["b"], True)
    ref = F.linear(xt, Wt, bt)
    ref.backward(t(G))
    np.testing.assert_allclose(out, ref.detach().numpy(), **LAYER_TOL)
    np.testing.assert_allclose(dx, xt.grad.numpy(), **LAYER_TOL)
    np.testing.assert_allclose(layer.grads["W"], Wt.grad.numpy().T, **LAYER_TOL)
    np.testing.assert_allclose(layer.grads["b"], bt.grad.numpy(), **LAYER_TOL)


def test_dropout_matches_torch_with_the_same_mask():
    # torch draws its own mask, so compare the rule x ⊙ m / (1 − p) with our mask.
    rng, n, d, _ = shapes(7)
    layer = nz.Dropout(0.3)
    layer.rng = np.random.default_rng(0)
    x, G = rng.normal(size=(n, d)), rng.normal(size=(n, d))
    out = layer.forward(x, training=True).copy()
    mask = out != 0
    xt = t(x, True)
    ref = xt * t(mask.astype(np.float64)) / (1 - 0.3)
    ref.backward(t(G))
    np.testing.assert_allclose(out, ref.detach().numpy(), **LAYER_TOL)
    np.testing.assert_allclose(layer.backward(G), xt.grad.numpy(), **LAYER_TOL)


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("seed", range(3))
def test_softmax_cross_entropy_matches_torch(seed, weighted):
    rng, n, _, c = shapes(seed)
    z, y = rng.normal(scale=4.0, size=(n, c)), rng.integers(0, c, n)
    w = rng.uniform(0, 2, n) if weighted else None
    loss, grad = losses.SoftmaxCrossEntropy().loss_and_grad(z, y, w)
    zt = t(z, True)
    if weighted:   # ours is Σ w_i ℓ_i / n
        ref = (F.cross_entropy(zt, torch.tensor(y), reduction="none") * t(w)).sum() / n
    else:
        ref = F.cross_entropy(zt, torch.tensor(y))
    ref.backward()
    np.testing.assert_allclose(loss, ref.item(), **LAYER_TOL)
    np.testing.assert_allclose(grad, zt.grad.numpy(), **LAYER_TOL)


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("seed", range(3))
def test_mse_matches_torch(seed, weighted):
    rng, n, k, _ = shapes(seed)
    yhat, y = rng.normal(size=(n, k)), rng.normal(size=(n, k))
    w = rng.uniform(0, 2, n) if weighted else None
    loss, grad = losses.MeanSquaredError().loss_and_grad(yhat, y, w)
    yt = t(yhat, True)
    if weighted:   # ours is Σ_i w_i·mean_j(d_ij²) / n
        ref = (F.mse_loss(yt, t(y), reduction="none").mean(dim=1) * t(w)).sum() / n
    else:
        ref = F.mse_loss(yt, t(y))
    ref.backward()
    np.testing.assert_allclose(loss, ref.item(), **LAYER_TOL)
    np.testing.assert_allclose(grad, yt.grad.numpy(), **LAYER_TOL)


def test_whole_network_matches_torch():
    rng = np.random.default_rng(3)
    model = nz.Sequential([nz.Dense(6, 5), nz.Tanh(), nz.Dense(5, 4), nz.LeakyReLU(0.1),
                           nz.Dense(4, 3), nz.Softmax()], dtype="float64").build(seed=0)
    X, y = rng.normal(size=(10, 6)), rng.integers(0, 3, 10)
    loss, g = model.loss.loss_and_grad(model.forward(X, training=True), y)
    model.backward(g)

    torch_params = {k: t(v.T.copy() if v.ndim == 2 else v, True) for k, v in model.params.items()}
    h = t(X)
    for i, act in ((0, torch.tanh), (2, lambda a: F.leaky_relu(a, 0.1)), (4, None)):
        h = F.linear(h, torch_params[f"{i}.W"], torch_params[f"{i}.b"])
        h = act(h) if act else h
    ref = F.cross_entropy(h, torch.tensor(y))
    ref.backward()
    np.testing.assert_allclose(loss, ref.item(), **LAYER_TOL)
    for k, grad in model.grads.items():
        tg = torch_params[k].grad.numpy()
        np.testing.assert_allclose(grad, tg.T if grad.ndim == 2 else tg, **LAYER_TOL, err_msg=k)


# -- optimizers vs torch.optim -----------------------------------------------------------------

OPTIMIZERS = {
    "SGD": (lambda: optimizers.SGD(lr=0.1), lambda g: torch.optim.SGD(g, lr=0.1)),
    "SGD+momentum": (lambda: optimizers.SGD(lr=0.1, momentum=0.9),
                     lambda g: torch.optim.SGD(g, lr=0.1, momentum=0.9)),
    "SGD+nesterov": (lambda: optimizers.SGD(lr=0.1, momentum=0.8, nesterov=True),
                     lambda g: torch.optim.SGD(g, lr=0.1, momentum=0.8, nesterov=True)),
    "SGD+weight_decay": (lambda: optimizers.SGD(lr=0.1, momentum=0.9, weight_decay=0.01),
                         lambda g: torch.optim.SGD(g, lr=0.1, momentum=0.9, weight_decay=0.01)),
    "Adam": (lambda: optimizers.Adam(lr=0.01, beta1=0.8, beta2=0.99, eps=1e-6),
             lambda g: torch.optim.Adam(g, lr=0.01, betas=(0.8, 0.99), eps=1e-6)),
    "Adam+weight_decay": (lambda: optimizers.Adam(lr=0.01, weight_decay=0.05),
                          lambda g: torch.optim.Adam(g, lr=0.01, weight_decay=0.05)),
    "AdamW": (lambda: optimizers.AdamW(lr=0.01, weight_decay=0.1),
              lambda g: torch.optim.AdamW(g, lr=0.01, weight_decay=0.1)),
}


@pytest.mark.parametrize("steps", [1, 7])
@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_optimizer_matches_torch(name, steps):
    make_ours, make_theirs = OPTIMIZERS[name]
    rng = np.random.default_rng(steps)
    params = {"0.W": rng.normal(size=(4, 3)), "0.b": rng.normal(size=3),
              "2.W": rng.normal(size=(3, 2)), "2.b": rng.normal(size=2)}
    tparams = {k: t(v.copy(), True) for k, v in params.items()}
    opt = make_ours()
    # nnzero decays matrices only; in torch that is two param groups, biases with weight_decay=0.
    decay = [p for k, p in tparams.items() if k.endswith("W")]
    no_decay = [p for k, p in tparams.items() if k.endswith("b")]
    topt = make_theirs([{"params": decay}, {"params": no_decay, "weight_decay": 0.0}])
    for _ in range(steps):
        grads = {k: rng.normal(size=v.shape) for k, v in params.items()}
        opt.step(params, grads)
        for k, p in tparams.items():
            p.grad = t(grads[k])
        topt.step()
    for k, p in params.items():
        np.testing.assert_allclose(p, tparams[k].detach().numpy(), **OPT_TOL, err_msg=k)
    if name.startswith("Adam"):
        # The paper's m and v are torch's exp_avg and exp_avg_sq.
        for k, p in tparams.items():
            state = topt.state[p]
            np.testing.assert_allclose(opt.state[f"m.{k}"], state["exp_avg"].numpy(), **OPT_TOL)
            np.testing.assert_allclose(opt.state[f"v.{k}"], state["exp_avg_sq"].numpy(), **OPT_TOL)


def test_optimizer_with_changing_lr_matches_torch():
    # Our per-step lr argument against torch's param_group["lr"] set before each step.
    rng = np.random.default_rng(0)
    w = rng.normal(size=(3, 3))
    wt = t(w.copy(), True)
    opt, topt = optimizers.Adam(lr=0.01), torch.optim.Adam([wt], lr=0.01)
    for step, lr in enumerate([0.01, 0.005, 0.02, 0.001]):
        g = rng.normal(size=w.shape)
        opt.step({"W": w}, {"W": g}, lr)
        wt.grad = t(g)
        topt.param_groups[0]["lr"] = lr
        topt.step()
    np.testing.assert_allclose(w, wt.detach().numpy(), **OPT_TOL)


# -- schedules vs torch.optim.lr_scheduler (at whole epochs, where the semantics match) ----------

def _torch_lrs(make_scheduler, epochs, base=0.1):
    opt = torch.optim.SGD([t(np.zeros(1), True)], lr=base)
    sched = make_scheduler(opt)
    lrs = []
    for _ in range(epochs + 1):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return lrs


def test_cosine_matches_cosine_annealing_lr():
    epochs, base = 12, 0.1
    ours = optimizers.SGD(lr=base, schedule=nz.Cosine(min_factor=0.05))
    ref = _torch_lrs(lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max=epochs, eta_min=0.005),
                     epochs, base)
    np.testing.assert_allclose([ours.lr_at(e, epochs) for e in range(epochs + 1)], ref, rtol=1e-12)


def test_step_decay_matches_step_lr():
    epochs = 10
    ours = optimizers.SGD(lr=0.1, schedule=nz.StepDecay(step_size=3, gamma=0.5))
    ref = _torch_lrs(lambda o: torch.optim.lr_scheduler.StepLR(o, step_size=3, gamma=0.5), epochs)
    np.testing.assert_allclose([ours.lr_at(e, epochs) for e in range(epochs + 1)], ref, rtol=1e-12)
