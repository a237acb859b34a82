"""The adapter that drives an optimizer's learning rate from a schedule.

:class:`LRScheduleAdapter` owns ``t``, the number of optimizer steps taken so
far, so the schedule (:mod:`~skdnn.components.schedules`) continues where it
left off after ``state_dict``/``load_state_dict`` or :meth:`~LRScheduleAdapter.rebind`
(Keras' epoch-based callbacks restart at 0 unless told otherwise).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from skdnn.components._param_types import check_value_types
from skdnn.components._registry import check_keywords
from skdnn.components.schedules import LR_SCHEDULES, Schedule

_CONTEXT = ("steps_per_epoch", "total_steps")


class LRScheduleAdapter:
    """Sets the optimizer's learning rate (and 1cycle's momentum) before every step.

    Parameters
    ----------
    optimizer : torch.optim.Optimizer
        Optimizer whose learning rates are scheduled. A param group's ``eta0`` is
        its ``initial_lr`` entry, which is set to its current ``lr`` when absent
        (torch's convention; it is saved in the optimizer's ``state_dict``).
        Schedule parameters given as rates (``max_lr``, ``values``, ...) apply to
        the first group; the others keep their ratio to it.
    name : str or None
        A name of :data:`LR_SCHEDULES`, or None for a constant rate.
    params : mapping, default=None
        Keyword parameters of the schedule (e.g. ``{"s": 1000}`` for ``"power"``);
        ignored when ``name`` is None.
    steps_per_epoch : int
        Optimizer steps per epoch (piecewise boundaries are in epochs).
    total_steps : int
        Steps of the whole run (1cycle and cosine end there).

    Attributes
    ----------
    step_count : int
        Optimizer steps seen so far (``t``).
    total_steps : int
        The run's planned length (saved with the state: a continued fit keeps it).
    """

    def __init__(
        self,
        optimizer: torch.optim.Optimizer,
        name: str | None,
        params: Mapping[str, Any] | None = None,
        *,
        steps_per_epoch: int,
        total_steps: int,
    ) -> None:
        for key, value in (("steps_per_epoch", steps_per_epoch), ("total_steps", total_steps)):
            if not (isinstance(value, int) and value >= 1):
                raise ValueError(f"{key} must be an int >= 1; got {value!r}.")
        self.step_count = 0
        self.total_steps = total_steps
        self._schedule: Schedule | None = None
        if name is not None:
            component = LR_SCHEDULES.resolve(name)
            params = dict(params or {})
            owner = f"lr_schedule {component.name!r}"
            check_keywords(
                component.factory, params, f"{owner} (lr_schedule_params)", reserved=_CONTEXT
            )
            check_value_types(component.factory, params, "lr_schedule_params", owner)
            self._schedule = component.factory(
                **params, steps_per_epoch=steps_per_epoch, total_steps=total_steps
            )
        self.rebind(optimizer)
        if self._schedule is not None:  # at the start only: unfreezing may lower the rates
            self._schedule.check_initial_rate(self._eta0)

    def rebind(self, optimizer: torch.optim.Optimizer) -> None:
        """Drive ``optimizer`` from now on, keeping the step count and schedule state.

        Parameters
        ----------
        optimizer : torch.optim.Optimizer
            The new optimizer (for example rebuilt after unfreezing layers). Each
            param group's ``initial_lr`` (set to its ``lr`` when absent) is its
            ``eta0``; the rate for the current step is set at once.
        """
        self.optimizer = optimizer
        groups = optimizer.param_groups  # "initial_lr" travels with its state_dict (torch's way)
        base = [group.setdefault("initial_lr", group["lr"]) for group in groups]
        self._eta0 = base[0]
        self._ratios = [lr / self._eta0 if self._eta0 else 1.0 for lr in base]
        self._momentum_groups = [i for i, group in enumerate(groups)
                                 if "betas" in group or group.get("momentum", 0) > 0]
        self._apply()

    def _apply(self) -> None:
        """Write the rate (and momentum) for step ``step_count`` into the optimizer."""
        if self._schedule is None:
            return
        groups = self.optimizer.param_groups  # looked up each time: load_state_dict replaces it
        rate = self._schedule.rate(self.step_count, self._eta0)
        for group, ratio in zip(groups, self._ratios, strict=True):
            group["lr"] = rate * ratio
        momentum = self._schedule.momentum(self.step_count)
        if momentum is not None:
            for index in self._momentum_groups:
                group = groups[index]
                if "betas" in group:
                    group["betas"] = (momentum, group["betas"][1])
                else:
                    group["momentum"] = momentum

    @property
    def needs_validation_loss(self) -> bool:
        """Whether the schedule only acts on a validation loss (estimators then require one)."""
        return self._schedule is not None and self._schedule.needs_validation_loss

    def step(self) -> None:
        """Count one optimizer step and set the rate for the next one."""
        self.step_count += 1
        self._apply()

    def epoch_end(self, val_loss: float | None) -> None:
        """Report the end of an epoch (the performance schedule reacts to it).

        Parameters
        ----------
        val_loss : float or None
            The epoch's validation loss; None when there is no validation data,
            which leaves the schedule unchanged.
        """
        if self._schedule is not None:
            self._schedule.epoch_end(val_loss)
            self._apply()

    @property
    def learning_rate(self) -> float:
        """The learning rate the next optimizer step will use (first param group)."""
        return float(self.optimizer.param_groups[0]["lr"])

    def state_dict(self) -> dict[str, Any]:
        """Return the step count, the planned run's length and the schedule's state.

        Returns
        -------
        dict
            ``{"step_count": int, "total_steps": int, "schedule": dict}`` of plain
            (JSON-friendly) values.
        """
        state = {} if self._schedule is None else self._schedule.state_dict()
        return {"step_count": self.step_count, "total_steps": self.total_steps, "schedule": state}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore the step count and state, and set the rate for that step.

        Parameters
        ----------
        state : mapping
            What :meth:`state_dict` returned.
        """
        self.step_count = int(state["step_count"])
        if self._schedule is not None and state.get("schedule"):
            self._schedule.load_state_dict(state["schedule"])
        self._apply()
