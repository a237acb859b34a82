"""What every skdnn estimator shares: validation, the fit pipeline, pickling."""

from __future__ import annotations

import copy
import math
from typing import Any

import numpy as np
import torch
from sklearn.base import BaseEstimator
from sklearn.utils import check_random_state
from torch import nn

from skdnn._utils.random import Seeds, isolated_torch_rng, torch_generator
from skdnn.components.optimizers import build_optimizer
from skdnn.components.regularizers import Regularization
from skdnn.components.schedules import LRScheduleAdapter
from skdnn.estimators._params import (
    ARCHITECTURE_CONSTRAINTS,
    TRAINING_CONSTRAINTS,
    check_layer_sizes,
)
from skdnn.estimators._sklearn_compat import InvalidParameterError, with_hint
from skdnn.network import kernels
from skdnn.training.early_stopping import EarlyStopping
from skdnn.training.loop import Dataset, TrainingSetup, train
from skdnn.training.progress import ProgressReporter


class BaseDNN(BaseEstimator):
    """Shared machinery of the skdnn estimators (not for direct use)."""

    _parameter_constraints: dict = {**ARCHITECTURE_CONSTRAINTS, **TRAINING_CONSTRAINTS}

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
    ) -> list[dict[str, Any]]:
        """Build the optimizer, schedule and regularization, then run the loop."""
        steps_per_epoch = math.ceil(len(data) / self.batch_size)
        optimizer = build_optimizer(
            self.optimizer,
            [p for p in module.parameters() if p.requires_grad],
            learning_rate=self.learning_rate,
            momentum=self.momentum,
            beta_1=self.beta_1,
            beta_2=self.beta_2,
            rho=self.rho,
            epsilon=self.epsilon,
            optimizer_params=self.optimizer_params,
            device=device,
        )
        schedule = LRScheduleAdapter(
            optimizer,
            self.lr_schedule,
            self.lr_schedule_params,
            steps_per_epoch=steps_per_epoch,
            total_steps=self.max_epochs * steps_per_epoch,
        )
        if continues and getattr(self, "_optimizer_state", None) is not None:
            optimizer.load_state_dict(self._optimizer_state)
            schedule.load_state_dict(self._schedule_state)
        stopper = EarlyStopping(
            enabled=early_stopping, patience=self.patience, min_delta=self.min_delta
        )
        progress = ProgressReporter(self.verbose, epochs, type(self).__name__)
        setup = TrainingSetup(
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
            stopper=stopper,
            max_epochs=epochs,
            batch_size=self.batch_size,
            shuffle=self.shuffle,
            generator=torch_generator(seeds.shuffle, device),
            augment=self.augment,
            callbacks=[progress, *self._epoch_callbacks()],
        )
        first_epoch = self.n_epochs_ + 1 if continues else 1
        try:
            with isolated_torch_rng(seeds.dropout, device):
                records = train(module, data, validation, setup, first_epoch=first_epoch)
        finally:
            progress.close()
        if early_stopping and self.restore_best_weights:
            stopper.restore(module)
        self._optimizer_state = optimizer.state_dict()
        self._schedule_state = schedule.state_dict()
        previous = self.history_ if continues else []
        self.history_ = [*previous, *records]
        self.n_epochs_ = first_epoch - 1 + len(records)
        self.best_epoch_ = stopper.best_epoch if stopper.best_epoch is not None else self.n_epochs_
        return records

    def _epoch_callbacks(self) -> list:
        """Extra per-epoch callbacks of a subclass (checkpoints, ...)."""
        return []

    def _clear_fitted_state(self) -> None:
        """Forget every fitted attribute (used when a fresh fit fails)."""
        for name in [k for k in vars(self) if k.endswith("_") and not k.startswith("__")]:
            delattr(self, name)
        for name in ("_optimizer_state", "_schedule_state"):
            self.__dict__.pop(name, None)

    # ------------------------------------------------------------------ inference
    @torch.inference_mode()
    def _forward(self, X: np.ndarray, batch_size: int = 8192) -> torch.Tensor:
        """Logits (or outputs) of the fitted network for ``X``, on the CPU."""
        module = self.model_
        device = next(module.parameters()).device
        module.eval()
        inputs = torch.from_numpy(X)
        if len(inputs) <= batch_size:
            return module(inputs.to(device)).cpu()
        return torch.cat(
            [module(chunk.to(device)).cpu() for chunk in torch.split(inputs, batch_size)]
        )

    # ------------------------------------------------------------------ pickling
    def __getstate__(self) -> dict[str, Any]:
        """Pickle with CPU tensors only, so a GPU-fitted model loads anywhere."""
        state = super().__getstate__()
        if "model_" in state:
            state = dict(state)
            state["model_"] = copy.deepcopy(state["model_"]).cpu()
            for key in ("_optimizer_state",):
                if state.get(key) is not None:
                    state[key] = _to_cpu(state[key])
        return state


def _to_cpu(value: Any) -> Any:
    if isinstance(value, torch.Tensor):
        return value.cpu()
    if isinstance(value, dict):
        return {k: _to_cpu(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_to_cpu(v) for v in value)
    return value
