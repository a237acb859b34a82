"""``find_learning_rate``: sweep the rate on a fresh copy of an estimator."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.base import clone

from skdnn._utils.device import resolve_device
from skdnn._utils.random import isolated_torch_rng, torch_generator
from skdnn.estimators._data import to_dataset
from skdnn.training.lr_finder import (
    exponential_rates,
    suggest_learning_rate,
    sweep_learning_rates,
)


@dataclass(frozen=True)
class LRFinderResult:
    """Outcome of a learning-rate sweep.

    Attributes
    ----------
    learning_rates : ndarray
        Rate of each step (as many as ``losses``).
    losses : ndarray
        Smoothed training loss after each step.
    suggestion : float
        A tenth of the rate with the lowest smoothed loss.
    """

    learning_rates: np.ndarray
    losses: np.ndarray
    suggestion: float

    def plot(self, ax: Any = None) -> Any:
        """Plot the loss against the rate (log scale) and mark the suggestion.

        Parameters
        ----------
        ax : matplotlib Axes, optional
            Where to draw; a new figure when None.

        Returns
        -------
        matplotlib Axes
        """
        from skdnn.plotting import plot_lr_finder

        return plot_lr_finder(self.learning_rates, self.losses, self.suggestion, ax=ax)


def find_learning_rate(
    estimator: Any, X: Any, y: Any, *, min_lr: float, max_lr: float, n_steps: int
) -> LRFinderResult:
    """Sweep the rate exponentially on a fresh network built like ``estimator``'s.

    The estimator itself is left untouched (and unfitted if it was).
    """
    if not 0 < min_lr < max_lr:
        raise ValueError(f"Need 0 < min_lr < max_lr, got min_lr={min_lr}, max_lr={max_lr}.")
    if n_steps < 2:
        raise ValueError(f"n_steps must be at least 2, got {n_steps}.")
    probe = clone(estimator)
    probe._validate_params()
    task = probe._task()
    X, y = task.validate(probe, X, y, reset=True)
    vars(probe).update(task.learn(probe, y))
    seeds = probe._draw_seeds()
    device = resolve_device(probe.device)
    module = probe._build_module(task.n_outputs(probe), seeds).to(device)
    rates = exponential_rates(min_lr, max_lr, n_steps)
    optimizer = probe._build_optimizer(module, device, min_lr)
    with isolated_torch_rng(seeds.dropout, device):
        losses = sweep_learning_rates(
            module,
            to_dataset(X, task.encode(probe, y), None, device),
            optimizer,
            rates,
            batch_size=probe.batch_size,
            generator=torch_generator(seeds.shuffle, device),
            loss=task.objective.loss,
        )
    rates = rates[: len(losses)]
    return LRFinderResult(rates, losses, suggest_learning_rate(rates, losses))
