"""The studio's web app: a Starlette application serving the page and its JSON endpoints.

Endpoints (all JSON; a bad request gets a 4xx with ``{"error": message}``, never a traceback):

``GET  /api/model``       the model: stages (units, grid, activation, params, dead and always-on
                          units over the data), classes, summary, history, training settings.
``POST /api/predict``     ``{"input": INPUT}`` → ``{"input": f32, "probabilities": [...],
                          "prediction": label, "index": k, "stages": [{"a": f32, "max"}]}``: the
                          28×28 input the model sees and every stage's activations at once.
``POST /api/neuron``      ``{"input": INPUT, "layer": k, "unit": j}`` → weights (f32), bias, z, a,
                          the largest terms w_i·x_i, firing rate over the data.
``POST /api/backprop``    ``{"input": INPUT, "label": c, "lr": optional}`` → loss, p − y, per stage dL/dz (f32) and
                          gradient norms, the first layer's dW column, probabilities after one step.
``GET  /api/confusion``   counts[true][predicted] over the data rows, accuracy.
``GET  /api/mistakes?true=I&pred=J&limit=N``  misclassified rows of one cell (pixels as u8).

INPUT is ``{"canvas": {"width": w, "height": h, "pixels": base64 of w·h uint8 ink values}}``
(prepared like ``nnzero predict image.png``: centred, 28×28), ``{"sample": i}`` (row i of the
data) or ``{"row": [numbers]}`` (one raw row). f32 and u8 are base64 of little-endian float32
and uint8 arrays.
"""

import base64
import binascii
import json
from importlib import resources

import numpy as np

from .. import images
from ..errors import DataError, NnzeroError

MAX_BODY = 4 << 20                # bytes: a 1024×1024 canvas is 1 MiB, base64 1.4 MiB
MAX_CANVAS = 1024


class BadRequest(Exception):
    """A request we refuse: 400 (or ``status``) with ``message``."""

    def __init__(self, message, status=400):
        super().__init__(message)
        self.status = status


def _canvas(spec):
    if not isinstance(spec, dict):
        raise BadRequest("canvas must be an object {width, height, pixels}")
    w, h, pixels = spec.get("width"), spec.get("height"), spec.get("pixels")
    for name, v in (("width", w), ("height", h)):
        if isinstance(v, bool) or not isinstance(v, int) or not 8 <= v <= MAX_CANVAS:
            raise BadRequest(f"canvas {name} must be an integer in 8..{MAX_CANVAS}, got {v!r}")
    if not isinstance(pixels, str):
        raise BadRequest("canvas pixels must be a base64 string of width·height bytes")
    try:
        raw = base64.b64decode(pixels, validate=True)
    except (binascii.Error, ValueError):
        raise BadRequest("canvas pixels are not valid base64") from None
    if len(raw) != w * h:
        raise BadRequest(f"canvas pixels hold {len(raw)} bytes, expected width·height = {w * h}")
    a = np.frombuffer(raw, dtype=np.uint8).reshape(h, w)
    try:
        return images.preprocess_digit(a)
    except DataError as exc:
        raise BadRequest(f"canvas: {exc}") from None


def model_input(studio, body):
    """The request's INPUT as the model's input (1, d)."""
    spec = body.get("input") if isinstance(body, dict) else None
    if not isinstance(spec, dict) or len(spec) != 1:
        raise BadRequest('"input" must be one of {"canvas": ...}, {"sample": i}, {"row": [...]}')
    (kind, value), = spec.items()
    if kind == "canvas":
        if not studio.image:
            raise BadRequest(f"this model takes {studio.net.model.n_features} features, not a 28×28 canvas")
        return studio.net.from_image(_canvas(value))
    if kind == "sample":
        return studio.row(value)
    if kind == "row":
        if not isinstance(value, list) or not all(isinstance(v, (int, float)) and not isinstance(v, bool)
                                                  for v in value):
            raise BadRequest("row must be a list of numbers")
        return studio.net.from_rows(np.asarray([value], dtype=np.float64))
    raise BadRequest(f'unknown input kind {kind!r}; expected "canvas", "sample" or "row"')


async def _body(request):
    raw = await request.body()
    if len(raw) > MAX_BODY:
        raise BadRequest(f"request body of {len(raw)} bytes is over the limit of {MAX_BODY}", 413)
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise BadRequest("the request body must be JSON") from None
    if not isinstance(body, dict):
        raise BadRequest("the request body must be a JSON object")
    return body


def _int_param(request, name, default=None, lo=0, hi=10**9):
    text = request.query_params.get(name)
    if text is None:
        if default is None:
            raise BadRequest(f"missing query parameter {name!r}")
        return default
    try:
        value = int(text)
    except ValueError:
        raise BadRequest(f"{name} must be an integer, got {text!r}") from None
    if not lo <= value <= hi:
        raise BadRequest(f"{name} must be in {lo}..{hi}, got {value}")
    return value


def create_app(state):
    """The Starlette app. ``state``: an object with ``.studio`` (a :class:`~.views.Studio` or
    None when no model is loaded) and ``.message`` (shown by the page when there is none)."""
    from starlette.applications import Starlette
    from starlette.concurrency import run_in_threadpool
    from starlette.responses import FileResponse, JSONResponse
    from starlette.routing import Mount, Route
    from starlette.staticfiles import StaticFiles

    static = resources.files("nnzero.studio") / "static"

    def endpoint(compute, needs_body=False):
        async def handler(request):
            try:
                studio = state.studio
                if studio is None:
                    raise BadRequest(state.message or "no model is loaded", 409)
                body = await _body(request) if needs_body else None
                # NumPy work off the event loop, so a slow answer never blocks the others.
                result = await run_in_threadpool(compute, studio, request, body)
            except BadRequest as exc:
                return JSONResponse({"error": str(exc)}, status_code=exc.status)
            except NnzeroError as exc:
                return JSONResponse({"error": str(exc)}, status_code=400)
            return JSONResponse(result)
        return handler

    routes = [
        Route("/", lambda request: FileResponse(static / "index.html")),
        Route("/api/status", lambda request: JSONResponse(
            {"model": state.studio is not None, "message": state.message})),
        Route("/api/model", endpoint(lambda s, r, b: s.model_info())),
        Route("/api/predict", endpoint(lambda s, r, b: s.predict(model_input(s, b)), True), methods=["POST"]),
        Route("/api/neuron", endpoint(lambda s, r, b: s.neuron(model_input(s, b), b.get("layer"),
                                                                b.get("unit")), True), methods=["POST"]),
        Route("/api/backprop", endpoint(lambda s, r, b: s.backprop(model_input(s, b), b.get("label"), b.get("lr")), True),
              methods=["POST"]),
        Route("/api/confusion", endpoint(lambda s, r, b: s.confusion())),
        Route("/api/mistakes", endpoint(lambda s, r, b: s.mistakes(
            _int_param(r, "true"), _int_param(r, "pred"), _int_param(r, "limit", 48, 1, 500)))),
        Mount("/static", StaticFiles(directory=str(static)), name="static"),
    ]
    return Starlette(routes=routes)
