"""Learning-rate schedules behind one adapter that the training loop drives.

Every schedule of :data:`LR_SCHEDULES` is a closed-form function of ``t``, the
number of optimizer steps taken so far (from 0), and of ``eta0``, the optimizer's
initial learning rate; the performance schedule also keeps a small state updated
once per epoch. :class:`LRScheduleAdapter` owns ``t``, so the schedule continues
where it left off after ``state_dict``/``load_state_dict`` or :meth:`rebind`
(Keras' epoch-based callbacks restart at 0 unless told otherwise).

The 1cycle and cosine schedules run over ``total_steps`` steps: the last one,
``t = total_steps - 1``, uses the final rate, which then stays.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any, ClassVar

import torch

from skdnn.components._param_types import check_value_types
from skdnn.components._registry import Registry, check_keywords


def _check(ok: bool, schedule: str, name: str, value: object, expected: str) -> None:
    if not ok:
        raise ValueError(f"{schedule} schedule: {name} must be {expected}; got {value!r}.")


@dataclass(kw_only=True)
class _Schedule:
    """A rate as a function of the step; subclasses override :meth:`rate`."""

    #: Whether :meth:`epoch_end` needs the validation loss to do anything.
    needs_validation_loss: ClassVar[bool] = False

    steps_per_epoch: int
    total_steps: int

    def rate(self, t: int, eta0: float) -> float:
        """Learning rate of step ``t`` for initial rate ``eta0``."""
        raise NotImplementedError

    def check_initial_rate(self, eta0: float) -> None:
        """Raise a ``ValueError`` if the parameters do not fit ``eta0`` (none by default)."""

    def momentum(self, t: int) -> float | None:
        """Momentum for step ``t``, or None to leave the optimizer's untouched."""
        return None

    def epoch_end(self, val_loss: float | None) -> None:
        """Update the state from the epoch's validation loss (stateless by default)."""

    def state_dict(self) -> dict[str, Any]:
        """State that is not a function of the step (none by default)."""
        return {}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned (stateless by default)."""


@dataclass(kw_only=True)
class _Power(_Schedule):
    """eta0 / (1 + t/s)**c; ``s`` defaults to 20 epochs of steps."""

    s: float | None = None
    c: float = 1.0

    def __post_init__(self) -> None:
        _check(self.s is None or self.s > 0, "power", "s", self.s, "> 0")
        _check(self.c > 0, "power", "c", self.c, "> 0")
        self.s = 20 * self.steps_per_epoch if self.s is None else self.s

    def rate(self, t: int, eta0: float) -> float:
        return eta0 / (1 + t / self.s) ** self.c


@dataclass(kw_only=True)
class _Exponential(_Schedule):
    """eta0 * 0.1**(t/s): ten times smaller every ``s`` steps (default 20 epochs)."""

    s: float | None = None

    def __post_init__(self) -> None:
        _check(self.s is None or self.s > 0, "exponential", "s", self.s, "> 0")
        self.s = 20 * self.steps_per_epoch if self.s is None else self.s

    def rate(self, t: int, eta0: float) -> float:
        return eta0 * 0.1 ** (t / self.s)


@dataclass(kw_only=True)
class _Piecewise(_Schedule):
    """``values[i]`` from epoch ``boundaries[i-1]`` (0 for i = 0) until ``boundaries[i]``."""

    boundaries: Sequence[int] | None = None
    values: Sequence[float] | None = None

    def __post_init__(self) -> None:
        if self.boundaries is None or self.values is None:
            raise ValueError(
                "piecewise schedule needs lr_schedule_params 'boundaries' (epochs) and 'values' "
                "(one more rate), e.g. {'boundaries': [5, 15], 'values': [0.01, 0.005, 0.001]}."
            )
        self.boundaries, self.values = list(self.boundaries), list(self.values)
        increasing = all(a < b for a, b in pairwise([0, *self.boundaries]))
        _check(increasing, "piecewise", "boundaries", self.boundaries, "increasing epochs > 0")
        n_values = len(self.boundaries) + 1
        _check(len(self.values) == n_values and all(v > 0 for v in self.values), "piecewise",
               "values", self.values, f"{n_values} rates > 0 (one more than boundaries)")

    def rate(self, t: int, eta0: float) -> float:
        return self.values[bisect.bisect_right(self.boundaries, t // self.steps_per_epoch)]


@dataclass(kw_only=True)
class _Performance(_Schedule):
    """Multiply the rate by ``factor`` after ``patience`` epochs without improvement.

    The loss improves when it drops by more than ``min_delta`` below the best so
    far; the rate never goes below ``min_lr``.
    """

    needs_validation_loss: ClassVar[bool] = True

    factor: float = 0.5
    patience: int = 5
    min_delta: float = 1e-4
    min_lr: float = 0.0
    scale: float = field(default=1.0, init=False)
    best: float = field(default=math.inf, init=False)
    wait: int = field(default=0, init=False)

    def __post_init__(self) -> None:
        _check(0 < self.factor < 1, "performance", "factor", self.factor, "in (0, 1)")
        _check(self.patience >= 1, "performance", "patience", self.patience, "an int >= 1")
        _check(self.min_delta >= 0, "performance", "min_delta", self.min_delta, ">= 0")
        _check(self.min_lr >= 0, "performance", "min_lr", self.min_lr, ">= 0")

    def rate(self, t: int, eta0: float) -> float:
        return max(eta0 * self.scale, self.min_lr)

    def epoch_end(self, val_loss: float | None) -> None:
        if val_loss is None:
            return
        val_loss = float(val_loss)
        if val_loss < self.best - self.min_delta:
            self.best, self.wait = val_loss, 0
            return
        self.wait += 1
        if self.wait >= self.patience:
            self.scale *= self.factor
            self.wait = 0

    def state_dict(self) -> dict[str, Any]:
        return {"scale": self.scale, "best": self.best, "wait": self.wait}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.scale, self.best, self.wait = state["scale"], state["best"], state["wait"]


@dataclass(kw_only=True)
class _OneCycle(_Schedule):
    """Up to ``max_lr``, back to eta0, then down to ``min_lr``; momentum goes inversely.

    ``max_lr`` defaults to ``10 * eta0`` and ``min_lr`` to ``eta0 / 1000``; the
    last ``final_fraction`` of the steps is the final fall.
    """

    max_lr: float | None = None
    min_lr: float | None = None
    final_fraction: float = 0.1
    max_momentum: float = 0.95
    min_momentum: float = 0.85

    def __post_init__(self) -> None:
        _check(self.max_lr is None or self.max_lr > 0, "1cycle", "max_lr", self.max_lr, "> 0")
        _check(self.min_lr is None or self.min_lr >= 0, "1cycle", "min_lr", self.min_lr, ">= 0")
        fraction = self.final_fraction
        _check(0 <= fraction < 1, "1cycle", "final_fraction", fraction, "in [0, 1)")
        momenta = (self.min_momentum, self.max_momentum)
        ok = 0 <= momenta[0] <= momenta[1] < 1
        _check(ok, "1cycle", "(min_momentum, max_momentum)", momenta, "ordered, in [0, 1)")
        self._last = max(self.total_steps - 1, 1)
        self._peak = (1 - fraction) * self._last / 2  # end of the rise, > 0

    def _phase(self, t: int) -> tuple[int, float]:
        """Phase (0 rise, 1 fall, 2 final) of step ``t`` and the fraction of it done."""
        t = min(t, self._last)
        if t <= self._peak:
            return 0, t / self._peak
        if t <= 2 * self._peak:
            return 1, (t - self._peak) / self._peak
        return 2, (t - 2 * self._peak) / (self._last - 2 * self._peak)

    def check_initial_rate(self, eta0: float) -> None:
        """The cycle rises from ``eta0`` to ``max_lr`` and ends below ``eta0``."""
        if self.max_lr is not None:
            _check(self.max_lr > eta0, "1cycle", "max_lr", self.max_lr,
                   f"above the initial learning rate {eta0!r} (the cycle rises to it)")
        if self.min_lr is not None:
            _check(self.min_lr < eta0, "1cycle", "min_lr", self.min_lr,
                   f"below the initial learning rate {eta0!r} (the cycle ends there)")

    def rate(self, t: int, eta0: float) -> float:
        high = 10 * eta0 if self.max_lr is None else self.max_lr
        low = eta0 / 1000 if self.min_lr is None else self.min_lr
        phase, done = self._phase(t)
        start, end = ((eta0, high), (high, eta0), (eta0, low))[phase]
        return start + (end - start) * done

    def momentum(self, t: int) -> float:
        phase, done = self._phase(t)
        high, low = self.max_momentum, self.min_momentum
        start, end = ((high, low), (low, high), (high, high))[phase]
        return start + (end - start) * done


@dataclass(kw_only=True)
class _Cosine(_Schedule):
    """Half a cosine from eta0 down to ``min_lr`` over ``total_steps``."""

    min_lr: float = 0.0

    def __post_init__(self) -> None:
        _check(self.min_lr >= 0, "cosine", "min_lr", self.min_lr, ">= 0")

    def check_initial_rate(self, eta0: float) -> None:
        """The rate decays from ``eta0`` down to ``min_lr``."""
        _check(self.min_lr < eta0, "cosine", "min_lr", self.min_lr,
               f"below the initial learning rate {eta0!r} (the rate decays to it)")

    def rate(self, t: int, eta0: float) -> float:
        last = max(self.total_steps - 1, 1)
        progress = min(t, last) / last
        return self.min_lr + (eta0 - self.min_lr) * (1 + math.cos(math.pi * progress)) / 2


LR_SCHEDULES = Registry("lr_schedule")
for _name, _factory, _description in (
    ("power", _Power, "eta0 / (1 + t/s)**c (params s, c=1)."),
    ("exponential", _Exponential, "eta0 * 0.1**(t/s): ten times smaller every s steps."),
    ("piecewise", _Piecewise, "Constant rates between epoch boundaries (boundaries, values)."),
    ("performance", _Performance, "Times factor when the val loss stalls for patience epochs."),
    ("1cycle", _OneCycle, "Up to max_lr, back to eta0, then to min_lr; momentum inversely."),
    ("cosine", _Cosine, "Cosine decay from eta0 to min_lr over the run."),
):
    LR_SCHEDULES.add(_name, _factory, _description)

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
        self._schedule: _Schedule | None = None
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
