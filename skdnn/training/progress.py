"""Show training progress: a tqdm bar (verbose=1) or one line per epoch (verbose=2)."""

from __future__ import annotations

import sys
from typing import Any

from tqdm.auto import tqdm

from skdnn.training.setup import CallbackBase, TrainingRun

_SHOWN = ("loss", "val_loss", "val_accuracy", "lr")


def format_record(record: dict[str, Any]) -> dict[str, str]:
    """The headline numbers of an epoch record, formatted for display."""
    return {key: f"{record[key]:.4g}" for key in _SHOWN if key in record}


class ProgressReporter(CallbackBase):
    """A training callback that reports progress at the chosen verbosity.

    Parameters
    ----------
    verbose : int
        1 shows a progress bar (hidden when stderr is not a terminal), 2 prints
        one line per epoch.
    max_epochs : int
        Length of the bar.
    description : str
        Label of the bar.
    """

    def __init__(self, verbose: int, max_epochs: int, description: str = "fit") -> None:
        self.verbose = verbose
        self._bar = (
            tqdm(total=max_epochs, desc=description, unit="epoch", disable=None, leave=True)
            if verbose == 1
            else None
        )

    def on_epoch_end(self, run: TrainingRun | None, record: dict[str, Any]) -> None:
        """Report the epoch described by ``record``."""
        shown = format_record(record)
        if self._bar is not None:
            self._bar.set_postfix(shown, refresh=False)
            self._bar.update(1)
        elif self.verbose >= 2:
            line = "  ".join(f"{key} {value}" for key, value in shown.items())
            print(f"epoch {record['epoch']:>4}  {line}  ({record['time']:.2f}s)", file=sys.stdout)

    def on_train_end(self, run: TrainingRun | None) -> None:
        """Close the bar, if any."""
        if self._bar is not None:
            self._bar.close()
