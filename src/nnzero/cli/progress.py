"""Progress for runs of many short epochs (full-batch gradient descent, the seed recipe's 1000).

``fit(verbose=1)`` draws one bar per epoch, which suits mini-batch runs; a 1000-epoch
full-batch run would print 1000 one-step bars. This callback shows one bar over the epochs on
a terminal, or a plain line every ~5 % of the epochs otherwise.
"""

import sys
import time

from ..callbacks import Callback
from ..console import format_logs, log_parts, progress_bar, terminal_width, wrap_parts


class EpochProgress(Callback):
    def __init__(self, epochs, start=0):
        self.epochs, self.start = epochs, start
        self.every = max(1, epochs // 20)
        self.bar = None

    def on_train_begin(self, logs=None):
        self.t0 = time.perf_counter()
        if sys.stdout.isatty():
            self.bar = progress_bar(self.epochs, "epoch", "epochs", initial=self.start)

    def on_epoch_end(self, epoch, logs=None):
        text = format_logs({k: v for k, v in logs.items() if k != "time"})
        if self.bar is not None:
            self.bar.update(1)
            if epoch % 10 == 0 or epoch + 1 == self.epochs:
                short = {k: logs.get(k) for k in ("loss", "accuracy")}   # the rest would not fit
                self.bar.set_postfix_str(format_logs(short))
            if (epoch + 1) % self.every == 0 or epoch + 1 == self.epochs:
                self.bar.write(wrap_parts(f"epoch {epoch + 1}/{self.epochs}", log_parts(logs),
                                          terminal_width()), file=sys.stdout)
        elif (epoch + 1) % self.every == 0 or epoch + 1 == self.epochs:
            print(f"epoch {epoch + 1}/{self.epochs}  {text}  elapsed {time.perf_counter() - self.t0:.1f}s",
                  flush=True)

    def on_train_end(self, logs=None):
        self.close(erase=False)

    def close(self, erase=True):
        """Close the bar; ``erase`` (Ctrl-C) removes it from the screen."""
        if self.bar is not None:
            self.bar.leave = not erase
            self.bar.close()
            self.bar = None
