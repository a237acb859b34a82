"""Learning-rate schedules: the formulas and their registry.

Every schedule of :data:`LR_SCHEDULES` is a closed-form function of ``t``, the
number of optimizer steps taken so far (from 0), and of ``eta0``, the optimizer's
initial learning rate; the performance schedule also keeps a small state updated
once per epoch. :class:`~skdnn.components.schedule_adapter.LRScheduleAdapter`
owns ``t`` and sets an optimizer's rate from them.

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

from skdnn.components._registry import Registry


def _check(ok: bool, schedule: str, name: str, value: object, expected: str) -> None:
    if not ok:
        raise ValueError(f"{schedule} schedule: {name} must be {expected}; got {value!r}.")


@dataclass(kw_only=True)
class Schedule:
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
class _Power(Schedule):
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
class _Exponential(Schedule):
    """eta0 * 0.1**(t/s): ten times smaller every ``s`` steps (default 20 epochs)."""

    s: float | None = None

    def __post_init__(self) -> None:
        _check(self.s is None or self.s > 0, "exponential", "s", self.s, "> 0")
        self.s = 20 * self.steps_per_epoch if self.s is None else self.s

    def rate(self, t: int, eta0: float) -> float:
        return eta0 * 0.1 ** (t / self.s)


@dataclass(kw_only=True)
class _Piecewise(Schedule):
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
class _Performance(Schedule):
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
class _OneCycle(Schedule):
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
class _Cosine(Schedule):
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
