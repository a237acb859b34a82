"""The learning-rate finder: an exponential sweep of the rate over a few hundred steps."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from skdnn.training.data import Dataset
from skdnn.training.loop import epoch_batch_sizes


def exponential_rates(min_lr: float, max_lr: float, n_steps: int) -> np.ndarray:
    """``n_steps`` rates growing geometrically from ``min_lr`` to ``max_lr``."""
    return np.geomspace(min_lr, max_lr, n_steps)


def sweep_learning_rates(
    module: nn.Module,
    data: Dataset,
    optimizer: torch.optim.Optimizer,
    learning_rates: np.ndarray,
    *,
    batch_size: int,
    generator: torch.Generator,
    loss: Callable[..., torch.Tensor] = F.cross_entropy,
    smoothing: float = 0.98,
    divergence: float = 4.0,
) -> np.ndarray:
    """Train one batch per rate and return the smoothed loss after each step.

    The loss is an exponential moving average with bias correction. The sweep
    stops early, returning fewer values, once the smoothed loss exceeds
    ``divergence`` times the best seen.
    """
    module.train()
    epoch_batch_sizes(module, len(data), batch_size)  # refuses one-row batches under batch norm
    losses: list[float] = []
    average, best = 0.0, math.inf
    order = torch.empty(0, dtype=torch.long)
    position = 0
    for step, rate in enumerate(learning_rates):
        if position + batch_size > len(order):
            order = torch.randperm(len(data), generator=generator, device=data.X.device)
            position = 0
        index = order[position : position + batch_size]
        position += batch_size
        for group in optimizer.param_groups:
            group["lr"] = float(rate)
        value = loss(module(data.X.index_select(0, index)), data.y.index_select(0, index))
        optimizer.zero_grad(set_to_none=True)
        value.backward()
        optimizer.step()
        average = smoothing * average + (1 - smoothing) * value.item()
        smoothed = average / (1 - smoothing ** (step + 1))
        if not math.isfinite(smoothed) or smoothed > divergence * best:
            break
        best = min(best, smoothed)
        losses.append(smoothed)
    return np.asarray(losses)


def suggest_learning_rate(learning_rates: np.ndarray, losses: np.ndarray) -> float:
    """A rate ten times below the one with the lowest smoothed loss.

    The loss usually bottoms out just before it starts to climb; training at
    a tenth of that rate is fast yet safely stable.
    """
    if len(losses) == 0:
        raise ValueError("The learning-rate sweep diverged at once; lower min_lr.")
    return float(learning_rates[int(np.argmin(losses))] / 10)
