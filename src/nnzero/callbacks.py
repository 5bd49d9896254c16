"""Training history and callbacks.

A callback is any object with some of these methods (all optional); ``fit`` calls them with the
model as ``self.model`` already set::

    on_train_begin(logs)   on_epoch_begin(epoch, logs)   on_batch_input(batch, X_batch)
    on_batch_begin(batch, logs)   on_batch_end(batch, logs)   on_epoch_end(epoch, logs)
    on_train_end(logs)

``on_batch_input`` gets the rows the batch trains on (after augmentation; valid until the
batch ends), for callbacks that look inside the network (:class:`~nnzero.diagnostics.Diagnostics`).

Set ``model.stop_training = True`` from any hook to stop after the current batch/epoch.
``logs`` at epoch end holds that epoch's ``loss``, ``accuracy``, ``val_loss``, ``val_accuracy``,
``lr`` and ``time``; at batch end, that batch's ``loss``, ``accuracy`` (NaN for regression) and
``size``. ``on_train_begin``'s logs hold ``epochs``, ``n_batches`` (per epoch) and
``start_epoch``; when ``fit`` continues a checkpoint, also ``logs["resume"]``, the
:class:`~nnzero.training.TrainState` from :func:`nnzero.load_checkpoint` (EarlyStopping picks
up from it).
"""

import math

from .errors import ConfigError, ModelFileError, is_int

HISTORY_KEYS = ("loss", "accuracy", "val_loss", "val_accuracy", "lr", "time")


class History:
    """Per-epoch metrics: ``history["loss"]`` is a list with one value per epoch.

    The keys are always ``loss, accuracy, val_loss, val_accuracy, lr, time``; a metric that does
    not apply (no validation data, accuracy of a regression) is NaN. ``diagnostics`` holds the
    per-layer statistics when training ran with ``diagnostics=True``.
    """

    def __init__(self, history=None, epoch=None, diagnostics=None, seed=None):
        self.history = {k: list((history or {}).get(k, [])) for k in HISTORY_KEYS}
        self.epoch = list(epoch or range(len(self.history["loss"])))
        self.diagnostics = list(diagnostics or [])
        self.seed = seed

    def append(self, epoch, logs):
        self.epoch.append(epoch)
        for k in HISTORY_KEYS:
            self.history[k].append(float(logs.get(k, math.nan)))

    def __getitem__(self, key):
        return self.history[key]

    def __len__(self):
        return len(self.epoch)

    def keys(self):
        return self.history.keys()

    def to_dict(self):
        """JSON-able: NaN becomes None."""
        clean = {k: [None if (v is None or math.isnan(v)) else v for v in vals]
                 for k, vals in self.history.items()}
        out = {"epoch": list(self.epoch), **clean}
        if self.diagnostics:
            out["diagnostics"] = self.diagnostics
        if self.seed is not None:
            out["seed"] = self.seed
        return out

    @classmethod
    def from_dict(cls, d):
        hist = {k: [math.nan if v is None else float(v) for v in d.get(k, [])] for k in HISTORY_KEYS}
        return cls(hist, d.get("epoch"), d.get("diagnostics"), d.get("seed"))

    def first(self, n):
        """A copy holding the first ``n`` epochs (``fit`` appends an epoch before it snapshots)."""
        out = History.from_dict(self.to_dict())
        out.epoch = out.epoch[:n]
        out.history = {k: v[:n] for k, v in out.history.items()}
        out.diagnostics = out.diagnostics[:n]
        return out

    def __repr__(self):
        return f"History({len(self)} epochs, keys={list(HISTORY_KEYS)})"


class Callback:
    """Base class with empty hooks; subclass and override what you need."""

    model = None

    def on_train_begin(self, logs=None): pass
    def on_epoch_begin(self, epoch, logs=None): pass
    def on_batch_input(self, batch, X): pass
    def on_batch_begin(self, batch, logs=None): pass
    def on_batch_end(self, batch, logs=None): pass
    def on_epoch_end(self, epoch, logs=None): pass
    def on_train_end(self, logs=None): pass


class EarlyStopping(Callback):
    """Stop when ``monitor`` has not improved by more than ``min_delta`` for ``patience`` epochs.

    ``mode`` is 'min', 'max' or 'auto' (max for accuracies, min otherwise). With
    ``restore_best_weights`` the model ends with the weights of its best epoch.
    """

    def __init__(self, monitor="val_loss", patience=5, min_delta=0.0, mode="auto",
                 restore_best_weights=True):
        if mode not in ("auto", "min", "max"):
            raise ConfigError(f"EarlyStopping mode must be 'auto', 'min' or 'max', got {mode!r}")
        if not is_int(patience, 0):
            raise ConfigError(f"EarlyStopping patience must be an integer ≥ 0, got {patience!r}")
        if monitor not in HISTORY_KEYS:
            raise ConfigError(f"EarlyStopping cannot monitor {monitor!r}; expected one of {HISTORY_KEYS}")
        self.monitor, self.patience, self.min_delta = monitor, int(patience), abs(float(min_delta))
        self.mode = ("max" if "accuracy" in monitor else "min") if mode == "auto" else mode
        self.restore_best_weights = restore_best_weights

    def on_train_begin(self, logs=None):
        self._reset()
        self.best_weights = None
        resume = (logs or {}).get("resume")
        if resume is not None:
            self._resume(resume)

    def _reset(self):
        self.best = math.inf if self.mode == "min" else -math.inf
        self.best_epoch, self.wait, self.stopped_epoch = None, 0, None

    def replay(self, history):
        """Set best, best_epoch, wait and stopped_epoch as if this callback had seen ``history``
        (they are a function of it). Returns self."""
        self._reset()
        for epoch, value in zip(history.epoch, history[self.monitor]):
            if self._improved(value):
                self.best, self.best_epoch, self.wait = value, epoch, 0
            else:
                self.wait += 1
                if self.wait >= self.patience:
                    self.stopped_epoch = epoch
        return self

    @property
    def finished(self):
        """True once the run has stopped early (after :meth:`replay`: the replayed run had)."""
        return self.stopped_epoch is not None

    def _resume(self, state):
        """Continue a checkpointed run: counters replayed from its history; the best weights are
        the model's own if the last epoch was the best, else the checkpoint's (saved by
        ``save_checkpoint(..., early_stopping=this)``)."""
        history = state.history
        self.replay(history)
        if self.best_epoch is None or not self.restore_best_weights:
            return
        saved = state.early_stopping or {}
        if history.epoch and self.best_epoch == history.epoch[-1]:
            self.best_weights = self.model.get_weights()
        elif saved.get("best_epoch") == self.best_epoch and saved.get("best_weights"):
            self.best_weights = {k: v.copy() for k, v in saved["best_weights"].items()}
        else:
            raise ModelFileError(
                f"the checkpoint has no early-stopping weights for its best epoch ({self.best_epoch + 1}, "
                f"by {self.monitor}): it cannot be resumed exactly. Save checkpoints with "
                "save_checkpoint(..., early_stopping=<the EarlyStopping>), or use restore_best_weights=False")

    def _improved(self, value):
        if self.mode == "min":
            return value < self.best - self.min_delta
        return value > self.best + self.min_delta

    def on_epoch_end(self, epoch, logs=None):
        value = (logs or {}).get(self.monitor, math.nan)
        if value is None or math.isnan(value):
            raise ConfigError(
                f"EarlyStopping monitors {self.monitor!r} but it is not available; "
                "pass validation data (or validation_split) or monitor 'loss'")
        if self._improved(value):
            self.best, self.best_epoch, self.wait = value, epoch, 0
            if self.restore_best_weights:
                self.best_weights = self.model.get_weights()
        else:
            self.wait += 1
            if self.wait >= self.patience:
                self.stopped_epoch = epoch
                self.model.stop_training = True

    def on_train_end(self, logs=None):
        # The best epoch's weights, whether training stopped early or ran out of epochs.
        if self.restore_best_weights and self.best_weights is not None:
            self.model.set_weights(self.best_weights)


class LambdaCallback(Callback):
    """Build a callback from plain functions: ``LambdaCallback(on_epoch_end=lambda e, logs: ...)``."""

    def __init__(self, **hooks):
        for name, fn in hooks.items():
            if not hasattr(Callback, name):
                raise ConfigError(f"unknown callback hook {name!r}")
            setattr(self, name, fn)
