"""What every skdnn estimator shares: validation, the fit pipeline, pickling."""

from __future__ import annotations

import copy
import math
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from sklearn.base import BaseEstimator
from sklearn.utils import check_random_state
from torch import nn

from skdnn._utils.device import resolve_device
from skdnn._utils.random import Seeds, torch_generator
from skdnn._utils.threads import FitThreads
from skdnn.components.optimizers import build_optimizer
from skdnn.components.regularizers import Regularization
from skdnn.components.schedules import LRScheduleAdapter
from skdnn.estimators._data import split_validation, to_dataset
from skdnn.estimators._fitted import FittedNetworkMixin
from skdnn.estimators._params import (
    MIXED_PRECISION,
    OPTIMIZER_HYPERPARAMETERS,
    check_layer_sizes,
    constraints_of,
    document_parameters,
)
from skdnn.estimators._sklearn_compat import InvalidParameterError, with_hint
from skdnn.estimators._tasks import Task
from skdnn.network import kernels
from skdnn.training.checkpoints import CheckpointWriter
from skdnn.training.data import Dataset
from skdnn.training.early_stopping import EarlyStopping
from skdnn.training.loop import train
from skdnn.training.objectives import Objective
from skdnn.training.progress import ProgressReporter
from skdnn.training.setup import Callback, TrainingResult, TrainingSetup


class BaseDNN(FittedNetworkMixin, BaseEstimator):
    """Shared machinery of the skdnn estimators (not for direct use).

    :meth:`_fit` is the fit pipeline of the supervised estimators: validate
    the data and encode the target (through the task), draw the seeds, resolve
    the device, split off validation rows, build the module, train it
    (:meth:`_train`: optimizer, schedule, regularization, callbacks, the loop)
    and store the result (:meth:`_store_training`). Subclasses customize it
    through :meth:`_task`, :meth:`_build_module`, :meth:`_resume_module`,
    :meth:`_optimizer_parameters`, :meth:`_training_callbacks` and
    :meth:`_fitted_structure`; none of them runs or patches the training.
    """

    _parameter_constraints: ClassVar[dict] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "_hyperparameters" in vars(cls):  # constraints and docs come from the table
            cls._parameter_constraints = constraints_of(cls)
            document_parameters(cls)

    # ------------------------------------------------------------------ validation
    def _validate_params(self) -> None:
        try:
            super()._validate_params()
        except InvalidParameterError as error:
            raise with_hint(
                error, self.get_params(deep=False), self._parameter_constraints
            ) from None
        check_layer_sizes(self.hidden_layer_sizes)

    def __sklearn_is_fitted__(self) -> bool:
        return hasattr(self, "model_")

    # ------------------------------------------------------------------ the fit pipeline
    def _task(self) -> Task:
        raise NotImplementedError

    def _fit(
        self,
        X: Any,
        y: Any,
        *,
        validation_data: Any = None,
        sample_weight: Any = None,
        continues: bool,
        epochs: int,
        hold_out: bool,
        task: Task | None = None,
    ) -> BaseDNN:
        """Validate, encode, seed, build, train, store; return ``self``.

        ``hold_out`` allows a validation split (``fit``; not ``partial_fit``).
        A failed fit that did not continue leaves the estimator unfitted.
        """
        try:
            task = self._task() if task is None else task
            X, y = task.validate(self, X, y, reset=not continues)
            weight = task.weights(self, X, y, sample_weight)
            if not continues:
                vars(self).update(task.learn(self, y, weight))
            targets = task.encode(self, y)
            seeds = self._draw_seeds()
            device = resolve_device(self.device)
            train_rows, validation = self._validation_split(
                task, X, targets, weight, validation_data if hold_out else None, hold_out,
                seeds.split, device,
            )
            # ``rows`` rather than ``X[rows]``: a memory-mapped X is streamed, not copied.
            data = to_dataset(X, targets, weight, device, rows=train_rows)
            if continues:
                module = self._resume_module(self.model_)
            else:
                module = self._build_module(task.n_outputs(self), seeds)
            self.model_ = module.to(device)
            history = self.history_ if continues else []
            result = self._train(
                self.model_, data, validation, task.objective,
                seeds=seeds, epochs=epochs, resume=continues, first_epoch=len(history) + 1,
                early_stopping=self.early_stopping and validation is not None,
                callbacks=self._training_callbacks(self.model_),
                history=history,
            )
            self._store_training([*history, *result.records], result)
        except BaseException:
            if not continues:
                self._clear_fitted_state()
            raise
        return self

    def _validation_split(
        self, task: Task, X, targets, weight, validation_data, hold_out: bool, seed: int, device
    ) -> tuple[np.ndarray, Dataset | None]:
        """Rows to train on and the validation ``Dataset`` (or None)."""
        all_rows = np.arange(len(targets))
        if validation_data is not None:
            X_val, y_val = _unpack_validation(validation_data)
            X_val, y_val = task.validate(self, X_val, y_val, reset=False)
            return all_rows, to_dataset(X_val, task.encode(self, y_val), None, device)
        if not (hold_out and self.early_stopping):
            return all_rows, None
        split = split_validation(
            targets, self.validation_fraction, seed, stratify=task.stratify
        )
        if split is None:
            return all_rows, None
        train_rows, val_rows = split
        return train_rows, to_dataset(X, targets, weight, device, rows=val_rows)

    def _draw_seeds(self) -> Seeds:
        return Seeds.draw(check_random_state(self.random_state))

    def _continues(self) -> bool:
        """Whether ``fit`` continues from the fitted state (``warm_start``)."""
        return bool(self.warm_start) and self.__sklearn_is_fitted__()

    def _build_module(self, n_outputs: int, seeds: Seeds) -> nn.Module:
        raise NotImplementedError

    def _resume_module(self, module: nn.Module) -> nn.Module:
        """The fitted module, ready to train further (warm start, ``partial_fit``)."""
        return module

    def _training_callbacks(self, module: nn.Module) -> list[Callback]:
        """Callbacks this estimator adds to its training runs (none by default)."""
        return []

    def _fitted_structure(self, module: nn.Module) -> dict[str, Any]:
        """Fitted attributes describing ``module`` after training (none by default)."""
        return {}

    def _train(
        self,
        module: nn.Module,
        data: Dataset,
        validation: Dataset | None,
        objective: Objective,
        *,
        seeds: Seeds,
        epochs: int,
        resume: bool,
        first_epoch: int,
        early_stopping: bool,
        callbacks: list[Callback],
        history: list[dict[str, Any]],
    ) -> TrainingResult:
        """Build the optimizer, schedule and regularization, then run the loop.

        With ``resume`` the optimizer, schedule and RNG states continue from the
        stored ones. ``history`` is the record list the run continues (for
        checkpoints, which hold the whole history).
        """
        setup = self._training_setup(
            module, data, objective, seeds=seeds, epochs=epochs, first_epoch=first_epoch,
            early_stopping=early_stopping, resume=resume,
        )
        progress = ProgressReporter(self.verbose, epochs, type(self).__name__)
        checkpoints = self._checkpoint_writer(history)
        run_callbacks = [progress, *callbacks, *([checkpoints] if checkpoints else [])]
        # Fits running side by side in this process share its CPUs (see FitThreads).
        result = train(
            module, data, validation, setup, [*run_callbacks, FitThreads()],
            first_epoch=first_epoch,
        )
        if checkpoints is not None:
            checkpoints.write_final(result)
        return result

    def _training_setup(
        self,
        module: nn.Module,
        data: Dataset,
        objective: Objective,
        *,
        seeds: Seeds,
        epochs: int,
        first_epoch: int,
        early_stopping: bool,
        resume: bool,
    ) -> TrainingSetup:
        """Optimizer, schedule, regularization and stopper, restored when resuming."""
        device = data.X.device
        steps_per_epoch = math.ceil(len(data) / self.batch_size)
        optimizer = self._build_optimizer(module, device, self.learning_rate)
        schedule = LRScheduleAdapter(
            optimizer,
            self.lr_schedule,
            self.lr_schedule_params,
            steps_per_epoch=steps_per_epoch,
            total_steps=max(self.max_epochs, first_epoch - 1 + epochs) * steps_per_epoch,
        )
        generator = torch_generator(seeds.shuffle, device)
        saved_rng = self.__dict__.get("_rng_state") if resume else None
        if resume and self.__dict__.get("_optimizer_state") is not None:
            optimizer.load_state_dict(self._optimizer_state)
            schedule.load_state_dict(self._schedule_state)
        if saved_rng is not None:
            generator.set_state(saved_rng["shuffle"])
        autocast_dtype = MIXED_PRECISION.get(self.mixed_precision)
        return TrainingSetup(
            optimizer=optimizer,
            schedule=schedule,
            regularization=Regularization(
                kernels(module),
                l1=self.l1,
                l2=self.l2,
                max_norm=self.max_norm,
                clip_value=self.clip_value,
                clip_norm=self.clip_norm,
            ),
            stopper=EarlyStopping(
                enabled=early_stopping, patience=self.patience, min_delta=self.min_delta
            ),
            max_epochs=epochs,
            batch_size=self.batch_size,
            shuffle=self.shuffle,
            generator=generator,
            augment=self.augment,
            objective=objective,
            autocast_dtype=autocast_dtype,
            grad_scaler=(
                torch.amp.GradScaler(device.type) if autocast_dtype is torch.float16 else None
            ),
            dropout_seed=seeds.dropout,
            dropout_state=None if saved_rng is None else saved_rng["dropout"],
            restore_best=early_stopping and self.restore_best_weights,
        )

    def _build_optimizer(
        self, module: nn.Module, device: torch.device, learning_rate: float
    ) -> torch.optim.Optimizer:
        """The configured optimizer over the module's trainable parameters."""
        return build_optimizer(
            self.optimizer,
            self._optimizer_parameters(module),
            learning_rate=learning_rate,
            optimizer_params=self.optimizer_params,
            device=device,
            **{name: getattr(self, name) for name in OPTIMIZER_HYPERPARAMETERS},
        )

    def _optimizer_parameters(self, module: nn.Module) -> list:
        """Parameters (or parameter groups) the optimizer updates: the trainable ones."""
        return [p for p in module.parameters() if p.requires_grad]

    def _checkpoint_writer(self, history: list[dict[str, Any]]) -> CheckpointWriter | None:
        """A callback writing checkpoints to ``checkpoint_dir`` (when the estimator has one)."""
        directory = getattr(self, "checkpoint_dir", None)
        if directory is None:
            return None

        def write(path: Path, result: TrainingResult) -> None:
            snapshot = copy.copy(self)  # this estimator as of the result; self is untouched
            snapshot._store_training([*history, *result.records], result)
            snapshot.save(path)

        return CheckpointWriter(directory, self.checkpoint_every, write)

    def _store_training(self, records: list[dict[str, Any]], result: TrainingResult) -> None:
        """Store what training leaves: the one place that writes the fitted training state."""
        self.history_ = records
        self.n_epochs_ = len(records)
        self.best_epoch_ = result.best_epoch if result.best_epoch is not None else self.n_epochs_
        self._optimizer_state = result.optimizer_state
        self._schedule_state = result.schedule_state
        self._rng_state = result.rng_state
        vars(self).update(self._fitted_structure(self.model_))
        self.model_.eval()
        self._prepare_inference()


def _unpack_validation(validation_data) -> tuple[Any, Any]:
    if not isinstance(validation_data, tuple | list) or len(validation_data) != 2:
        raise ValueError("validation_data must be a tuple (X_val, y_val).")
    return validation_data[0], validation_data[1]
