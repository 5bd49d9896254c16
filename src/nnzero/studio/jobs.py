"""Training from the page: one run at a time, in a background thread, through ``nnzero train``'s
own code path (:func:`nnzero.cli.train.run`), so a run started here gives the same weights as
the same command line, and Stop/Resume use the CLI's checkpoints (exact resume).

The form's fields become ``nnzero train`` flags and go through its argument parser: a bad value
is refused with the message the CLI gives. While the run goes, a callback records events that
the page reads as a Server-Sent-Events stream (:mod:`nnzero.studio.app`):

``{"type": "state", "state": idle|running|stopping|stopped|cancelled|done|error, ...}``
``{"type": "batch", "epoch", "batch", "n_batches", "loss", "smooth", "accuracy", "smooth_acc",
"elapsed", "left"}`` (accuracy None for a regression model, whose loop reports NaN)
``{"type": "epoch", "epoch", "epochs", "logs": {...}, "diagnostics": {...}}``
``{"type": "weights", "epoch", "units", "pixels": u8, "scales": [...]}`` (first layer, ≤ 64 units)
``{"type": "reset"}``: forget the events so far (a run resumed from a checkpoint file follows,
its earlier epochs first)
"""

import argparse
import math
import shlex
import threading
import time
from pathlib import Path

import numpy as np

from .. import datasets
from ..callbacks import Callback
from ..cli import train as cli_train
from ..errors import ConfigError, NnzeroError
from ..serialization import load
from ..diagnostics import Diagnostics
from . import resumable
from .views import u8

# form field -> nnzero train flag
FLAGS = {"dataset": "--dataset", "data": "--data", "recipe": "--recipe", "hidden": "--hidden",
         "optimizer": "--optimizer", "lr": "--lr", "epochs": "--epochs", "batch_size": "--batch-size",
         "dropout": "--dropout", "augment": "--augment", "seed": "--seed",
         "validation_split": "--validation-split", "out": "--out"}
BATCH_EVENTS_PER_S = 10           # batch events are thinned to about this rate
WEIGHT_UNITS = 64                 # first-layer units shown as 28×28 images


class StopRequested(KeyboardInterrupt):
    """Raised inside the fit to stop it the way Ctrl-C does: nnzero train checkpoints the last
    completed epoch."""


def available_datasets():
    """Named datasets whose files are here (bundled, or in the download cache)."""
    out = []
    for name, spec in datasets.DATASETS.items():
        folder = datasets.cache_dir() / spec.name
        if spec.bundled or all((folder / f).is_file() for f in spec.files.values()):
            out.append(name)
    return out


def train_parser():
    """``nnzero train``'s own parser, raising ConfigError (with the CLI's message) on bad values."""
    top = argparse.ArgumentParser(prog="nnzero")
    parser = cli_train.add_parser(top.add_subparsers())

    def error(message):
        raise ConfigError(message)

    parser.error = error
    return parser


def form_to_argv(form):
    """The page's form {field: text} → ``nnzero train`` arguments; empty fields are left out
    (the recipe's value applies)."""
    if not isinstance(form, dict):
        raise ConfigError("the training settings must be a JSON object")
    unknown = set(form) - set(FLAGS)
    if unknown:
        raise ConfigError(f"unknown training settings {sorted(unknown)}; expected some of {sorted(FLAGS)}")
    argv = []
    for field, flag in FLAGS.items():
        value = form.get(field)
        if value is None or str(value).strip() == "":
            continue
        argv += [flag, str(value).strip()]
    return argv


def fresh_out(folder, stem="studio-model"):
    """studio-model.safetensors, or -2, -3, ... : never a file (or its checkpoint) that exists."""
    for i in range(1, 10_000):
        name = f"{stem}.safetensors" if i == 1 else f"{stem}-{i}.safetensors"
        path = Path(folder) / name
        if not path.exists() and not cli_train.common.default_checkpoint_path(path).exists():
            return path
    raise ConfigError(f"no free model file name in {folder}")


class _Stream(Callback):
    """Records the run's progress as events; raises StopRequested at a batch end when asked.

    Per batch it reads the training loop's own ``on_batch_end`` logs: ``loss`` and, when the
    loop reports it, ``accuracy`` (the batch's share of rows whose logits' argmax is their label:
    no extra forward pass). Both are smoothed by an exponential moving average over ~20 batches,
    s ← 0.95·s + 0.05·x, since one batch is noisy. ``on_train_begin``'s ``n_batches`` (when the
    loop gives it) lets "time left" be estimated from the first batches; without it the first
    epoch counts them."""

    def __init__(self, job):
        self.job = job

    def on_train_begin(self, logs=None):
        logs = logs or {}
        resume = logs.get("resume")
        self.t0, self.epoch0 = time.perf_counter(), int(resume.epoch) if resume else 0
        self.smooth = self.smooth_acc = None
        self.last_emit = 0.0
        if isinstance(logs.get("n_batches"), int) and logs["n_batches"] > 0:
            self.job.n_batches = logs["n_batches"]
        self.job.epoch = self.epoch0
        self.job._started.set()

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch, self.t_epoch = epoch, time.perf_counter()

    def on_batch_end(self, batch, logs=None):
        logs = logs or {}
        loss = float(logs.get("loss", math.nan))
        acc = logs.get("accuracy")
        acc = None if acc is None or not math.isfinite(acc) else float(acc)
        self.smooth = _ema(self.smooth, loss)
        self.smooth_acc = None if acc is None else _ema(self.smooth_acc, acc)
        job = self.job
        now = time.perf_counter()
        if job._stop.is_set():
            raise StopRequested()
        last = job.n_batches is not None and batch == job.n_batches - 1
        # Thinned, but an epoch's last batch always goes out: on a fast machine a whole epoch can
        # pass between two thinned events, and the curves must still reach each epoch's end.
        if last or now - self.last_emit >= 1 / BATCH_EVENTS_PER_S:
            self.last_emit = now
            n = job.n_batches
            done = (self.epoch - self.epoch0) * (n or 0) + batch + 1
            total = (job.epochs - self.epoch0) * n if n else None
            left = (now - self.t0) / done * (total - done) if total else None
            job._emit({"type": "batch", "epoch": self.epoch, "batch": batch, "n_batches": n,
                       "loss": loss, "smooth": self.smooth, "accuracy": acc, "smooth_acc": self.smooth_acc,
                       "elapsed": now - self.t0, "left": left})

    def on_epoch_end(self, epoch, logs=None):
        job = self.job
        if job.n_batches is None:
            job.n_batches = job._batches_seen            # the first epoch counted them
        record = self.model.history.diagnostics[-1] if self.model.history.diagnostics else None
        clean = {k: (None if v is None or not math.isfinite(v) else float(v)) for k, v in (logs or {}).items()}
        job.epoch = epoch + 1
        job._emit({"type": "epoch", "epoch": epoch, "epochs": job.epochs, "logs": clean, "diagnostics": record})
        job._emit(weights_event(self.model, epoch), replace="weights")

    def on_batch_begin(self, batch, logs=None):
        if self.job.n_batches is None:
            self.job._batches_seen = batch + 1


def _ema(s, x):
    """s ← 0.95·s + 0.05·x (x itself to start, or after a non-finite value)."""
    return x if s is None or not math.isfinite(s) else 0.95 * s + 0.05 * x


def weights_event(model, epoch):
    """The first Dense layer's incoming weights of up to 64 units, each quantised to 0..255 with
    0 at 128 on its own symmetric scale (the page draws them on the diverging colours)."""
    W = next(layer for layer in model.layers if hasattr(layer, "params") and "W" in layer.params).params["W"]
    W = W[:, :WEIGHT_UNITS].astype(np.float64)                     # (n_in, k)
    scales = np.maximum(np.abs(W).max(axis=0), 1e-12)              # (k,)
    q = np.round(127.5 + 127.5 * (W / scales)).clip(0, 255).T     # (k, n_in)
    return {"type": "weights", "epoch": epoch, "units": int(W.shape[1]), "n_in": int(W.shape[0]),
            "pixels": u8(q), "scales": scales.tolist()}


def _test_accuracy(path):
    acc = ((load(path).metadata or {}).get("training") or {}).get("test_accuracy")
    return f" (test accuracy {100 * acc:.2f}%)" if isinstance(acc, float) else ""


class Job:
    """The studio's one training run. ``start(form)``, ``stop()``, ``resume()``; ``events`` is the
    log the page streams (the last weights event only); ``on_done(path)`` is called with the
    model file a finished run wrote."""

    def __init__(self, folder=".", on_done=None, on_event=None):
        self.folder, self.on_done, self.on_event = Path(folder), on_done, on_event
        self.lock = threading.Lock()
        self.events, self.seq = [], 0
        self.thread = None
        self.state, self.message, self.form, self.command = "idle", None, None, None
        self.model_path = self.checkpoint = None
        self.epoch, self.epochs, self.n_batches = 0, None, None
        self._stop, self._started = threading.Event(), threading.Event()
        self._batches_seen = 0
        self.resumed_from = None

    # -- events -----------------------------------------------------------------------------------
    def _emit(self, event, replace=None):
        with self.lock:
            if replace is not None:
                self.events = [e for e in self.events if e["type"] != replace]
            self.seq += 1
            event = {**event, "id": self.seq}
            self.events.append(event)
        if self.on_event is not None:
            self.on_event(event)

    def since(self, seq):
        with self.lock:
            return [e for e in self.events if e["id"] > seq]

    def snapshot(self):
        return {"type": "state", "state": self.state, "message": self.message, "form": self.form,
                "command": self.command, "model": None if self.model_path is None else str(self.model_path),
                "checkpoint": None if self.checkpoint is None else str(self.checkpoint),
                "epoch": self.epoch, "epochs": self.epochs, "n_batches": self.n_batches,
                "resumed_from": self.resumed_from, "datasets": available_datasets(),
                "folder": str(self.folder.resolve()),
                "resumable": resumable.find(self.folder, exclude=self.checkpoint if self.busy else None)}

    def _set(self, state, message=None):
        self.state, self.message = state, message
        self._emit(self.snapshot())

    @property
    def busy(self):
        return self.state in ("running", "stopping")

    # -- control ----------------------------------------------------------------------------------
    def start(self, form, timeout=120):
        """Check the settings with nnzero train's parser and start the run; returns once it is
        training, or raises the error that stopped it from starting (bad data, say)."""
        if self.busy:
            raise ConfigError(f"a run is already going (epoch {self.epoch + 1}/{self.epochs}); stop it first")
        argv = form_to_argv(form)
        if "--out" not in argv:
            argv += ["--out", str(fresh_out(self.folder))]
        args = train_parser().parse_args(argv + ["--quiet"])
        settings = cli_train._settings(args)                 # the run's settings, as the CLI decides
        with self.lock:
            self.events = []
        self.resumed_from = None
        self.form, self.epochs, self.epoch, self.n_batches = dict(form), settings["epochs"], 0, None
        self.model_path = Path(args.out)
        self.checkpoint = Path(args.checkpoint or cli_train.common.default_checkpoint_path(args.out))
        self.command = "nnzero train " + " ".join(shlex.quote(a) for a in argv)
        return self._launch(args, timeout)

    def resume(self, checkpoint=None, timeout=120):
        """Continue the stopped run; or, with ``checkpoint`` (a file name listed by
        :func:`~nnzero.studio.resumable.find`), a run left in the folder, e.g. by a server that
        was shut down while it trained."""
        if self.busy:
            raise ConfigError("a run is already going; stop it first")
        if checkpoint is not None:
            return self._resume_file(checkpoint, timeout)
        if self.state != "stopped" or self.checkpoint is None or not self.checkpoint.exists():
            raise ConfigError("there is no stopped run to resume")
        args = train_parser().parse_args(["--resume", str(self.checkpoint), "--quiet"])
        # The batches after the checkpoint are done again: drop them from the log.
        with self.lock:
            self.events = [e for e in self.events if e["type"] not in ("batch", "epoch") or e["epoch"] < self.epoch]
        self.resumed_from = self.epoch
        return self._launch(args, timeout)

    def _resume_file(self, name, timeout):
        if not isinstance(name, str):
            raise ConfigError(f"checkpoint must be a file name, got {name!r}")
        entries = {e["checkpoint"]: e for e in resumable.find(self.folder)}
        if name not in entries:
            raise ConfigError(f"no resumable checkpoint {name!r} in {self.folder.resolve()}; "
                              f"resumable: {sorted(entries) or 'none'}")
        entry = entries[name]
        args = train_parser().parse_args(["--resume", entry["path"], "--quiet"])
        self.checkpoint, self.model_path = Path(entry["path"]), Path(entry["model"])
        self.form, self.epoch, self.epochs, self.n_batches = entry["form"], entry["epoch"], entry["epochs"], None
        self.command = "nnzero train --resume " + shlex.quote(entry["path"])
        with self.lock:
            self.events = []
        self._emit({"type": "reset"})                               # a page drops what it has
        for event in resumable.history_events(self.checkpoint):    # the curves so far
            self._emit(event)
        self.resumed_from = self.epoch
        return self._launch(args, timeout)

    def stop(self, wait=False):
        """Ask the run to stop at its next batch end (checkpoint of the last completed epoch)."""
        if not self.busy:
            raise ConfigError("no run is going")
        self._stop.set()
        self._set("stopping", "stopping at the end of this batch; the checkpoint keeps the last completed epoch")
        if wait and self.thread is not None:
            self.thread.join()

    def _launch(self, args, timeout):
        self._stop.clear()
        self._started.clear()
        self._batches_seen = 0
        self._error = None
        self._set("running")
        self.thread = threading.Thread(target=self._run, args=(args,), name="nnzero-studio-train", daemon=True)
        self.thread.start()
        while not self._started.wait(0.05):
            if not self.thread.is_alive() or (timeout := timeout - 0.05) <= 0:
                break
        if self._error is not None:
            raise self._error
        return self.snapshot()

    def _run(self, args):
        try:
            code = cli_train.run(args, extra_callbacks=[Diagnostics(warn=False), _Stream(self)])
        except NnzeroError as exc:
            self._error = exc
            self._set("error", str(exc))
            return
        except Exception as exc:          # never leave the page waiting on a dead thread
            self._error = ConfigError(f"training failed: {type(exc).__name__}: {exc}")
            self._set("error", str(self._error))
            return
        finally:
            self._started.set()
        if code != 0 and self.epoch > 0 and self.checkpoint.exists():
            self._set("stopped", f"stopped after epoch {self.epoch} of {self.epochs}; the checkpoint "
                                 f"{self.checkpoint} resumes it exactly")
        elif code != 0:                # nnzero train saves nothing before the first whole epoch
            self._set("cancelled", "stopped before the first epoch finished; nothing saved (Start again)")
        else:
            self.epoch = self.epochs
            try:
                if self.on_done is not None:
                    self.on_done(self.model_path)   # before "done": the page then reloads the model
            except NnzeroError as exc:
                self._set("error", f"wrote {self.model_path}, but cannot open it: {exc}")
                return
            self._set("done", f"done: wrote {self.model_path}{_test_accuracy(self.model_path)}; "
                              "it is open in the other views")

    def shutdown(self):
        """The server is stopping: checkpoint a running job."""
        if self.busy:
            self._stop.set()
            if self.thread is not None:
                self.thread.join(60)
