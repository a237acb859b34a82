"""The training loop: plain torch, short, and free of per-batch host syncs.

``train`` runs epochs of mini-batch gradient descent over tensors that already
sit on the training device. Everything the estimator configures (optimizer,
schedule, regularization, early stopping, objective) comes in as a
:class:`~skdnn.training.setup.TrainingSetup`, everything that acts around the
epochs (progress, checkpoints, freezing, thread sizing) as callbacks; the loop
only drives them and returns a :class:`~skdnn.training.setup.TrainingResult`.
"""

from __future__ import annotations

import contextlib
import math
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import torch
from torch import nn

from skdnn._utils.random import isolated_torch_rng
from skdnn.exceptions import TrainingDivergedError, TrainingInterruptedWarning
from skdnn.training.data import Dataset, StreamedRows
from skdnn.training.early_stopping import EarlyStopping
from skdnn.training.history import PROBE_ROWS, StepRecorder, activation_health, gradient_norms
from skdnn.training.objectives import CROSS_ENTROPY, Objective
from skdnn.training.setup import (
    STOP,
    Callback,
    StopReason,
    TrainingResult,
    TrainingRun,
    TrainingSetup,
)
from skdnn.training.steps import make_step

_EVAL_BATCH = 8192


def train(
    module: nn.Module,
    data: Dataset,
    validation: Dataset | None,
    setup: TrainingSetup,
    callbacks: Sequence[Callback] = (),
    *,
    first_epoch: int = 1,
) -> TrainingResult:
    """Train ``module`` for up to ``setup.max_epochs`` epochs and return what the run left.

    The monitored loss is the validation loss when ``validation`` is given, else
    the training loss. On a non-finite loss, or a ``KeyboardInterrupt``, training
    stops, the best state seen is restored and a warning says so. Epochs are
    numbered from ``first_epoch`` (a continued fit goes on counting).

    Raises
    ------
    TrainingDivergedError
        If the loss was non-finite before any finite state was recorded.
    """
    run = TrainingRun(module, data, validation, setup, first_epoch)
    with _dropout_rng(setup, data.X.device) as dropout_state:
        run.dropout_state = dropout_state
        try:
            for callback in callbacks:
                callback.on_train_begin(run)
            _run_epochs(run, callbacks)
            if setup.restore_best and setup.stopper.restore(module):
                run.restored_epoch = setup.stopper.best_epoch
        finally:
            for callback in callbacks:
                callback.on_train_end(run)
        return run.result()


@contextlib.contextmanager
def _dropout_rng(
    setup: TrainingSetup, device: torch.device
) -> Iterator[Callable[[], torch.Tensor | None]]:
    """Own torch's RNG of ``device`` for the run when the setup seeds it."""
    if setup.dropout_seed is None and setup.dropout_state is None:
        yield lambda: None
        return
    with isolated_torch_rng(setup.dropout_seed or 0, device, setup.dropout_state) as state:
        yield state


def _run_epochs(run: TrainingRun, callbacks: Sequence[Callback]) -> None:
    setup, module = run.setup, run.module
    health = setup.health
    if health is None:
        probe = run.data.X[:PROBE_ROWS]

        def health(network: nn.Module) -> list[float]:
            return activation_health(network, probe)

    for epoch in range(run.first_epoch, run.first_epoch + setup.max_epochs):
        try:
            record = _run_epoch(module, run.data, run.validation, setup, epoch, health)
        except KeyboardInterrupt:
            run.stop_reason = StopReason("interrupted", epoch)
            if setup.stopper.restore(module):
                run.restored_epoch = setup.stopper.best_epoch
            warnings.warn(
                f"Training interrupted during epoch {epoch}; keeping the best weights so far.",
                TrainingInterruptedWarning,
                stacklevel=3,
            )
            return
        monitored = record["loss"] if run.validation is None else record["val_loss"]
        if not math.isfinite(monitored):
            run.stop_reason = StopReason("diverged", epoch)
            _recover_from_divergence(module, setup.stopper, epoch)
            run.restored_epoch = setup.stopper.best_epoch
            return
        run.records.append(record)
        stop = setup.stopper.update(epoch, monitored, module)
        setup.schedule.epoch_end(record.get("val_loss"))
        if stop:
            run.stop_reason = StopReason("early_stopping", epoch)
        for callback in callbacks:
            if callback.on_epoch_end(run, record) == STOP and run.stop_reason is None:
                run.stop_reason = StopReason("callback", epoch, type(callback).__name__)
        if run.stop_reason is not None:
            return


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
    recorder = StepRecorder(setup.optimizer, setup.objective.train_metrics)
    train_loss = _train_one_epoch(module, data, setup, recorder)
    record: dict[str, Any] = {"epoch": epoch, "loss": train_loss.item(), "lr": learning_rate}
    record.update(recorder.figures())
    module.eval()  # once for the validation pass and the diagnostics below
    if validation is not None:
        record.update(evaluate(module, validation, setup.objective))
    record["grad_norms"] = gradient_norms(module)
    record["unhealthy_fraction"] = health(module)
    record["time"] = time.perf_counter() - started
    return record


def _train_one_epoch(
    module: nn.Module, data: Dataset, setup: TrainingSetup, recorder: StepRecorder | None = None
) -> torch.Tensor:
    """One pass over ``data``; returns the mean batch objective as a 0-d device tensor.

    Nothing per batch waits for the device or allocates index tensors: batches
    are gathered into reused buffers, the step is the cheapest correct one for
    the network (:func:`~skdnn.training.steps.make_step`), and the batch losses
    are only summed at the end of the epoch. ``recorder`` notes each step's rate
    and keeps its outputs for the training metrics (references, no copies).
    """
    step = make_step(module, setup)
    augment, generator = setup.augment, setup.generator
    losses = []
    for X, y, weight in _batches(data, setup):
        if augment is not None:
            X = augment(X, generator)
        if recorder is not None:
            recorder.before_step()
        losses.append(step(X, y, weight))
        if recorder is not None:
            recorder.after_step(step.outputs, y)
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
def evaluate(module: nn.Module, data: Dataset, objective: Objective = CROSS_ENTROPY) -> dict:
    """Validation figures of ``module`` on ``data``, in eval mode.

    Returns ``{"val_loss": mean (weighted) loss, "val_<name>": ...}`` with the
    figures of ``objective.metrics`` computed over all rows.
    """
    was_training = module.training
    if was_training:  # switching modes walks every layer: only when needed
        module.eval()
    total_loss = torch.zeros((), device=data.X.device)
    outputs = []
    for start in range(0, len(data), _EVAL_BATCH):
        stop = start + _EVAL_BATCH
        batch_outputs = module(data.X[start:stop])
        y = data.y[start:stop]
        weight = None if data.weight is None else data.weight[start:stop]
        total_loss += objective.batch_loss(batch_outputs, y, weight) * y.shape[0]
        if objective.metrics is not None:
            outputs.append(batch_outputs)
    if was_training:
        module.train()
    figures: dict[str, Any] = {"val_loss": (total_loss / max(len(data), 1)).item()}
    if outputs:
        for name, value in objective.metrics(torch.cat(outputs), data.y).items():
            figures[f"val_{name}"] = value
    return figures


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
