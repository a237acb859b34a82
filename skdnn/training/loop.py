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
from skdnn.exceptions import (
    SkdnnWarning,
    TrainingDivergedError,
    TrainingInterrupted,
    TrainingInterruptedWarning,
)
from skdnn.training.data import Dataset, IndexedRows, StreamedRows, batch_sizes
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
from skdnn.training.walk import trains_batch_norm

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
    the training loss. On a non-finite loss training stops, the best state seen
    is restored and a warning says so. Epochs are numbered from ``first_epoch``
    (a continued fit goes on counting).

    Raises
    ------
    TrainingDivergedError
        If the loss was non-finite before any finite state was recorded.
    TrainingInterrupted
        On a ``KeyboardInterrupt`` (Ctrl-C) in an epoch, after restoring the best
        state seen (if any) and warning what was kept; its ``result`` holds the
        run's result, for the caller to keep before the interrupt goes on.
    """
    run = TrainingRun(module, data, validation, setup, first_epoch)
    with _dropout_rng(setup, data.X.device) as dropout_state:
        run.dropout_state = dropout_state
        try:
            for callback in callbacks:
                callback.on_train_begin(run)
            _run_epochs(run, callbacks)
            _warn_if_the_loss_never_came_down(run)
            if setup.restore_best and setup.stopper.restore(module):
                run.restored_epoch = setup.stopper.best_epoch
        except TrainingInterrupted as interrupted:
            interrupted.result = run.result()
            raise
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
            record, first_batch_loss = _run_epoch(
                module, run.data, run.validation, setup, epoch, health
            )
        except KeyboardInterrupt as interrupt:
            run.stop_reason = StopReason("interrupted", epoch)
            kept = setup.stopper.best_epoch if setup.stopper.restore(module) else None
            run.restored_epoch = kept
            interrupted = TrainingInterrupted(epoch, kept)
            warnings.warn(str(interrupted), TrainingInterruptedWarning, stacklevel=4)
            raise interrupted from interrupt
        if run.initial_loss is None:
            run.initial_loss = first_batch_loss.item()
        monitored = record["loss"] if run.validation is None else record["val_loss"]
        if not math.isfinite(monitored):
            run.stop_reason = StopReason("diverged", epoch)
            _recover_from_divergence(module, setup.stopper, epoch)
            run.restored_epoch = setup.stopper.best_epoch
            return
        run.records.append(record)
        validated = run.validation is not None
        stop = setup.stopper.update(epoch, setup.stopper.value_of(record, validated), module)
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
) -> tuple[dict[str, Any], torch.Tensor]:
    """The epoch's record, and the mean objective of its first batch (before its step)."""
    started = time.perf_counter()
    learning_rate = setup.schedule.learning_rate
    module.train()
    recorder = StepRecorder(setup.optimizer, setup.objective.train_metrics)
    train_loss, first_batch_loss = _train_one_epoch(module, data, setup, recorder)
    record: dict[str, Any] = {"epoch": epoch, "loss": train_loss.item(), "lr": learning_rate}
    record.update(recorder.figures())
    module.eval()  # once for the validation pass and the diagnostics below
    if validation is not None:
        record.update(evaluate(module, validation, setup.objective))
    record["grad_norms"] = gradient_norms(module)
    record["unhealthy_fraction"] = health(module)
    record["time"] = time.perf_counter() - started
    return record, first_batch_loss


def _train_one_epoch(
    module: nn.Module, data: Dataset, setup: TrainingSetup, recorder: StepRecorder | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """One pass over ``data``; returns the mean objective of the epoch and of its first batch.

    Both are 0-d device tensors; the first batch's is measured before its step.

    Nothing per batch waits for the device or allocates index tensors: batches
    are gathered into reused buffers, the step is the cheapest correct one for
    the network (:func:`~skdnn.training.steps.make_step`), and the batch losses
    are only summed at the end of the epoch. ``recorder`` notes each step's rate
    and keeps its outputs for the training metrics (references, no copies). The
    output of ``setup.augment`` is checked on every batch.
    """
    step = make_step(module, setup)
    augment, generator = setup.augment, setup.generator
    sizes = epoch_batch_sizes(module, len(data), setup.batch_size)
    losses = []
    for index, (X, y, weight) in enumerate(_batches(data, setup, sizes)):
        if augment is not None:
            if not setup.shuffle:
                X = X.clone()  # an in-order batch may be a view of the caller's array
            X = _augmented(augment, X, generator, first=index == 0)
        if recorder is not None:
            recorder.before_step()
        losses.append(step(X, y, weight))
        if recorder is not None:
            recorder.after_step(step.outputs, y)
    if not losses:
        nan = torch.full((), math.nan, device=data.X.device)
        return nan, nan
    # Each step returned its batch's objective times its rows, spread over a tensor.
    mean = torch.cat([loss.reshape(-1) for loss in losses]).sum() / len(data)
    return mean, losses[0].sum() / sizes[0]


def epoch_batch_sizes(module: nn.Module, n_rows: int, batch_size: int) -> list[int]:
    """Rows of each batch of an epoch: never a lone row while batch norm trains.

    With a batch-norm layer in training mode, a last batch of one row joins
    the batch before it (:func:`~skdnn.training.data.batch_sizes`).

    Raises
    ------
    ValueError
        If batch norm trains and ``batch_size`` or the data has one row.
    """
    if not trains_batch_norm(module):
        return batch_sizes(n_rows, batch_size)
    if batch_size < 2:
        raise ValueError(
            f"batch_size={batch_size} cannot train batch norm: it normalizes each feature "
            "over the rows of a batch, and one row has no spread. Use batch_size >= 2, or "
            "normalization='layer'."
        )
    if n_rows == 1:
        raise ValueError(
            "The training data has 1 row, but batch norm needs at least 2 rows per training "
            "batch (it normalizes each feature over the batch): train on more rows at once."
        )
    return batch_sizes(n_rows, batch_size, min_rows=2)


def _augmented(
    augment: Any, X: torch.Tensor, generator: torch.Generator, *, first: bool
) -> torch.Tensor:
    """``augment(X, generator)``, checked to be a batch like ``X`` (a few comparisons).

    On an epoch's ``first`` batch a ``TypeError`` (a callable taking other
    arguments, say ``lambda X: X``) becomes a ``ValueError`` that names
    ``augment`` and how it is called.
    """
    try:
        augmented = augment(X, generator)
    except TypeError as error:
        if not first:
            raise
        raise ValueError(
            f"augment(X_batch, generator) raised TypeError: {error}. augment must take a "
            "torch.Tensor batch and a torch.Generator and return a batch like the one given."
        ) from error
    _check_augmented(X, augmented)
    return augmented


def _check_augmented(batch: torch.Tensor, augmented: Any) -> None:
    """Raise a ``ValueError`` unless ``augment`` returned a batch like its input."""
    if not isinstance(augmented, torch.Tensor):
        raise ValueError(
            "augment must return a torch.Tensor like the batch it is given (it is called as "
            f"augment(X_batch, generator)); it returned a {type(augmented).__name__}."
        )
    problems = [
        f"{what} {got} instead of {expected}"
        for what, got, expected in (
            ("shape", tuple(augmented.shape), tuple(batch.shape)),
            ("dtype", augmented.dtype, batch.dtype),
            ("device", augmented.device, batch.device),
        )
        if got != expected
    ]
    if problems:
        raise ValueError(
            "augment must return a batch of the same shape, dtype and device as the one it "
            f"is given; it returned {', '.join(problems)}."
        )


def _batches(
    data: Dataset, setup: TrainingSetup, sizes: list[int]
) -> Iterator[tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]]:
    """The epoch's batches of ``sizes`` rows: slices in order, or rows of a random permutation."""
    n_rows, X, y, weight = len(data), data.X, data.y, data.weight
    if n_rows == 0:
        return
    if not setup.shuffle:
        start = 0
        for size in sizes:
            stop = start + size
            yield X[start:stop], y[start:stop], None if weight is None else weight[start:stop]
            start = stop
        return
    order = torch.randperm(n_rows, generator=setup.generator, device=X.device)
    if isinstance(X, StreamedRows):
        for index in order.split(sizes):
            yield (
                X.index_select(0, index),
                y.index_select(0, index),
                None if weight is None else weight.index_select(0, index),
            )
        return
    indices = order.split(sizes)
    # Labels and weights (one number per row) are put in order once per epoch and
    # sliced; input rows are gathered per batch into one reused buffer (a batch
    # lives only for its step), straight from the caller's rows for a split.
    if isinstance(X, IndexedRows):
        X, input_indices = X.tensor, X.rows.index_select(0, order).split(sizes)
    else:
        input_indices = indices
    if y.ndim == 1:
        targets = y.index_select(0, order).split(sizes)
    else:
        targets = (y.index_select(0, index) for index in indices)
    weights = (
        [None] * len(indices) if weight is None else weight.index_select(0, order).split(sizes)
    )
    buffer = X.new_empty((max(sizes), *X.shape[1:]))
    rows, X_rows = 0, buffer[:0]
    for index, y_batch, weight_batch in zip(input_indices, targets, weights, strict=True):
        if len(index) != rows:  # the first batch, and a last one of another size
            rows = len(index)
            X_rows = buffer[:rows]
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


def _warn_if_the_loss_never_came_down(run: TrainingRun) -> None:
    """Warn when every epoch's training loss stayed far above the loss before training.

    A loss that explodes without becoming NaN (a learning rate far too high)
    leaves a "fitted" model predicting nonsense; non-finite losses are handled
    by the divergence recovery instead. A continued run (``setup.continued``)
    is not judged: one batch of a trained network can have a loss far below
    its epoch's mean.
    """
    losses = [record["loss"] for record in run.records]
    initial = run.initial_loss
    if not losses or initial is None or not math.isfinite(initial) or run.setup.continued:
        return
    best = min(losses)
    if math.isfinite(best) and best > 10 * max(initial, 1e-12):
        warnings.warn(
            f"The training loss never came down to ten times its value before training "
            f"({initial:.3g} on the first batch; {best:.3g} in the best epoch): the learning "
            "rate is probably far too high. Lower it (find_learning_rate() suggests one) or "
            "add gradient clipping (clip_norm).",
            SkdnnWarning,
            stacklevel=3,
        )


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
