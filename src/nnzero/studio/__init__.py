"""nnzero studio: look inside a trained network in the browser.

    nnzero studio model.safetensors          # or, from Python:
    from nnzero import studio; studio.serve("model.safetensors")

A local web app (Starlette + uvicorn, ``pip install 'nnzero[studio]'``) whose numbers come from
nnzero's own forward and backward code: draw a digit and see the 28×28 input the model sees,
every layer's activations and the probabilities; open a unit's weights and ``z = w·x + b`` with
real numbers; follow the gradient of one sample back through the network; browse the test
set's mistakes; read the model's history; train a new model from the page and watch it learn
(:mod:`nnzero.studio.jobs`). Endpoints: :mod:`nnzero.studio.app`.
"""

import sys
from pathlib import Path

from ..errors import ConfigError

__all__ = ["State", "create_app", "default_model", "open_model", "serve"]

NO_MODEL = ("no model given and none found at {places}. Train one on the Train page, or with "
            "'nnzero train' (writes model.safetensors, about a minute) and then run "
            "'nnzero studio model.safetensors'.")


def _require():
    """Starlette and uvicorn, or a ConfigError naming the extra."""
    try:
        import starlette  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError as exc:
        raise ConfigError(f"nnzero studio needs {exc.name}: pip install 'nnzero[studio]'") from None


def default_places():
    """Where ``nnzero studio`` without a model looks: ./model.safetensors (what ``nnzero train``
    writes) and the cached default model, <cache>/models/default.safetensors."""
    from ..datasets import cache_dir

    return [Path("model.safetensors"), cache_dir() / "models" / "default.safetensors"]


def default_model():
    """The first existing default place, or None."""
    return next((p for p in default_places() if p.is_file()), None)


class State:
    """What the app serves: ``studio`` (None until a model is loaded), a ``message`` for the
    page when there is no model, and the training ``job`` (made by the app if None)."""

    def __init__(self, studio=None, message=None, job=None, data=None):
        self.studio, self.message, self.job, self.data = studio, message, job, data

    def open(self, path):
        """Look inside the model file at ``path`` from now on (a finished training run's)."""
        self.studio, self.message = open_model(path, self.data), None


def open_model(path, data=None):
    """A :class:`~nnzero.studio.views.Studio` for the model file at ``path``; ``data``: a
    CSV/NPY/NPZ file of rows to use instead of the model's test set."""
    from .. import datasets
    from ..serialization import load
    from .views import Studio

    model = load(path)
    rows = None
    if data is not None:
        X, y = datasets.load_file(data)
        rows = (X, y, f"file {Path(data).name}")
    return Studio(model, path, rows)


def create_app(state):
    _require()
    from .app import create_app as _create

    return _create(state)


def serve(model=None, host="127.0.0.1", port=8000, open_browser=True, data=None, log=print):
    """Open ``model`` (a path; None: the default places) and serve the studio until Ctrl-C."""
    _require()
    import uvicorn

    if model is None:
        model = default_model()
    if model is None:
        places = " or ".join(str(p) for p in default_places())
        state = State(message=NO_MODEL.format(places=places))
        log("nnzero studio: " + state.message)
    else:
        state = State(open_model(model, data), data=data)
        log(f"nnzero studio: {model}")
    if host not in ("127.0.0.1", "localhost", "::1"):
        print(f"nnzero studio: warning: listening on {host}, reachable from other machines; "
              "the studio has no authentication", file=sys.stderr)
    url = f"http://{'127.0.0.1' if host in ('0.0.0.0', '::') else host}:{port}/"
    log(f"nnzero studio: open {url}  (Ctrl-C stops)")
    # An open event stream would hold a graceful shutdown forever: give connections 2 s.
    config = uvicorn.Config(create_app(state), host=host, port=port, log_level="warning",
                            timeout_graceful_shutdown=2)
    server = uvicorn.Server(config)
    if open_browser:
        import threading
        import webbrowser

        threading.Timer(1.0, webbrowser.open, args=(url,)).start()
    server.run()
    return 0
