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
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from skdnn.components.regularizers import Regularization
from skdnn.components.schedules import LRScheduleAdapter
from skdnn.exceptions import TrainingDivergedError, TrainingInterruptedWarning
from skdnn.training.early_stopping import EarlyStopping
from skdnn.training.history import PROBE_ROWS, activation_health, gradient_norms
from skdnn.training.steps import batch_loss, make_step

_EVAL_BATCH = 8192


@dataclass
class Dataset:
    """Tensors of one split, all on the training device.

    ``weight`` holds per-row loss weights (sample and class weights combined,
    normalised to mean 1) or None for an unweighted loss. ``X`` may also be
    :class:`StreamedRows`, rows of a host array read one batch at a time.
    """

    X: torch.Tensor | StreamedRows
    y: torch.Tensor
    weight: torch.Tensor | None = None

    def __len__(self) -> int:
        return self.X.shape[0]


class StreamedRows:
    """Rows of a NumPy array (a ``numpy.memmap``, say) copied to the device batch by batch.

    Stands in for ``Dataset.X`` when the inputs should not be materialized as
    one tensor, e.g. a memory-mapped array larger than the memory at hand: each
    batch reads its rows from the array, so memory holds one batch at a time
    (the operating system's page cache keeps what it can of the file). It offers
    what the training code asks of ``X``: ``len``, ``shape``, ``dtype``,
    ``device``, slicing and ``index_select`` along rows, each returning a tensor.

    Parameters
    ----------
    array : numpy.ndarray of shape (n_rows, ...)
        The inputs, float32; not copied.
    device : torch.device
        Where batches go.
    rows : numpy.ndarray of int, default=None
        Use only these rows of ``array``, in this order (a training split).
    """

    def __init__(
        self, array: np.ndarray, device: torch.device, rows: np.ndarray | None = None
    ) -> None:
        self.array = array
        self.device = torch.device(device)
        self.rows = None if rows is None else np.asarray(rows, dtype=np.intp)
        n_rows = len(array) if self.rows is None else len(self.rows)
        self.shape = torch.Size((n_rows, *array.shape[1:]))
        self.dtype = torch.from_numpy(np.empty(0, dtype=array.dtype)).dtype

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, key: slice) -> torch.Tensor:
        if not isinstance(key, slice):
            raise TypeError("StreamedRows supports slices of rows only.")
        if self.rows is None:
            return self._to_device(np.array(self.array[key]))
        return self._to_device(np.take(self.array, self.rows[key], axis=0))

    def index_select(self, dim: int, index: torch.Tensor) -> torch.Tensor:
        """The rows at ``index`` (``dim`` must be 0), as a tensor on the device."""
        if dim != 0:
            raise ValueError("StreamedRows selects rows only (dim=0).")
        positions = index.cpu().numpy()
        if self.rows is not None:
            positions = self.rows[positions]
        return self._to_device(np.take(self.array, positions, axis=0))

    def _to_device(self, batch: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(batch).to(self.device)


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
    # Computes an epoch's activation-health figures (one per hidden layer); None
    # probes the first rows of ``data.X`` through the whole network. Frozen-layer
    # caching supplies one that reuses the cache (data.X then holds cached outputs).
    health: Callable[[nn.Module], list[float]] | None = None
    # Mixed precision: the dtype of autocast for the forward pass (None: float32)
    # and, for float16, the gradient scaler kept across the epochs of a fit.
    autocast_dtype: torch.dtype | None = None
    grad_scaler: torch.amp.GradScaler | None = None


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
    health = setup.health
    if health is None:
        probe = data.X[:PROBE_ROWS]

        def health(network: nn.Module) -> list[float]:
            return activation_health(network, probe)

    for epoch in range(first_epoch, first_epoch + setup.max_epochs):
        try:
            record = _run_epoch(module, data, validation, setup, epoch, health)
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
    health: Callable[[nn.Module], list[float]],
) -> dict[str, Any]:
    started = time.perf_counter()
    learning_rate = setup.schedule.learning_rate
    module.train()
    train_loss = _train_one_epoch(module, data, setup)
    record: dict[str, Any] = {"epoch": epoch, "loss": train_loss.item(), "lr": learning_rate}
    module.eval()  # once for the validation pass and the diagnostics below
    if validation is not None:
        val_loss, val_accuracy = evaluate(module, validation, setup.loss)
        record["val_loss"] = val_loss
        if not math.isnan(val_accuracy):
            record["val_accuracy"] = val_accuracy
    record["grad_norms"] = gradient_norms(module)
    record["unhealthy_fraction"] = health(module)
    record["time"] = time.perf_counter() - started
    return record


def _train_one_epoch(module: nn.Module, data: Dataset, setup: TrainingSetup) -> torch.Tensor:
    """One pass over ``data``; returns the mean batch objective as a 0-d device tensor.

    Nothing per batch waits for the device or allocates index tensors: batches
    are gathered into reused buffers, the step is the cheapest correct one for
    the network (:func:`~skdnn.training.steps.make_step`), and the batch losses
    are only summed at the end of the epoch.
    """
    step = make_step(module, setup)
    augment, generator = setup.augment, setup.generator
    losses = []
    for X, y, weight in _batches(data, setup):
        if augment is not None:
            X = augment(X, generator)
        losses.append(step(X, y, weight))
    if not losses:
        return torch.full((), math.nan, device=data.X.device)
    # Each step returned its batch's objective times its rows, spread over a tensor.
    return torch.cat([loss.reshape(-1) for loss in losses]).sum() / len(data)


def _batches(
    data: Dataset, setup: TrainingSetup
) -> Iterator[tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]]:
    """The epoch's batches: slices in order, or rows gathered by a random permutation."""
    n_rows, batch_size = len(data), setup.batch_size
    if n_rows == 0:
        return
    if not setup.shuffle:
        for start in range(0, n_rows, batch_size):
            stop = start + batch_size
            weight = None if data.weight is None else data.weight[start:stop]
            yield data.X[start:stop], data.y[start:stop], weight
        return
    order = torch.randperm(n_rows, generator=setup.generator, device=data.X.device)
    X, y, weight = data.X, data.y, data.weight
    if isinstance(X, StreamedRows):
        for index in order.split(batch_size):
            yield (
                X.index_select(0, index),
                y.index_select(0, index),
                None if weight is None else weight.index_select(0, index),
            )
        return
    indices = order.split(batch_size)
    # Labels and weights (one number per row) are put in order once per epoch and
    # sliced; input rows are gathered per batch into one reused buffer (a batch
    # lives only for its step).
    if y.ndim == 1:
        targets = y.index_select(0, order).split(batch_size)
    else:
        targets = (y.index_select(0, index) for index in indices)
    weights = (
        [None] * len(indices) if weight is None else weight.index_select(0, order).split(batch_size)
    )
    rows = min(batch_size, n_rows)
    X_rows = X.new_empty((rows, *X.shape[1:]))
    for index, y_batch, weight_batch in zip(indices, targets, weights, strict=True):
        if len(index) != rows:  # the short last batch
            rows = len(index)
            X_rows = X_rows[:rows]
        yield torch.index_select(X, 0, index, out=X_rows), y_batch, weight_batch


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
    if was_training:  # switching modes walks every layer: only when needed
        module.eval()
    total_loss = torch.zeros((), device=data.X.device)
    correct = torch.zeros((), device=data.X.device)
    for start in range(0, len(data), _EVAL_BATCH):
        stop = start + _EVAL_BATCH
        logits = module(data.X[start:stop])
        y = data.y[start:stop]
        weight = None if data.weight is None else data.weight[start:stop]
        total_loss += batch_loss(logits, y, weight, loss) * y.shape[0]
        if y.ndim == 1:
            correct += (logits.argmax(dim=1) == y).sum()
    if was_training:
        module.train()
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
