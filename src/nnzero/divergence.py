"""Telling a run that diverges, and why, in plain words.

Two ways a run goes wrong: the loss or the weights become NaN/inf (the training loop stops at
once), or the loss explodes while staying finite (Adam at lr 1e3: 2.3 → 3.8e7, accuracy at
chance). :class:`LossWatch` catches the second by comparing each batch loss with the first one
of the run: above ``WARN_FACTOR`` × it warns, above ``STOP_FACTOR`` ×, or two epochs in a row
with a mean loss above ``WARN_FACTOR`` ×, it stops. :func:`likely_cause` names the setting
that most probably did it, from the optimizer's own numbers.
"""

from __future__ import annotations

import math
import warnings

from .errors import DivergenceWarning

WARN_FACTOR = 1e3     # three orders of magnitude above the run's first batch loss: warn
STOP_FACTOR = 1e6     # six: stop (a cross-entropy of 2.3 grown to 2.3e6 is no longer learning)


class LossWatch:
    """Per-batch check of a finite loss against the first batch loss of the run.

    ``batch(loss)`` → a reason to stop (str) or None; ``epoch_end(mean_loss)`` likewise, and
    ``healthy`` says whether the epoch just ended stayed below the warning level (so its
    weights are worth keeping as the last good ones)."""

    def __init__(self, floor=0.0):
        # ``floor``: the smallest reference, e.g. ln(C) for a C-class classifier (the loss of a
        # uniform guess), so a resumed run that starts at a tiny loss is not alarmed by noise.
        self.floor = floor
        self.reference = None
        self.warned = False
        self.high_epochs = 0
        self.healthy = True

    def batch(self, loss):
        if self.reference is None:
            self.reference = max(abs(loss), self.floor, 1e-12)
            return None
        ratio = loss / self.reference
        if ratio > WARN_FACTOR:
            self.healthy = False
            if not self.warned and ratio <= STOP_FACTOR:     # beyond it, the error says it all
                self.warned = True
                warnings.warn(f"the loss grew from {self.reference:.4g} to {loss:.4g} "
                              f"({_orders(ratio)}); training is probably diverging", DivergenceWarning,
                              stacklevel=4)
        if ratio > STOP_FACTOR:
            return f"the loss grew from {self.reference:.4g} to {loss:.4g} ({_orders(ratio)}) without becoming NaN"
        return None

    def epoch_end(self, mean_loss):
        """→ a reason to stop, or None. Resets ``healthy`` for the next epoch afterwards."""
        high = self.reference is not None and mean_loss > WARN_FACTOR * self.reference
        self.high_epochs = self.high_epochs + 1 if high else 0
        if self.high_epochs >= 2:
            return (f"the mean loss stayed above {WARN_FACTOR:g} times its starting value "
                    f"{self.reference:.4g} for two epochs (now {mean_loss:.4g})")
        return None


def _orders(ratio):
    return f"{math.log10(ratio):.0f} orders of magnitude" if ratio < math.inf else "without bound"


def likely_cause(optimizer, lr, input_scale=None):
    """The setting that most probably made training diverge, with a fix, in one sentence.

    ``lr``: the learning rate in use when it happened; ``input_scale``: max |x| of the inputs."""
    name = type(optimizer).__name__
    wd = float(getattr(optimizer, "weight_decay", 0.0) or 0.0)
    momentum = float(getattr(optimizer, "momentum", 0.0) or 0.0)
    adaptive = name in ("Adam", "AdamW")
    if wd and (wd * lr >= 0.5 or wd >= 1):
        return (f"Likely cause: weight decay {wd:g} is too large for lr {lr:.3g} (each step multiplies "
                f"the weights by about 1 − lr·decay); lower the weight decay (typical 1e-4 to 1e-2).")
    if momentum >= 0.99:
        return (f"Likely cause: momentum {momentum:g} is very close to 1; try 0.9, or lower the learning "
                f"rate (it was {lr:.3g}).")
    if input_scale is not None and input_scale > 1e3:
        return (f"Likely cause: the inputs are large (up to {input_scale:.3g}); scale them (e.g. "
                f"--preprocessing scale255 for pixels), or lower the learning rate (it was {lr:.3g}).")
    typical = "1e-4 to 3e-3 for Adam" if adaptive else "0.01 to 0.5 for SGD"
    return (f"Lower the learning rate (it was {lr:.3g}) or scale the inputs (e.g. pixels to [0, 1]); "
            f"typical rates are {typical}.")
