"""The objects one training run is made of: its setup, its state while running, its result.

The estimator builds a :class:`TrainingSetup` (optimizer, schedule,
regularization, stopper, loop settings); :func:`skdnn.training.loop.train`
runs it, showing callbacks a :class:`TrainingRun`, and returns a
:class:`TrainingResult`, everything the estimator keeps of the run.

Plain torch; no scikit-learn.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import torch
from torch import nn

from skdnn.components.regularizers import Regularization
from skdnn.components.schedule_adapter import LRScheduleAdapter
from skdnn.training.data import Dataset
from skdnn.training.early_stopping import EarlyStopping
from skdnn.training.objectives import CROSS_ENTROPY, Objective

#: What :meth:`Callback.on_epoch_end` returns to end training after this epoch.
STOP = "stop"


@dataclass
class TrainingSetup:
    """What to run: the objects built by the estimator and the loop settings.

    ``health`` computes an epoch's activation-health figures (one per hidden
    layer); None probes the first rows of the training inputs through the whole
    network. ``autocast_dtype`` is the dtype of autocast for the forward pass
    (None: float32) and ``grad_scaler`` the float16 loss scaler. Dropout and
    other stochastic layers draw from torch's RNG of the device, seeded with
    ``dropout_seed`` (or set back to ``dropout_state``) for the run and handed
    back to the caller's state afterwards; with neither, the loop leaves torch's
    RNG alone. ``restore_best`` ends the run with the weights of the best epoch.
    ``continued`` says that the module starts from trained weights (a warm start,
    ``partial_fit``): its first batch's loss is then no measure of the start.
    """

    optimizer: torch.optim.Optimizer
    schedule: LRScheduleAdapter
    regularization: Regularization
    stopper: EarlyStopping
    max_epochs: int
    batch_size: int
    shuffle: bool = True
    generator: torch.Generator | None = None
    augment: Callable[[torch.Tensor, torch.Generator], torch.Tensor] | None = None
    objective: Objective = CROSS_ENTROPY
    health: Callable[[nn.Module], list[float]] | None = None
    autocast_dtype: torch.dtype | None = None
    grad_scaler: torch.amp.GradScaler | None = None
    dropout_seed: int | None = None
    dropout_state: torch.Tensor | None = None
    restore_best: bool = False
    continued: bool = False


@dataclass
class TrainingResult:
    """Everything a training run leaves behind, for the estimator to store.

    Attributes
    ----------
    records : list of dict
        One record per epoch run (``epoch``, ``loss``, ``val_*``, ``lr``, ...).
    best_epoch : int or None
        Epoch of the lowest monitored loss (None when no epoch finished).
    best_state : dict or None
        The module's state at ``best_epoch``.
    optimizer_state, schedule_state : dict
        ``state_dict()`` of the optimizer and of the schedule, to continue from.
    rng_state : dict
        ``"shuffle"``: the shuffling generator's state, ``"dropout"``: the
        dropout RNG's state (None when the loop did not own it).
    """

    records: list[dict[str, Any]]
    best_epoch: int | None
    best_state: dict[str, torch.Tensor] | None
    optimizer_state: dict[str, Any]
    schedule_state: dict[str, Any]
    rng_state: dict[str, torch.Tensor | None]


@dataclass(frozen=True)
class StopReason:
    """Why a run ended before its last epoch.

    Attributes
    ----------
    kind : {"early_stopping", "diverged", "interrupted", "callback"}
        Patience exhausted, a non-finite loss, ``KeyboardInterrupt``, or a
        callback returning :data:`STOP`.
    epoch : int
        The epoch after which (or, diverged and interrupted, during which) it ended.
    source : str or None
        The class name of the callback that stopped the run.
    """

    kind: Literal["early_stopping", "diverged", "interrupted", "callback"]
    epoch: int
    source: str | None = None


@dataclass
class TrainingRun:
    """A run in progress, as callbacks see it.

    The loop sets ``stop_reason`` when the run ends before its last epoch and
    ``restored_epoch`` when it loads the weights of an earlier epoch (the best
    one) into the module.

    Callbacks may, in :meth:`Callback.on_train_begin`, replace ``data``,
    ``validation`` or ``setup.health`` (frozen-layer caching trains on cached
    outputs) and, at any point, change the module's frozen boundary or the
    learning rates through the setup's optimizer and schedule.
    """

    module: nn.Module
    data: Dataset
    validation: Dataset | None
    setup: TrainingSetup
    first_epoch: int = 1
    records: list[dict[str, Any]] = field(default_factory=list)
    #: Mean objective of the run's first batch, before any step (the untrained loss).
    initial_loss: float | None = None
    dropout_state: Callable[[], torch.Tensor | None] = lambda: None
    stop_reason: StopReason | None = None
    restored_epoch: int | None = None

    def result(self) -> TrainingResult:
        """The result as of now (also mid-run, for checkpoints)."""
        setup = self.setup
        return TrainingResult(
            records=list(self.records),
            best_epoch=setup.stopper.best_epoch,
            best_state=setup.stopper.best_state,
            optimizer_state=setup.optimizer.state_dict(),
            schedule_state=setup.schedule.state_dict(),
            rng_state={
                "shuffle": None if setup.generator is None else setup.generator.get_state(),
                "dropout": self.dropout_state(),
            },
        )


class Callback(Protocol):
    """What the loop calls around a run; :class:`CallbackBase` gives no-op defaults."""

    def on_train_begin(self, run: TrainingRun) -> None:
        """Before the first epoch."""

    def on_epoch_end(self, run: TrainingRun, record: dict[str, Any]) -> Literal["stop"] | None:
        """After each epoch that finished; return :data:`STOP` to end training."""

    def on_train_end(self, run: TrainingRun) -> None:
        """After the last epoch, also when training ends by an exception."""


class CallbackBase:
    """A :class:`Callback` doing nothing; subclasses override what they need."""

    def on_train_begin(self, run: TrainingRun) -> None:
        """Before the first epoch (nothing by default)."""

    def on_epoch_end(self, run: TrainingRun, record: dict[str, Any]) -> Literal["stop"] | None:
        """After each epoch (nothing by default)."""
        return None

    def on_train_end(self, run: TrainingRun) -> None:
        """After the last epoch (nothing by default)."""
