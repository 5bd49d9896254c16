"""Checkpoints during ``nnzero train``, and callbacks that continue a checkpointed run exactly."""

from .. import io
from ..callbacks import Callback, EarlyStopping
from ..errors import ModelFileError


class Checkpointer(Callback):
    """Writes a checkpoint every ``every`` epochs (None: only when :meth:`save` is called, as on
    Ctrl-C). It must come after the other callbacks, so their state for the epoch is final."""

    def __init__(self, path, every=None, early_stopping=None, **metadata):
        self.path, self.every, self.early_stopping, self.metadata = path, every, early_stopping, metadata

    def on_epoch_end(self, epoch, logs=None):
        if self.every and (epoch + 1) % self.every == 0:
            self.save()

    def save(self):
        """Checkpoint the model's last completed epoch (``model.train_state``)."""
        io.save_checkpoint(self.path, self.model, early_stopping=self.early_stopping, **self.metadata)


class ResumableEarlyStopping(EarlyStopping):
    """EarlyStopping on ``val_loss`` that can pick up a checkpointed run.

    Its counters (best value, best epoch, epochs without improvement) are a function of the
    history, so they are replayed from it rather than trusted from the file; only the best
    weights come from the checkpoint (or are the checkpoint's own weights, if the last epoch
    was the best). ``resume`` is ``load_checkpoint``'s state.
    """

    def __init__(self, patience, resume=None):
        super().__init__(monitor="val_loss", patience=patience)
        self.resume = resume

    def replay(self, history):
        """Set best/best_epoch/wait/stopped_epoch as if this callback had seen ``history``."""
        super().on_train_begin()
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
        """True if the replayed run had already stopped early."""
        return self.stopped_epoch is not None

    def on_train_begin(self, logs=None):
        if self.resume is None:
            return super().on_train_begin(logs)
        history = self.resume["history"]
        self.replay(history)
        if self.best_epoch is None:
            return
        saved = self.resume.get("early_stopping") or {}
        if history.epoch and self.best_epoch == history.epoch[-1]:
            self.best_weights = self.model.get_weights()
        elif saved.get("best_epoch") == self.best_epoch and saved.get("best_weights"):
            self.best_weights = {k: v.copy() for k, v in saved["best_weights"].items()}
        else:
            raise ModelFileError(f"the checkpoint's early-stopping state (best epoch "
                                 f"{saved.get('best_epoch')}) does not match its history "
                                 f"(best epoch {self.best_epoch}); it cannot be resumed")
