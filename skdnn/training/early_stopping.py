"""Track the best weights seen and decide when to stop."""

from __future__ import annotations

import math

import torch
from torch import nn


class EarlyStopping:
    """Keep the best state by a monitored loss and count epochs without improvement.

    The tracker always remembers the best finite state, also when early stopping
    is off, so that a diverging or interrupted fit can fall back to it.

    Parameters
    ----------
    enabled : bool
        Whether :meth:`update` may ask to stop.
    patience : int
        Epochs without an improvement of at least ``min_delta`` before stopping.
    min_delta : float
        Smallest decrease of the monitored loss that counts as an improvement.
    """

    def __init__(self, *, enabled: bool, patience: int, min_delta: float) -> None:
        self.enabled = enabled
        self.patience = patience
        self.min_delta = min_delta
        self.best_loss = math.inf
        self.best_epoch: int | None = None
        self.best_state: dict[str, torch.Tensor] | None = None
        self.wait = 0

    def update(self, epoch: int, loss: float, module: nn.Module) -> bool:
        """Record the loss of ``epoch``; return True when training should stop."""
        if loss < self.best_loss - self.min_delta or self.best_state is None:
            self.best_loss = loss
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
