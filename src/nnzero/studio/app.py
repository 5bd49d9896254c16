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

Training (one run at a time; :mod:`nnzero.studio.jobs`):

``GET  /api/train``          the run's state, the recipes, the datasets present and the runs
                             left to resume in the server's folder (``resumable``).
``POST /api/train/start``    ``{"settings": {field: text}}`` (fields as ``nnzero train``'s flags:
                             dataset, data, recipe, hidden, optimizer, lr, epochs, batch_size,
                             dropout, augment, seed, validation_split, out) → the state once it trains;
                             400 with the CLI's message for bad settings, 409 while a run goes.
``POST /api/train/stop``     stop at the next batch end, checkpointing the last completed epoch.
``POST /api/train/resume``   continue the stopped run exactly; ``{"checkpoint": name}``: a run
                             listed in ``resumable`` (left in the folder, e.g. by a restart).
``POST /api/train/augmented``  ``{"settings": {...}, "samples": 8, "copies": 2}`` → the grid of
                             augmented training samples those settings would train on
                             (:mod:`nnzero.studio.samples`); ``augment`` null when there is none.
``GET  /api/train/events``   Server-Sent Events (``id:`` = sequence number; ``Last-Event-ID`` or
                             ``?after=N`` resumes, ``?once=1`` ends after the events so far).

INPUT is ``{"canvas": {"width": w, "height": h, "pixels": base64 of w·h uint8 ink values}}``
(prepared like ``nnzero predict image.png``: centred, 28×28), ``{"sample": i}`` (row i of the
data) or ``{"row": [numbers]}`` (one raw row). f32 and u8 are base64 of little-endian float32
and uint8 arrays.
"""

import asyncio
import base64
import binascii
import contextlib
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


def refusal(exc):
    """The 4xx answer to a refused request (BadRequest's status) or a bad setting (an nnzero
    error: 400), with its message."""
    from starlette.responses import JSONResponse

    return JSONResponse({"error": str(exc)}, status_code=getattr(exc, "status", 400))


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


def _control(job, action, JSONResponse, run_in_threadpool):
    """The endpoint that starts, stops or resumes ``job``."""
    async def handler(request):
        try:
            body = await _body(request) if action == "start" or await request.body() else {}
            if job.busy and action in ("start", "resume"):
                raise BadRequest(f"a run is already going (epoch {job.epoch + 1}/{job.epochs}); "
                                 "stop it before starting another", 409)
            if action == "start":
                result = await run_in_threadpool(job.start, body.get("settings") or {})
            elif action == "resume":
                result = await run_in_threadpool(job.resume, body.get("checkpoint"))
            else:
                await run_in_threadpool(job.stop)
                result = job.snapshot()
        except (BadRequest, NnzeroError) as exc:
            return refusal(exc)
        return JSONResponse(result)
    return handler


def _training_routes(state, Route, JSONResponse, StreamingResponse, run_in_threadpool):
    """The Train view's endpoints, on ``state.job``."""
    from .. import optimizers, recipes
    from ..augment import PRESETS
    from .samples import augmented_grid

    job = state.job

    def control(action):
        return _control(job, action, JSONResponse, run_in_threadpool)

    async def augmented(request):
        try:
            body = await _body(request)
            settings = body.get("settings") or {}
            result = await run_in_threadpool(augmented_grid, settings, body.get("samples"), body.get("copies"))
        except (BadRequest, NnzeroError) as exc:
            return refusal(exc)
        return JSONResponse(result)

    async def info(request):
        return JSONResponse({**job.snapshot(), "recipes": recipes.RECIPES,
                             "optimizers": sorted(optimizers.OPTIMIZERS),
                             "augment": [*sorted(PRESETS), "none"]})

    async def events(request):
        try:
            after = int(request.headers.get("last-event-id") or request.query_params.get("after") or 0)
        except ValueError:
            return JSONResponse({"error": "after / Last-Event-ID must be an integer"}, status_code=400)
        once = request.query_params.get("once") == "1"

        async def stream():
            nonlocal after
            yield "retry: 1000\n\n"
            fresh = after == 0
            while True:
                for event in job.since(after):
                    after = event["id"]
                    yield f"id: {after}\ndata: {json.dumps(event)}\n\n"
                if fresh:                    # a new page: the run so far, then where it is now
                    fresh = False
                    yield f"data: {json.dumps(job.snapshot())}\n\n"
                if once or await request.is_disconnected():
                    return
                await asyncio.sleep(0.1)

        return StreamingResponse(stream(), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})

    return [Route("/api/train", info),
            Route("/api/train/start", control("start"), methods=["POST"]),
            Route("/api/train/stop", control("stop"), methods=["POST"]),
            Route("/api/train/resume", control("resume"), methods=["POST"]),
            Route("/api/train/events", events),
            Route("/api/train/augmented", augmented, methods=["POST"])]


def create_app(state):
    """The Starlette app. ``state``: an object with ``.studio`` (a :class:`~.views.Studio` or
    None when no model is loaded), ``.message`` (shown by the page when there is none) and
    ``.job`` (a :class:`~.jobs.Job`, made here if None; a finished run's model is opened)."""
    from starlette.applications import Starlette
    from starlette.concurrency import run_in_threadpool
    from starlette.responses import FileResponse, JSONResponse, StreamingResponse
    from starlette.routing import Mount, Route
    from starlette.staticfiles import StaticFiles

    from .jobs import Job

    if state.job is None:
        state.job = Job(on_done=state.open)

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
            except (BadRequest, NnzeroError) as exc:
                return refusal(exc)
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
        *_training_routes(state, Route, JSONResponse, StreamingResponse, run_in_threadpool),
        Mount("/static", StaticFiles(directory=str(static)), name="static"),
    ]

    @contextlib.asynccontextmanager
    async def lifespan(app):
        yield
        await run_in_threadpool(state.job.shutdown)      # Ctrl-C: checkpoint a running job

    return Starlette(routes=routes, lifespan=lifespan)
