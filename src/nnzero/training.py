"""The training loop: mini-batch gradient descent with shuffling, validation, callbacks.

One epoch, for each batch B of rows:  logits = forward(X_B);  L, G = loss(logits, y_B);
backward(G);  optimizer.step(params, grads, lr(epoch)).

Randomness: the run's ``seed`` feeds one ``np.random.SeedSequence``, from which three
independent Generators are spawned: weight initialisation, the validation split, and the
training stream (shuffling and dropout). Keeping the split apart from the stream is what lets a
checkpoint resume exactly: the split is recomputed from the seed, the stream's state is saved.

Speed: the loop runs each step through its :class:`~nnzero.engine.Engine` (the same arithmetic
as the plain layers and optimizers, with reused buffers and one parameter vector) and gathers
batches with ``np.take(..., out=buffer)`` into one preallocated array. Per batch, the Python
work is a few calls per layer, independent of the batch size and layer widths.
"""

import math
import sys
import time
from dataclasses import dataclass, field

import numpy as np

from . import optimizers
from .callbacks import History
from .console import BatchProgress
from .engine import Engine
from .diagnostics import Diagnostics
from .divergence import LossWatch, likely_cause
from .errors import ConfigError, DataError, ShapeError, TrainingDivergedError, positive_int


def loss_and_accuracy(model, X, target, weight=None, batch_size=4096):
    """Mean loss and accuracy of ``model`` on prepared (X, target), in inference mode."""
    loss_sum, correct = 0.0, 0
    for i in range(0, len(X), batch_size):
        out = model.forward(X[i:i + batch_size])
        t = target[i:i + batch_size]
        w = None if weight is None else weight[i:i + batch_size]
        loss_sum += model.loss.loss(out, t, w) * len(out)
        if model.is_classifier:
            correct += int(np.count_nonzero(out.argmax(axis=1) == t))
    acc = correct / len(X) if model.is_classifier else math.nan
    return loss_sum / len(X), acc


def stratified_split(target, fraction, rng, stratify=True):
    """Indices (train, validation): ``fraction`` of each class goes to validation, at random."""
    n = len(target)
    if stratify:
        groups = [np.flatnonzero(target == c) for c in np.unique(target)]
    else:
        groups = [np.arange(n)]
    val = []
    for g in groups:
        k = int(round(fraction * len(g)))
        val.append(rng.permutation(g)[:k])
    val = np.sort(np.concatenate(val))
    if len(val) == 0 or len(val) == n:
        raise DataError(f"validation_split={fraction} leaves {len(val)} of {n} samples for validation")
    train = np.setdiff1d(np.arange(n), val, assume_unique=True)
    return train, val


def _prepare_targets(model, X, y, classes, sample_weight):
    if model.is_classifier and (classes is not None or model.classes_ is None):
        model.set_classes(y, classes)
    target = model.targets(y, len(X))
    weight = None
    if sample_weight is not None:
        weight = np.asarray(sample_weight, dtype=model.dtype)
        if weight.shape != (len(X),):
            raise ShapeError(f"sample_weight must have shape ({len(X)},), got {weight.shape}")
        if not np.isfinite(weight).all() or (weight < 0).any():
            raise DataError("sample_weight must be finite and ≥ 0")
    return target, weight


def fit(model, X, y, *, epochs=10, batch_size=128, optimizer=None, validation_data=None,
        validation_split=0.0, callbacks=None, seed=None, verbose="auto", shuffle=True,
        sample_weight=None, classes=None, diagnostics=False, resume=None, augment=None):
    """Train ``model`` on (X, y) and return its :class:`History`.

    X (n, n_features); y (n,) labels of any type (mapped through ``classes_``), or targets for
    regression. ``batch_size=None`` is full-batch gradient descent. ``optimizer``: an optimizer
    or a name (default Adam(1e-3)). ``validation_split`` holds out a shuffled, stratified
    fraction; ``validation_data=(Xv, yv)`` uses given data instead. ``verbose``: 0 silent,
    1 live bar on a terminal (a line per epoch otherwise), 2 a line per epoch; "auto" (the
    default, as in Keras) is 1 on a terminal, 2 in a notebook and 0 otherwise (scripts, tests).
    ``resume``: the :class:`TrainState` from :func:`nnzero.load_checkpoint`, to continue a run exactly.
    ``augment``: a callable ``augment(X_batch, rng, out=buffer) -> X_batch'`` applied to every
    training batch after it is gathered, drawing from the run's stream (e.g. :class:`nnzero.Augment`).
    Raises TrainingDivergedError (weights of the last good epoch kept) if the loss goes NaN/inf.
    """
    # Overflow is reported once, in plain words, by TrainingDivergedError: not as NumPy warnings.
    with np.errstate(over="ignore", invalid="ignore"):
        return _fit(model, X, y, epochs=epochs, batch_size=batch_size, optimizer=optimizer,
                    validation_data=validation_data, validation_split=validation_split,
                    callbacks=callbacks, seed=seed, verbose=verbose, shuffle=shuffle,
                    sample_weight=sample_weight, classes=classes, diagnostics=diagnostics,
                    resume=resume, augment=augment)


@dataclass
class TrainState:
    """A run as of the end of an epoch: what ``fit`` keeps in ``model.train_state``,
    ``save_checkpoint`` writes, ``load_checkpoint`` returns and ``fit(resume=...)`` continues.

    ``state["epochs"]`` reads ``state.epochs`` (the state used to be a dict)."""

    epoch: int                    # epochs completed
    epochs: int                   # the run's length
    seed: int                     # the run's seed (the validation split is recomputed from it)
    batch_size: object            # as given to fit (None: full batch)
    optimizer_state: dict         # Optimizer.state_dict(): {"t": steps, "arrays": {"slot.param": array}}
    rng_state: dict               # the training stream's bit_generator.state
    history: History              # fit's snapshot: the run's History, up to at least ``epoch``
    optimizer: object = None      # the run's optimizer (its name and config go into files)
    weights: dict = None          # fit's snapshot; after load_checkpoint they are the model's own
    augment: dict = None          # the augmentation's config(), if any
    early_stopping: dict = None   # load_checkpoint: {settings..., best_epoch, best_weights} or None
    metadata: dict = None         # load_checkpoint: the file's document

    def __getitem__(self, key):
        return getattr(self, key)


@dataclass
class Run:
    """One training run, prepared: the data, the randomness, the optimizer, the buffers and
    what the loop keeps between epochs. ``model.train_state`` (a :class:`TrainState`, what
    checkpoints read) is the snapshot :func:`_snapshot` takes of it at every epoch end."""

    model: object
    optimizer: object
    X: object
    target: np.ndarray
    weight: object
    val: object
    rng: np.random.Generator
    seed: int
    epochs: int
    batch_size: object            # as given (None: full batch), recorded in checkpoints
    bs: int                       # rows per batch
    shuffle: bool
    augment: object
    callbacks: list
    history: History
    progress: object
    watch: LossWatch
    buffers: dict = field(default_factory=dict)
    good_state: "TrainState" = None

    def __post_init__(self):
        self.engine = Engine(self.model, self.optimizer)     # the fast path: see nnzero.engine
        self.params = self.engine.params

    @property
    def n_batches(self):
        return math.ceil(len(self.X) / self.bs)


def _check_settings(epochs, validation_split, validation_data, verbose):
    epochs = positive_int("epochs", epochs)
    if not (isinstance(validation_split, (int, float)) and 0 <= validation_split < 1):
        raise ConfigError(f"validation_split must be in [0, 1), got {validation_split!r}")
    if validation_split and validation_data is not None:
        raise ConfigError("give validation_data or validation_split, not both")
    if isinstance(verbose, str) and verbose == "auto":
        verbose = 1 if sys.stdout.isatty() else 2 if "ipykernel" in sys.modules else 0
    if verbose not in (0, 1, 2, False, True):
        raise ConfigError(f"verbose must be 0, 1, 2 or 'auto', got {verbose!r}")
    return epochs, int(verbose)


def _split(model, X, target, weight, validation_split, validation_data, split_rng):
    """(X, target, weight) to train on and the validation triple (or None)."""
    if validation_split:
        tr, va = stratified_split(target, validation_split, split_rng, stratify=model.is_classifier)
        val = (X[va], target[va], None if weight is None else weight[va])
        return X[tr], target[tr], None if weight is None else weight[tr], val
    if validation_data is not None:
        if not isinstance(validation_data, (tuple, list)) or len(validation_data) != 2:
            raise ConfigError("validation_data must be a pair (X_val, y_val)")
        Xv = model.check_X(validation_data[0], "X_val")
        return X, target, weight, (Xv, model.targets(validation_data[1], len(Xv), "y_val"), None)
    return X, target, weight, None


def _buffers(model, X, bs, augment):
    """Preallocated batch arrays: the gathered rows, the augmented rows, the loss gradient."""
    xbuf = np.empty((bs, X.shape[1]), dtype=model.dtype)
    buffers = {"x": xbuf, "g": np.empty((bs, model.n_outputs), dtype=model.dtype)}
    if augment is not None:
        if not callable(augment):
            raise ConfigError(f"augment must be callable as augment(X_batch, rng, out=...), e.g. "
                              f"nnzero.Augment(), got {augment!r}")
        if hasattr(augment, "shape_for"):
            augment.shape_for(X.shape[1])   # not images: a clear error before any training
        buffers["augment"] = np.empty_like(xbuf)
    return buffers


def _prepare(model, X, y, *, epochs, batch_size, optimizer, validation_data, validation_split,
             callbacks, seed, verbose, shuffle, sample_weight, classes, diagnostics, resume, augment):
    """Check every setting and build the :class:`Run` (nothing is trained yet)."""
    epochs, verbose = _check_settings(epochs, validation_split, validation_data, verbose)
    X = model.check_X(X)
    target, weight = _prepare_targets(model, X, y, classes, sample_weight)
    batch_size = positive_int("batch_size", batch_size, allow_none=True)
    seed = resume.seed if resume is not None else seed
    if seed is None:
        seed = int(np.random.SeedSequence().entropy % (2 ** 63))   # recorded, so the run can be repeated
    init_rng, split_rng, rng = (np.random.Generator(np.random.PCG64(s))
                                for s in np.random.SeedSequence(seed).spawn(3))
    X, target, weight, val = _split(model, X, target, weight, validation_split, validation_data, split_rng)
    if not model.built:
        model.build(rng=init_rng)
    optimizer = optimizers.Adam(1e-3) if optimizer is None else (
        optimizers.get(optimizer) if isinstance(optimizer, str) else optimizer)
    for layer in model.layers:
        if hasattr(layer, "rng"):
            layer.rng = rng
    callbacks = list(callbacks or []) + ([Diagnostics()] if diagnostics else [])
    history = History(seed=seed) if resume is None else resume.history
    if resume is not None:
        optimizer.load_state_dict(resume.optimizer_state)
        rng.bit_generator.state = resume.rng_state
    model.history = history
    bs = len(X) if batch_size is None else min(batch_size, len(X))
    # A finite loss that explodes is divergence too.
    watch = LossWatch(math.log(model.n_outputs) if model.is_classifier and model.n_outputs > 1 else 0.0)
    return Run(model=model, optimizer=optimizer, X=X, target=target, weight=weight, val=val, rng=rng,
               seed=seed, epochs=epochs, batch_size=batch_size, bs=bs, shuffle=shuffle, augment=augment,
               callbacks=callbacks, history=history,
               progress=BatchProgress(verbose, epochs, math.ceil(len(X) / bs)),
               watch=watch, buffers=_buffers(model, X, bs, augment))


def _snapshot(run, epoch):
    """``model.train_state``: the run as of the end of ``epoch`` (what checkpoints write)."""
    run.model.train_state = TrainState(
        epoch=epoch, epochs=run.epochs, seed=run.seed, batch_size=run.batch_size,
        optimizer_state=run.optimizer.state_dict(), rng_state=run.rng.bit_generator.state,
        history=run.history, optimizer=run.optimizer, weights=run.model.get_weights(),
        augment=run.augment.config() if hasattr(run.augment, "config") else None)


def _restore(run, state=None):
    """Back to a snapshot (default: the last one): weights and optimizer state."""
    state = run.model.train_state if state is None else state
    run.model.train_state = state
    run.model.set_weights(state.weights)
    run.optimizer.load_state_dict(state.optimizer_state)


def _fit(model, X, y, **settings):
    run = _prepare(model, X, y, **settings)
    start = 0 if settings["resume"] is None else int(settings["resume"].epoch)
    _snapshot(run, start)
    run.good_state = model.train_state
    model.stop_training = False
    for cb in run.callbacks:
        cb.model = model
    begin = {"epochs": run.epochs, "n_batches": run.n_batches, "start_epoch": start}
    _call(run.callbacks, "on_train_begin", begin if settings["resume"] is None else {**begin, "resume": settings["resume"]})
    try:
        for epoch in range(start, run.epochs):
            _run_epoch(run, epoch)
            if model.stop_training:
                break
    except KeyboardInterrupt:
        # Leave the model exactly as after the last completed epoch, so a checkpoint of it resumes.
        _restore(run)
        raise
    finally:
        run.progress.close()
    _call(run.callbacks, "on_train_end", {})
    return run.history


def _run_epoch(run, epoch):
    """One pass over the training rows, then validation, history, snapshot and callbacks."""
    model, n = run.model, len(run.X)
    _call(run.callbacks, "on_epoch_begin", epoch, {})
    run.progress.epoch_begin(epoch)
    t0 = time.perf_counter()
    order = run.rng.permutation(n) if (run.shuffle and run.bs < n) else None
    totals = {"loss": 0.0, "correct": 0, "seen": 0, "lr": run.optimizer.lr}
    for b in range(run.n_batches):
        xb, tb, wb = _batch(run, order, b)
        _call(run.callbacks, "on_batch_input", b, xb)
        _step(run, epoch, b, xb, tb, wb, totals)
        if model.stop_training:
            break
    grown = run.watch.epoch_end(totals["loss"] / n)
    if grown is not None or not all(np.isfinite(p).all() for p in run.params.values()):
        _diverge(run, epoch, None, grown or "the weights became NaN or infinite", totals["lr"])
    logs = {"loss": totals["loss"] / n, "accuracy": totals["correct"] / n if model.is_classifier else math.nan,
            "lr": totals["lr"]}
    if run.val is not None:
        logs["val_loss"], logs["val_accuracy"] = loss_and_accuracy(model, *run.val[:2], weight=run.val[2])
    logs["time"] = time.perf_counter() - t0
    run.history.append(epoch, logs)
    _snapshot(run, epoch + 1)
    if run.watch.healthy:
        run.good_state = model.train_state
    run.watch.healthy = True
    run.progress.epoch_end(epoch, logs)
    _call(run.callbacks, "on_epoch_end", epoch, logs)


def _batch(run, order, b):
    """Batch ``b`` of the epoch's ``order``: (X rows, targets, weights or None)."""
    X, bs, n = run.X, run.bs, len(run.X)
    if order is None and bs == n and isinstance(X, np.ndarray):
        xb, tb, wb = X, run.target, run.weight                  # full batch: no copy
    else:
        idx = order[b * bs:(b + 1) * bs] if order is not None else np.arange(b * bs, min(n, (b + 1) * bs))
        # Gather without allocating; mode="clip" lets NumPy copy straight into `out` (the
        # default "raise" buffers it), safe since idx is a permutation's slice.
        xb = np.take(X, idx, axis=0, out=run.buffers["x"][:len(idx)], mode="clip")
        tb = run.target[idx]
        wb = None if run.weight is None else run.weight[idx]
    if run.augment is not None:     # a fresh random warp of every batch, from the run's stream
        xb = run.augment(xb, run.rng, out=run.buffers["augment"][:len(xb)])
    return xb, tb, wb


def _step(run, epoch, b, xb, tb, wb, totals):
    """One gradient step on batch ``b``:  logits = forward(X_B);  L, G = loss(logits, y_B);
    backward(G);  optimizer.step(params, grads, lr(epoch + b/n_batches)) — through the engine."""
    model, optimizer, engine, m = run.model, run.optimizer, run.engine, len(xb)
    _call(run.callbacks, "on_batch_begin", b, {"size": m})
    out = engine.forward(xb)
    right = int(np.count_nonzero(out.argmax(axis=1) == tb)) if model.is_classifier else 0
    totals["correct"] += right
    loss, g = model.loss.loss_and_grad(out, tb, wb, out=run.buffers["g"][:m])
    grown = run.watch.batch(loss) if math.isfinite(loss) else f"the loss became {loss}"
    if grown is not None:
        _diverge(run, epoch, b, grown, totals["lr"])
    totals["loss"] += loss * m
    totals["seen"] += m
    engine.backward(g)
    totals["lr"] = lr = optimizer.lr_at(epoch + b / run.n_batches, run.epochs)
    engine.step(lr)
    run.progress.batch_end(b, totals["loss"] / totals["seen"], totals["correct"] / totals["seen"])
    _call(run.callbacks, "on_batch_end", b, {"loss": loss, "size": m,
                                              "accuracy": right / m if model.is_classifier else math.nan})


def _diverge(run, epoch, batch, what, lr):
    """Back to the last good epoch, then TrainingDivergedError saying why and what to change."""
    _restore(run, run.good_state)
    message = _diverged(epoch, batch, what, run.optimizer, lr, run.X, run.good_state.epoch)
    raise TrainingDivergedError(message, run.history)


def _call(callbacks, hook, *args):
    """Call ``hook`` on every callback that has it (the protocol's hooks are all optional)."""
    for cb in callbacks:
        fn = getattr(cb, hook, None)
        if fn is not None:
            fn(*args)


def _diverged(epoch, batch, what, optimizer, lr, X, good_epoch):
    where = f"epoch {epoch + 1}" + (f", batch {batch + 1}" if batch is not None else "")
    kept = f"the weights after epoch {good_epoch}" if good_epoch else "the initial weights"
    scale = float(np.abs(X).max()) if isinstance(X, np.ndarray) and X.size else None   # not a memmap's rows
    return f"training diverged at {where}: {what}. The model keeps {kept}. {likely_cause(optimizer, lr, scale)}"
