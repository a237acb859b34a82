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
from skdnn.components.schedule_adapter import LRScheduleAdapter
from skdnn.estimators._data import split_validation, to_dataset, unpack_validation_data
from skdnn.estimators._fitted import FittedNetworkMixin
from skdnn.estimators._params import (
    MIXED_PRECISION,
    NETWORK_HYPERPARAMETERS,
    OPTIMIZATION_HYPERPARAMETERS,
    OPTIMIZER_HYPERPARAMETERS,
    check_layer_sizes,
    comparable,
    constraints_of,
    document_parameters,
)
from skdnn.estimators._sklearn_compat import InvalidParameterError, with_hint
from skdnn.estimators._tasks import Task
from skdnn.exceptions import TrainingInterrupted
from skdnn.network import INPUT_BLOCK, OUTPUT_BLOCK, fit_input_statistics, kernels
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
        if self.lr_schedule is None and self.lr_schedule_params:
            raise ValueError(
                f"lr_schedule_params={self.lr_schedule_params!r} was given without an "
                "lr_schedule, so it would be ignored: set lr_schedule (e.g. 'power', "
                "'exponential', 'performance', '1cycle') or drop lr_schedule_params."
            )

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
        A failed fit that did not continue leaves the estimator unfitted; an
        interrupted one (Ctrl-C) keeps what the training loop restored and
        raises :class:`~skdnn.exceptions.TrainingInterrupted` again.
        """
        if continues:
            self._check_network_unchanged()
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
            # ``rows`` rather than ``X[rows]``: the training rows of X are not copied.
            data = to_dataset(X, targets, weight, device, rows=train_rows)
            if continues:
                module = self._resume_module(self.model_)
            else:
                module = self._build_module(task.n_outputs(self), seeds)
                fit_input_statistics(module, X, train_rows)
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
        except TrainingInterrupted as interrupted:
            # Ctrl-C: keep the weights the loop restored, then let the interrupt stop
            # whatever called fit (a search, the folds of cross_val_score...).
            self._store_training([*history, *interrupted.result.records], interrupted.result)
            raise
        except BaseException:
            if not continues:
                self._clear_fitted_state()
            raise
        return self

    def _validation_split(
        self, task: Task, X, targets, weight, validation_data, hold_out: bool, seed: int, device
    ) -> tuple[np.ndarray | None, Dataset | None]:
        """Rows to train on (None: all of them) and the validation ``Dataset`` (or None)."""
        if validation_data is not None:
            X_val, y_val = unpack_validation_data(validation_data)
            try:
                X_val, y_val = task.validate(self, X_val, y_val, reset=False)
                encoded = task.encode(self, y_val)
            except ValueError as error:
                raise ValueError(f"validation_data: {error}") from error
            return None, to_dataset(X_val, encoded, None, device)
        if not (hold_out and self.early_stopping):
            return None, None
        split = split_validation(
            targets, self.validation_fraction, seed, stratify=task.stratify
        )
        if split is None:
            return None, None
        train_rows, val_rows = split
        return train_rows, to_dataset(X, targets, weight, device, rows=val_rows)

    def _settings(self) -> dict[str, Any]:
        """The network and optimizer hyperparameters of this estimator, comparable."""
        names = (*NETWORK_HYPERPARAMETERS, *OPTIMIZATION_HYPERPARAMETERS)
        return {
            name: comparable(name, getattr(self, name))
            for name in names
            if name in self._parameter_constraints
        }

    def _changed_settings(self, names: tuple[str, ...]) -> list[str]:
        """Which of ``names`` changed since the last fit (none known for older files)."""
        stored = self.__dict__.get("_fit_settings") or {}
        current = self._settings()
        return [n for n in names if n in stored and n in current and stored[n] != current[n]]

    def _check_network_unchanged(self) -> None:
        """Refuse to continue the fitted network when a hyperparameter shaping it changed."""
        changed = self._changed_settings(NETWORK_HYPERPARAMETERS)
        if changed:
            changes = ", ".join(
                f"{name} from {self._fit_settings[name]!r} to {getattr(self, name)!r}"
                for name in changed
            )
            raise ValueError(
                "This fit would continue the fitted network (warm_start=True, or "
                f"partial_fit), but {changes} changed since it was built. Set "
                "warm_start=False (or fit a clone) to build a new network with the new "
                "values, or set the old ones back."
            )

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
        if validation is None and setup.schedule.needs_validation_loss:
            raise ValueError(
                f"lr_schedule={self.lr_schedule!r} lowers the rate when the validation loss "
                "stops improving, but this fit has no validation loss: set "
                "early_stopping=True so that fit holds out validation_fraction of the rows, "
                "or pass validation_data where fit takes it (partial_fit holds out nothing), "
                "or choose another lr_schedule."
            )
        progress = ProgressReporter(self.verbose, epochs, type(self).__name__)
        checkpoints = self._checkpoint_writer(history)
        run_callbacks = [progress, *callbacks, *([checkpoints] if checkpoints else [])]
        # Fits running side by side in this process share its CPUs (see FitThreads).
        try:
            result = train(
                module, data, validation, setup, [*run_callbacks, FitThreads()],
                first_epoch=first_epoch,
            )
        except TrainingInterrupted as interrupted:
            if checkpoints is not None:
                checkpoints.write_final(interrupted.result)
            raise
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
        # A changed optimizer or schedule hyperparameter starts both afresh; a
        # continued schedule keeps the run it planned (1cycle and cosine end there).
        restoring = (
            resume
            and self.__dict__.get("_optimizer_state") is not None
            and not self._changed_settings(OPTIMIZATION_HYPERPARAMETERS)
        )
        planned = restoring and self._schedule_state.get("total_steps")
        schedule = LRScheduleAdapter(
            optimizer,
            self.lr_schedule,
            self.lr_schedule_params,
            steps_per_epoch=steps_per_epoch,
            total_steps=planned or max(self.max_epochs, first_epoch - 1 + epochs) * steps_per_epoch,
        )
        generator = torch_generator(seeds.shuffle, device)
        saved_rng = self.__dict__.get("_rng_state") if resume else None
        if restoring:
            optimizer.load_state_dict(self._optimizer_state)
            schedule.load_state_dict(self._schedule_state)
        if saved_rng is not None:
            generator.set_state(saved_rng["shuffle"])
        autocast_dtype = MIXED_PRECISION.get(self.mixed_precision)
        return TrainingSetup(
            continued=resume,
            optimizer=optimizer,
            schedule=schedule,
            regularization=Regularization(
                kernels(module),
                l1=self.l1,
                l2=self.l2,
                max_norm=self.max_norm,
                clip_value=self.clip_value,
                clip_norm=self.clip_norm,
                max_norm_kernels=self._max_norm_kernels(module),
            ),
            stopper=EarlyStopping(
                enabled=early_stopping, patience=self.patience, min_delta=self.min_delta,
                monitor=getattr(self, "monitor", "val_loss"),
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

    def _max_norm_kernels(self, module: nn.Module) -> list[nn.Parameter]:
        """The kernels ``max_norm`` constrains: the hidden layers' (and the output's on request).

        The input block's (a numeric embedding's linear layer) never: its
        units are not neurons of a hidden layer.
        """
        return kernels(
            module, exclude=(INPUT_BLOCK,) if self.max_norm_output else (INPUT_BLOCK, OUTPUT_BLOCK)
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
        self._fit_settings = self._settings()
        vars(self).update(self._fitted_structure(self.model_))
        self.model_.eval()
        self._prepare_inference()
