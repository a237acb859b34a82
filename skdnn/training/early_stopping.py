"""Track the best weights seen and decide when to stop."""

from __future__ import annotations

import math

import torch
from torch import nn

#: Recorded figures for which a larger value is better (by name, without ``val_``).
HIGHER_IS_BETTER = frozenset({"accuracy", "r2"})


class EarlyStopping:
    """Keep the best state by a monitored figure and count epochs without improvement.

    The tracker always remembers the best finite state, also when early stopping
    is off, so that a diverging or interrupted fit can fall back to it.

    Parameters
    ----------
    enabled : bool
        Whether :meth:`update` may ask to stop.
    patience : int
        Epochs without an improvement of at least ``min_delta`` before stopping.
    min_delta : float
        Smallest improvement of the monitored figure that counts.
    monitor : str, default="val_loss"
        Name of the epoch record's figure that picks the best epoch; figures in
        :data:`HIGHER_IS_BETTER` (accuracy, r2) improve upwards, all others
        (losses, rmse) downwards. Without a validation split its training
        counterpart (the name without ``val_``) is monitored.
    """

    def __init__(
        self, *, enabled: bool, patience: int, min_delta: float, monitor: str = "val_loss"
    ) -> None:
        self.monitor = monitor
        self.sign = -1.0 if monitor.removeprefix("val_") in HIGHER_IS_BETTER else 1.0
        self.enabled = enabled
        self.patience = patience
        self.min_delta = min_delta
        #: The best monitored value so far (a loss or a score, see ``monitor``).
        self.best_loss = self.sign * math.inf
        self.best_epoch: int | None = None
        self.best_state: dict[str, torch.Tensor] | None = None
        self.wait = 0

    def monitored_name(self, validated: bool) -> str:
        """The record key monitored with (``validated``) or without a validation split."""
        return self.monitor if validated else self.monitor.removeprefix("val_")

    def value_of(self, record: dict, validated: bool) -> float:
        """The monitored figure of an epoch ``record``.

        Raises
        ------
        ValueError
            When the record has no such figure (the task does not record it).
        """
        name = self.monitored_name(validated)
        if name not in record:
            recorded = sorted(k for k, v in record.items() if isinstance(v, float))
            raise ValueError(
                f"monitor={self.monitor!r}: this fit records no {name!r}; the recorded "
                f"figures are {recorded}."
            )
        return float(record[name])

    def update(self, epoch: int, value: float, module: nn.Module) -> bool:
        """Record the monitored ``value`` of ``epoch``; return True when training should stop."""
        best = self.best_loss
        improved = self.sign * value < self.sign * best - self.min_delta
        if improved or self.best_state is None:
            self.best_loss = value
            self.best_epoch = epoch
            self.best_state = snapshot(module)
            self.wait = 0
            return False
        self.wait += 1
        return self.enabled and self.wait >= self.patience

    def restart_patience(self) -> None:
        """Count the epochs without improvement from zero again (the best state is kept)."""
        self.wait = 0

    def restore(self, module: nn.Module) -> bool:
        """Load the best state into ``module``; return False when none was recorded."""
        if self.best_state is None:
            return False
        module.load_state_dict(self.best_state)
        return True


def snapshot(module: nn.Module) -> dict[str, torch.Tensor]:
    """A detached copy of ``module``'s state on its own device."""
    return {key: value.detach().clone() for key, value in module.state_dict().items()}
