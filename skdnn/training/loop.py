"""The training loop: plain torch, short, and free of per-batch host syncs.

``train`` runs epochs of mini-batch gradient descent over tensors that already
sit on the training device. Everything the estimator configures (optimizer,
schedule, regularization, early stopping, progress display, checkpoints) comes
in as objects; the loop only drives them.
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import torch
import torch.nn.functional as F
from torch import nn

from skdnn.components.regularizers import Regularization
from skdnn.components.schedules import LRScheduleAdapter
from skdnn.exceptions import TrainingDivergedError, TrainingInterruptedWarning
from skdnn.training.early_stopping import EarlyStopping
from skdnn.training.history import activation_health, gradient_norms

_EVAL_BATCH = 8192
_PROBE_ROWS = 512


@dataclass
class Dataset:
    """Tensors of one split, all on the training device.

    ``weight`` holds per-row loss weights (sample and class weights combined,
    normalised to mean 1) or None for an unweighted loss.
    """

    X: torch.Tensor
    y: torch.Tensor
    weight: torch.Tensor | None = None

    def __len__(self) -> int:
        return self.X.shape[0]


class EpochCallback(Protocol):
    """Called after every epoch with the epoch's record and the module."""

    def __call__(self, record: dict[str, Any], module: nn.Module) -> None: ...


@dataclass
class TrainingSetup:
    """What to run: the objects built by the estimator and the loop settings."""

    optimizer: torch.optim.Optimizer
    schedule: LRScheduleAdapter
    regularization: Regularization
    stopper: EarlyStopping
    max_epochs: int
    batch_size: int
    shuffle: bool = True
    generator: torch.Generator | None = None
    augment: Callable[[torch.Tensor, torch.Generator], torch.Tensor] | None = None
    loss: Callable[..., torch.Tensor] = F.cross_entropy
    callbacks: Sequence[EpochCallback] = field(default_factory=list)
    # The training rows as inputs of the whole network, when ``data.X`` holds the
    # cached outputs of its frozen lower blocks; the activation-health probe is
    # taken from them. None: ``data.X`` are the network's inputs.
    network_inputs: torch.Tensor | None = None


def train(
    module: nn.Module,
    data: Dataset,
    validation: Dataset | None,
    setup: TrainingSetup,
    *,
    first_epoch: int = 1,
) -> list[dict[str, Any]]:
    """Train ``module`` and return one record per epoch run.

    The monitored loss is the validation loss when ``validation`` is given, else
    the training loss. On a non-finite loss, or a ``KeyboardInterrupt``, training
    stops, the best state seen is restored and a warning says so.

    Raises
    ------
    TrainingDivergedError
        If the loss was non-finite before any finite state was recorded.
    """
    records: list[dict[str, Any]] = []
    probe = (data.X if setup.network_inputs is None else setup.network_inputs)[:_PROBE_ROWS]
    for epoch in range(first_epoch, first_epoch + setup.max_epochs):
        try:
            record = _run_epoch(module, data, validation, setup, epoch, probe)
        except KeyboardInterrupt:
            setup.stopper.restore(module)
            warnings.warn(
                f"Training interrupted during epoch {epoch}; keeping the best weights so far.",
                TrainingInterruptedWarning,
                stacklevel=2,
            )
            break
        monitored = record["loss"] if validation is None else record["val_loss"]
        if not math.isfinite(monitored):
            _recover_from_divergence(module, setup.stopper, epoch)
            break
        records.append(record)
        stop = setup.stopper.update(epoch, monitored, module)
        setup.schedule.epoch_end(record.get("val_loss"))
        for callback in setup.callbacks:
            callback(record, module)
        if stop:
            break
    return records


def _run_epoch(
    module: nn.Module,
    data: Dataset,
    validation: Dataset | None,
    setup: TrainingSetup,
    epoch: int,
    probe: torch.Tensor,
) -> dict[str, Any]:
    started = time.perf_counter()
    learning_rate = setup.schedule.learning_rate
    module.train()
    train_loss = _train_one_epoch(module, data, setup)
    record: dict[str, Any] = {"epoch": epoch, "loss": train_loss.item(), "lr": learning_rate}
    if validation is not None:
        val_loss, val_accuracy = evaluate(module, validation, setup.loss)
        record["val_loss"] = val_loss
        if not math.isnan(val_accuracy):
            record["val_accuracy"] = val_accuracy
    record["grad_norms"] = gradient_norms(module)
    record["unhealthy_fraction"] = activation_health(module, probe)
    record["time"] = time.perf_counter() - started
    return record


def _train_one_epoch(module: nn.Module, data: Dataset, setup: TrainingSetup) -> torch.Tensor:
    """One pass over ``data``; returns the mean batch loss as a 0-d device tensor."""
    n_rows = len(data)
    device = data.X.device
    order = (
        torch.randperm(n_rows, generator=setup.generator, device=device)
        if setup.shuffle
        else None
    )
    total = torch.zeros((), device=device)
    optimizer, regularization, schedule = setup.optimizer, setup.regularization, setup.schedule
    for start in range(0, n_rows, setup.batch_size):
        stop = min(start + setup.batch_size, n_rows)
        if order is None:
            X, y = data.X[start:stop], data.y[start:stop]
            weight = None if data.weight is None else data.weight[start:stop]
        else:
            index = order[start:stop]
            X, y = data.X.index_select(0, index), data.y.index_select(0, index)
            weight = None if data.weight is None else data.weight.index_select(0, index)
        if setup.augment is not None:
            X = setup.augment(X, setup.generator)
        loss = _batch_loss(module(X), y, weight, setup.loss)
        penalty = regularization.penalty()
        objective = loss if penalty is None else loss + penalty
        optimizer.zero_grad(set_to_none=True)
        objective.backward()
        regularization.clip(module.parameters())
        optimizer.step()
        regularization.constrain()
        schedule.step()
        total += objective.detach() * (stop - start)
    return total / n_rows


def _batch_loss(
    logits: torch.Tensor,
    y: torch.Tensor,
    weight: torch.Tensor | None,
    loss: Callable[..., torch.Tensor],
) -> torch.Tensor:
    if weight is None:
        return loss(logits, y)
    return (loss(logits, y, reduction="none") * weight).mean()


@torch.inference_mode()
def evaluate(
    module: nn.Module,
    data: Dataset,
    loss: Callable[..., torch.Tensor] = F.cross_entropy,
) -> tuple[float, float]:
    """Mean (weighted) loss and accuracy of ``module`` on ``data``, in eval mode.

    The accuracy is NaN when ``data.y`` is not 1-D class indices (e.g. the
    reconstruction targets of an autoencoder).
    """
    was_training = module.training
    module.eval()
    total_loss = torch.zeros((), device=data.X.device)
    correct = torch.zeros((), device=data.X.device)
    for start in range(0, len(data), _EVAL_BATCH):
        stop = start + _EVAL_BATCH
        logits = module(data.X[start:stop])
        y = data.y[start:stop]
        weight = None if data.weight is None else data.weight[start:stop]
        total_loss += _batch_loss(logits, y, weight, loss) * y.shape[0]
        if y.ndim == 1:
            correct += (logits.argmax(dim=1) == y).sum()
    module.train(was_training)
    n_rows = max(len(data), 1)
    accuracy = (correct / n_rows).item() if data.y.ndim == 1 else math.nan
    return (total_loss / n_rows).item(), accuracy


def _recover_from_divergence(module: nn.Module, stopper: EarlyStopping, epoch: int) -> None:
    if not stopper.restore(module):
        raise TrainingDivergedError(
            f"The loss became non-finite in epoch {epoch} before any finite state was "
            "reached. Lower the learning rate, add gradient clipping (clip_norm) or "
            "standardize the inputs."
        )
    warnings.warn(
        f"The loss became non-finite in epoch {epoch}: training stopped and the best "
        f"weights (epoch {stopper.best_epoch}) were restored. Consider a lower learning "
        "rate or gradient clipping (clip_norm).",
        TrainingInterruptedWarning,
        stacklevel=3,
    )
