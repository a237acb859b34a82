"""What every skdnn estimator shares: validation, the fit pipeline, pickling."""

from __future__ import annotations

import copy
import math
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from sklearn.base import BaseEstimator
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted
from torch import nn

from skdnn._utils.random import Seeds, isolated_torch_rng, torch_generator
from skdnn._utils.threads import FitThreads
from skdnn.components.optimizers import build_optimizer
from skdnn.components.regularizers import Regularization
from skdnn.components.schedules import LRScheduleAdapter
from skdnn.estimators._params import (
    ARCHITECTURE_CONSTRAINTS,
    MIXED_PRECISION,
    TRAINING_CONSTRAINTS,
    check_layer_sizes,
)
from skdnn.estimators._sklearn_compat import InvalidParameterError, with_hint
from skdnn.estimators.persistence import load_estimator, save_estimator
from skdnn.network import kernels
from skdnn.training.checkpoints import CheckpointWriter
from skdnn.training.early_stopping import EarlyStopping
from skdnn.training.inference import InferenceNetwork
from skdnn.training.loop import Dataset, TrainingSetup, train
from skdnn.training.progress import ProgressReporter


class BaseDNN(BaseEstimator):
    """Shared machinery of the skdnn estimators (not for direct use)."""

    _parameter_constraints: ClassVar[dict] = {**ARCHITECTURE_CONSTRAINTS, **TRAINING_CONSTRAINTS}

    # ------------------------------------------------------------------ validation
    def _validate_params(self) -> None:
        try:
            super()._validate_params()
        except InvalidParameterError as error:
            with_hint(error, self.get_params(deep=False), self._parameter_constraints)
        check_layer_sizes(self.hidden_layer_sizes)

    def __sklearn_is_fitted__(self) -> bool:
        return hasattr(self, "model_")

    # ------------------------------------------------------------------ training
    def _draw_seeds(self) -> Seeds:
        return Seeds.draw(check_random_state(self.random_state))

    def _continues(self) -> bool:
        """Whether ``fit`` continues from the fitted state (``warm_start``)."""
        return bool(self.warm_start) and self.__sklearn_is_fitted__()

    def _run_training(
        self,
        module: nn.Module,
        data: Dataset,
        validation: Dataset | None,
        *,
        epochs: int,
        early_stopping: bool,
        seeds: Seeds,
        device: torch.device,
        continues: bool,
        configure: Callable[[TrainingSetup], None] | None = None,
    ) -> list[dict[str, Any]]:
        """Build the optimizer, schedule and regularization, then run the loop.

        ``configure``, when given, may adjust the finished setup (loss, callbacks,
        ...) right before the loop starts.
        """
        history_before = self.history_ if continues else []
        first_epoch = len(history_before) + 1
        saved_rng = getattr(self, "_rng_state", None) if continues else None
        setup = self._training_setup(
            module, len(data), device, seeds, epochs, first_epoch, early_stopping, continues,
            saved_rng,
        )
        done: list[dict[str, Any]] = []
        progress = ProgressReporter(self.verbose, epochs, type(self).__name__)
        setup.callbacks = [lambda record, _: done.append(record), progress]
        if configure is not None:
            configure(setup)
        optimizer, schedule, stopper, generator = (
            setup.optimizer, setup.schedule, setup.stopper, setup.generator
        )

        with isolated_torch_rng(
            seeds.dropout, device, None if saved_rng is None else saved_rng["dropout"]
        ) as dropout_rng_state:

            def store_progress() -> None:
                self._optimizer_state = optimizer.state_dict()
                self._schedule_state = schedule.state_dict()
                self._rng_state = {"shuffle": generator.get_state(), "dropout": dropout_rng_state()}
                self.history_ = [*history_before, *done]
                self.n_epochs_ = first_epoch - 1 + len(done)
                best = stopper.best_epoch
                self.best_epoch_ = best if best is not None else self.n_epochs_

            checkpoints = self._checkpoint_writer(store_progress)
            if checkpoints is not None:
                setup.callbacks = [*setup.callbacks, checkpoints]
            try:
                # Fits running side by side in this process share its CPUs (see FitThreads).
                with FitThreads() as threads:
                    setup.callbacks = [*setup.callbacks, threads.refresh]
                    records = train(module, data, validation, setup, first_epoch=first_epoch)
            finally:
                progress.close()
            if early_stopping and self.restore_best_weights:
                stopper.restore(module)
            store_progress()
        if checkpoints is not None:
            checkpoints.write_final()
        self._prepare_inference()
        return records

    def _training_setup(
        self,
        module: nn.Module,
        n_rows: int,
        device: torch.device,
        seeds: Seeds,
        epochs: int,
        first_epoch: int,
        early_stopping: bool,
        continues: bool,
        saved_rng: dict[str, torch.Tensor] | None,
    ) -> TrainingSetup:
        """Optimizer, schedule, regularization and stopper, restored when continuing."""
        steps_per_epoch = math.ceil(n_rows / self.batch_size)
        optimizer = self._build_optimizer(module, device, self.learning_rate)
        schedule = LRScheduleAdapter(
            optimizer,
            self.lr_schedule,
            self.lr_schedule_params,
            steps_per_epoch=steps_per_epoch,
            total_steps=max(self.max_epochs, first_epoch - 1 + epochs) * steps_per_epoch,
        )
        generator = torch_generator(seeds.shuffle, device)
        if continues and getattr(self, "_optimizer_state", None) is not None:
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
            autocast_dtype=autocast_dtype,
            grad_scaler=(
                torch.amp.GradScaler(device.type) if autocast_dtype is torch.float16 else None
            ),
        )

    def _build_optimizer(
        self, module: nn.Module, device: torch.device, learning_rate: float
    ) -> torch.optim.Optimizer:
        """The configured optimizer over the module's trainable parameters."""
        return build_optimizer(
            self.optimizer,
            self._optimizer_parameters(module),
            learning_rate=learning_rate,
            momentum=self.momentum,
            beta_1=self.beta_1,
            beta_2=self.beta_2,
            rho=self.rho,
            epsilon=self.epsilon,
            optimizer_params=self.optimizer_params,
            device=device,
        )

    def _optimizer_parameters(self, module: nn.Module) -> list:
        """Parameters (or parameter groups) the optimizer updates: the trainable ones."""
        return [p for p in module.parameters() if p.requires_grad]

    def _checkpoint_writer(self, store_progress: Callable[[], None]) -> CheckpointWriter | None:
        """A callback writing checkpoints to ``checkpoint_dir``, or None."""
        if self.checkpoint_dir is None:
            return None

        def write(path: Path) -> None:
            store_progress()
            self.save(path)

        return CheckpointWriter(self.checkpoint_dir, self.checkpoint_every, write)

    # ------------------------------------------------------------------ persistence
    def save(self, path: str | os.PathLike) -> None:
        """Save the fitted estimator to ``path`` in skdnn's safe format.

        The file holds tensors (safetensors) and a JSON description, never a
        pickle, so loading it cannot execute code. Callables among the
        hyperparameters (``augment``) are not stored.

        Parameters
        ----------
        path : str or path-like
            Destination file; written atomically.
        """
        check_is_fitted(self)
        save_estimator(self, path)

    @classmethod
    def load(cls, path: str | os.PathLike) -> BaseDNN:
        """Load an estimator written by :meth:`save`, on the CPU.

        Parameters
        ----------
        path : str or path-like
            File written by :meth:`save` (or a checkpoint).

        Returns
        -------
        estimator
            The fitted estimator, of the class recorded in the file.

        Raises
        ------
        ValueError
            If the file is not a valid skdnn model file, is truncated or
            corrupt, or holds an estimator that is not a ``cls``.
        """
        classes = {klass.__name__: klass for klass in _subclasses(BaseDNN)}
        estimator = load_estimator(path, classes)
        if not isinstance(estimator, cls):
            raise ValueError(f"{path} holds a {type(estimator).__name__}, not a {cls.__name__}.")
        return estimator

    def _clear_fitted_state(self) -> None:
        """Forget every fitted attribute (used when a fresh fit fails)."""
        for name in [k for k in vars(self) if k.endswith("_") and not k.startswith("__")]:
            delattr(self, name)
        for name in ("_optimizer_state", "_schedule_state", "_rng_state"):
            self.__dict__.pop(name, None)

    # ------------------------------------------------------------------ inference
    def _prepare_inference(self) -> None:
        """Build the inference network of ``model_`` now, so that predicting does not.

        Called when training ends; prediction rebuilds it only if ``model_`` was
        changed since (and leaves the estimator's ``__dict__`` alone otherwise).
        """
        model = self.__dict__.get("model_")
        if isinstance(model, nn.Module):
            self._inference_cache = InferenceNetwork(model)

    def _forward(self, X: np.ndarray, batch_size: int = 8192) -> torch.Tensor:
        """Logits (or outputs) of the fitted network for ``X``, on the CPU.

        Runs a cached :class:`~skdnn.training.inference.InferenceNetwork` (batch
        norm folded, fast kernels), rebuilt whenever ``model_`` changed.
        """
        module = self.model_
        if module.training:
            module.eval()
        network = self.__dict__.get("_inference_cache")
        if network is None or not network.is_current(module):
            network = self._inference_cache = InferenceNetwork(module)
        inputs = torch.from_numpy(X)
        device = network.device
        if len(inputs) <= batch_size:
            return network(inputs.to(device)).cpu()
        return torch.cat(
            [network(chunk.to(device)).cpu() for chunk in torch.split(inputs, batch_size)]
        )

    # ------------------------------------------------------------------ pickling
    def __getstate__(self) -> dict[str, Any]:
        """Pickle with CPU tensors only, so a GPU-fitted model loads anywhere."""
        state = super().__getstate__()
        if "_inference_cache" in state:  # rebuilt on demand; never pickled
            state = {k: v for k, v in state.items() if k != "_inference_cache"}
        if "model_" in state:
            state = dict(state)
            state["model_"] = copy.deepcopy(state["model_"]).cpu()
            for key in ("_optimizer_state", "_rng_state"):
                if state.get(key) is not None:
                    state[key] = _to_cpu(state[key])
        return state


def _subclasses(cls: type) -> list[type]:
    found = []
    for sub in cls.__subclasses__():
        found += [sub, *_subclasses(sub)]
    return found


def _to_cpu(value: Any) -> Any:
    if isinstance(value, torch.Tensor):
        return value.cpu()
    if isinstance(value, dict):
        return {k: _to_cpu(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_to_cpu(v) for v in value)
    return value
