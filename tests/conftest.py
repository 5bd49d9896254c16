"""Shared fixtures. Keep this small and generic; put test-specific helpers in the test file."""

import os

import numpy as np
import pytest

pytest_plugins = ["pytester"]     # for test_suite_hygiene.py: runs pytest on made-up test files


@pytest.fixture
def rng():
    """A fresh, fixed-seed Generator for test data (never the global NumPy RNG)."""
    return np.random.default_rng(12345)


@pytest.fixture(scope="session")
def mnist_small():
    """A few thousand bundled MNIST digits, float32 in [0, 1], loaded once per session:
    ``((X_train (4000, 784), y_train (4000,)), (X_test (1000, 784), y_test (1000,)))``."""
    datasets = pytest.importorskip("nnzero.datasets")
    if not hasattr(datasets, "load_mnist"):
        pytest.skip("nnzero.datasets.load_mnist is not available")
    (X_train, y_train), (X_test, y_test) = datasets.load_mnist(normalize=True)
    # Copies, so the full 60000-image arrays can be freed.
    return ((X_train[:4000].copy(), y_train[:4000].copy()),
            (X_test[:1000].copy(), y_test[:1000].copy()))


@pytest.fixture(scope="session")
def studio_model(tmp_path_factory):
    """A small MNIST model (784-128-10, 2 epochs of the default recipe, ~96 %) trained once per
    session by the CLI, for the studio's tests: its file records MNIST and the preprocessing."""
    from nnzero.cli import main

    path = tmp_path_factory.mktemp("studio") / "model.safetensors"
    assert main(["train", "--hidden", "128", "--epochs", "2", "--out", str(path), "--quiet"]) == 0
    return path


# -- in CI, a missing optional dependency is a failure, not a quiet skip --------------------------
# `pytest.importorskip` skips a test (or a whole file) when a package is missing. On a developer's
# machine that is a convenience; in CI (where `.[test]` installs everything the suite needs) it
# would hide a broken extra behind a line of "s". With CI set, such skips are reported as failures.
IMPORT_SKIP = "could not import"


def _in_ci():
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def _fail_import_skip(report):
    if report.skipped and _in_ci() and IMPORT_SKIP in str(report.longrepr):
        report.outcome = "failed"
        report.longrepr = f"CI is set and a dependency is missing: {report.longrepr}"


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector):
    outcome = yield
    _fail_import_skip(outcome.get_result())


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    _fail_import_skip(outcome.get_result())


# -- helpers shared by several test files (as fixtures: test files do not import each other) --------
@pytest.fixture
def blobs():
    """blobs(rng, labels, n_per_class=30, d=4) → well separated Gaussian clusters, one per label:
    (X (k·n, d) float32, y (k·n,))."""
    def make(rng, labels, n_per_class=30, d=4):
        centers = rng.normal(scale=4.0, size=(len(labels), d))
        X = np.concatenate([c + rng.normal(size=(n_per_class, d)) for c in centers]).astype(np.float32)
        return X, np.repeat(np.asarray(labels), n_per_class)
    return make


@pytest.fixture
def small_net():
    """small_net(n_out, d=4, dropout=0.0, dtype="float32") → d → 8 ReLU (→ Dropout) → n_out Softmax."""
    import nnzero as nz

    def make(n_out, d=4, dropout=0.0, dtype="float32"):
        layers = [nz.Dense(d, 8), nz.ReLU()] + ([nz.Dropout(dropout)] if dropout else [])
        return nz.Sequential(layers + [nz.Dense(8, n_out), nz.Softmax()], dtype=dtype)
    return make


@pytest.fixture
def cli(capsys):
    """cli(argv) → ``nnzero`` run in-process on ``argv`` (paths and numbers are turned into text):
    (exit code, stdout, stderr). argparse's exits (--help, --version, bad flags) give their code."""
    from nnzero.cli import main

    def run(argv):
        try:
            code = main([str(a) for a in argv])
        except SystemExit as exc:
            code = exc.code
        out, err = capsys.readouterr()
        return code, out, err
    return run


@pytest.fixture
def TOL():   # noqa: N802  (reads as the constant it is)
    """Relative error a correct backward stays under in float64 (it is ~1e-9 or less)."""
    return 1e-7


@pytest.fixture
def numeric_grad():
    """numeric_grad(f, x, eps=1e-6) → ∂f/∂x entry by entry: (f(x + ε) − f(x − ε)) / 2ε.
    Perturbs ``x`` in place, then restores it."""
    def grad_of(f, x, eps=1e-6):
        grad = np.empty_like(x)
        flat, gflat = x.reshape(-1), grad.reshape(-1)
        for i in range(flat.size):
            old = flat[i]
            flat[i] = old + eps
            up = f()
            flat[i] = old - eps
            down = f()
            flat[i] = old
            gflat[i] = (up - down) / (2 * eps)
        return grad
    return grad_of


@pytest.fixture
def rel_error():
    """rel_error(a, b) → ‖a − b‖ / (‖a‖ + ‖b‖), the measure check_gradients reports."""
    return lambda a, b: np.linalg.norm(a - b) / max(np.linalg.norm(a) + np.linalg.norm(b), 1e-12)
