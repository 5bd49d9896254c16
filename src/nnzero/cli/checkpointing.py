"""Checkpoints during ``nnzero train``."""

from .. import serialization
from ..callbacks import Callback


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
        serialization.save_checkpoint(self.path, self.model, early_stopping=self.early_stopping, **self.metadata)
