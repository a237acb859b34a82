"""Kernel initializers: Glorot, He, LeCun, variance scaling, orthogonal, N(0, 1).

Every initializer fills a weight of ``torch.nn.Linear``'s shape ``(fan_out, fan_in)``
in place and draws from the ``torch.Generator`` it is given, so a seeded generator
gives the same weights every time and the global RNG is never touched.

The ``*_normal`` and ``*_uniform`` presets follow Table 11-1 of the chapter: the
variance is ``scale / fan`` with Glorot ``1 / fan_avg``, He ``2 / fan_in`` and
LeCun ``1 / fan_in``; a uniform initializer draws from ``U(-r, r)`` with
``r = sqrt(3 * variance)``, which has the same variance. Unlike Keras, whose
``*_normal`` presets use a truncated normal, the presets here draw from a plain
normal distribution; ``variance_scaling`` offers the truncated one.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from numbers import Real
from typing import Any

import torch

from skdnn.components._param_types import check_value_types
from skdnn.components._registry import Registry, check_keywords, unknown_value_message
from skdnn.components.activations import ACTIVATIONS

#: Signature of a built initializer: fills ``weight`` in place from ``generator``.
Initializer = Callable[[torch.Tensor, torch.Generator | None], None]

FAN_MODES = ("fan_avg", "fan_in", "fan_out")
DISTRIBUTIONS = ("normal", "truncated_normal", "uniform")

#: Standard deviation of a standard normal truncated to [-2, 2]: dividing the
#: requested standard deviation by it makes the truncated draw have the requested
#: variance (the same constant as Keras' ``VarianceScaling``).
TRUNCATED_NORMAL_STD = 0.87962566103423978

#: What ``"auto"`` picks for each activation (Table 11-1), as each activation's
#: entry says: Glorot for the saturating and linear activations, He for the ReLU
#: family and its smooth relatives, LeCun normal for SELU (required for
#: self-normalization).
AUTO_INITIALIZERS: dict[str, str] = {
    name: ACTIVATIONS.resolve(name).initializer for name in ACTIVATIONS.names(aliases=False)
}


def _fans(weight: torch.Tensor) -> tuple[int, int]:
    """Return ``(fan_in, fan_out)`` of a weight shaped ``(fan_out, fan_in, *receptive)``."""
    if weight.dim() < 2:
        raise ValueError(
            f"A kernel needs at least 2 dimensions (fan_out, fan_in); got {tuple(weight.shape)}."
        )
    receptive = math.prod(weight.shape[2:])
    return weight.shape[1] * receptive, weight.shape[0] * receptive


@dataclass(frozen=True)
class VarianceScaling:
    """Draw weights with variance ``scale / fan``.

    Parameters
    ----------
    scale : float, default=1.0
        Positive scaling factor of the variance.
    mode : {'fan_in', 'fan_out', 'fan_avg'}, default='fan_in'
        Which fan divides ``scale``; ``fan_avg`` is ``(fan_in + fan_out) / 2``.
    distribution : {'truncated_normal', 'normal', 'uniform'}, default='truncated_normal'
        ``truncated_normal`` cuts a normal at two standard deviations and widens it
        so that the variance is still ``scale / fan``; ``uniform`` draws from
        ``U(-r, r)`` with ``r = sqrt(3 * scale / fan)``.
    """

    scale: float = 1.0
    mode: str = "fan_in"
    distribution: str = "truncated_normal"

    def __post_init__(self) -> None:
        if not (isinstance(self.scale, Real) and self.scale > 0):
            raise ValueError(f"variance_scaling 'scale' must be a float > 0; got {self.scale!r}.")
        if self.mode not in FAN_MODES:
            raise ValueError(unknown_value_message("variance_scaling 'mode'", self.mode, FAN_MODES))
        if self.distribution not in DISTRIBUTIONS:
            raise ValueError(
                unknown_value_message(
                    "variance_scaling 'distribution'", self.distribution, DISTRIBUTIONS
                )
            )

    def __call__(self, weight: torch.Tensor, generator: torch.Generator | None = None) -> None:
        """Fill ``weight`` in place."""
        fan_in, fan_out = _fans(weight)
        fan = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2}
        variance = self.scale / fan[self.mode]
        if self.distribution == "uniform":
            limit = math.sqrt(3.0 * variance)
            torch.nn.init.uniform_(weight, -limit, limit, generator=generator)
        elif self.distribution == "normal":
            torch.nn.init.normal_(weight, 0.0, math.sqrt(variance), generator=generator)
        else:
            std = math.sqrt(variance) / TRUNCATED_NORMAL_STD
            torch.nn.init.trunc_normal_(weight, 0.0, std, -2 * std, 2 * std, generator=generator)


@dataclass(frozen=True)
class Orthogonal:
    """A (semi-)orthogonal matrix times ``gain`` (Saxe et al., 2014).

    Parameters
    ----------
    gain : float, default=1.0
        Multiplier of the orthogonal matrix.
    """

    gain: float = 1.0

    def __call__(self, weight: torch.Tensor, generator: torch.Generator | None = None) -> None:
        """Fill ``weight`` in place."""
        torch.nn.init.orthogonal_(weight, gain=self.gain, generator=generator)


@dataclass(frozen=True)
class RandomNormal:
    """Plain normal draws, by default N(0, 1): the pre-2010 baseline.

    Parameters
    ----------
    mean : float, default=0.0
        Mean of the normal distribution.
    stddev : float, default=1.0
        Positive standard deviation of the normal distribution.
    """

    mean: float = 0.0
    stddev: float = 1.0

    def __post_init__(self) -> None:
        if not (isinstance(self.stddev, Real) and self.stddev > 0):
            raise ValueError(f"random_normal 'stddev' must be a float > 0; got {self.stddev!r}.")

    def __call__(self, weight: torch.Tensor, generator: torch.Generator | None = None) -> None:
        """Fill ``weight`` in place."""
        torch.nn.init.normal_(weight, self.mean, self.stddev, generator=generator)


def _preset(scale: float, mode: str, distribution: str) -> Callable[[], VarianceScaling]:
    """A factory without parameters for one fixed :class:`VarianceScaling`."""

    def factory() -> VarianceScaling:
        return VarianceScaling(scale, mode, distribution)

    return factory


def _auto(activation: str = "relu") -> Initializer:
    """The Table 11-1 initializer for ``activation``."""
    return INITIALIZERS.build(resolve_initializer("auto", activation))


INITIALIZERS = Registry("kernel_initializer")
INITIALIZERS.add("auto", _auto, "Table 11-1: Glorot, He or LeCun depending on the activation")
INITIALIZERS.add(
    "glorot_uniform",
    _preset(1.0, "fan_avg", "uniform"),
    "Glorot/Xavier: U(-r, r), variance 1 / fan_avg",
    aliases=("xavier_uniform",),
)
INITIALIZERS.add(
    "glorot_normal",
    _preset(1.0, "fan_avg", "normal"),
    "Glorot/Xavier: normal, variance 1 / fan_avg",
    aliases=("xavier_normal",),
)
INITIALIZERS.add(
    "he_uniform", _preset(2.0, "fan_in", "uniform"), "He: U(-r, r), variance 2 / fan_in"
)
INITIALIZERS.add("he_normal", _preset(2.0, "fan_in", "normal"), "He: normal, variance 2 / fan_in")
INITIALIZERS.add(
    "lecun_uniform", _preset(1.0, "fan_in", "uniform"), "LeCun: U(-r, r), variance 1 / fan_in"
)
INITIALIZERS.add(
    "lecun_normal", _preset(1.0, "fan_in", "normal"), "LeCun: normal, variance 1 / fan_in"
)
INITIALIZERS.add(
    "variance_scaling", VarianceScaling, "variance scale / fan; params scale, mode, distribution"
)
INITIALIZERS.add("orthogonal", Orthogonal, "a (semi-)orthogonal matrix times gain")
INITIALIZERS.add("random_normal", RandomNormal, "N(0, 1) by default: the pre-2010 baseline")


def resolve_initializer(name: str, activation: str) -> str:
    """Return the canonical initializer name, choosing one for ``"auto"``.

    Parameters
    ----------
    name : str
        A name or alias in :data:`INITIALIZERS`.
    activation : str
        The activation of the layer (a name or alias in ``ACTIVATIONS``); only used
        when ``name`` is ``"auto"``, see :data:`AUTO_INITIALIZERS`.

    Returns
    -------
    str
        A canonical initializer name other than ``"auto"``.

    Raises
    ------
    UnknownComponentError
        If ``name`` (or, for ``"auto"``, ``activation``) is unknown.
    """
    canonical = INITIALIZERS.canonical(name)
    if canonical != "auto":
        return canonical
    return AUTO_INITIALIZERS[ACTIVATIONS.canonical(activation)]


def initialize_kernel(
    weight: torch.Tensor,
    name: str,
    params: Mapping[str, Any] | None = None,
    *,
    activation: str = "relu",
    generator: torch.Generator | None = None,
) -> None:
    """Fill ``weight`` in place with the initializer called ``name``.

    Parameters
    ----------
    weight : torch.Tensor
        Kernel of shape ``(fan_out, fan_in)`` (``torch.nn.Linear.weight``).
    name : str
        A name or alias in :data:`INITIALIZERS`.
    params : mapping or None, default=None
        Keyword arguments of the initializer: ``scale``, ``mode`` and
        ``distribution`` for ``variance_scaling``, ``gain`` for ``orthogonal``,
        ``mean`` and ``stddev`` for ``random_normal``; the presets take none.
    activation : str, default='relu'
        The layer's activation, used to resolve ``"auto"``.
    generator : torch.Generator or None, default=None
        Source of randomness; None uses the global RNG.

    Raises
    ------
    ValueError
        For an unknown name, an unknown parameter or a parameter value of the
        wrong kind or out of range (naming ``initializer_params`` and the key).
    """
    component = INITIALIZERS.resolve(resolve_initializer(name, activation))
    owner = f"kernel_initializer {component.name!r}"
    check_keywords(component.factory, params or {}, f"{owner} (initializer_params)")
    check_value_types(component.factory, params or {}, "initializer_params", owner)
    initializer = INITIALIZERS.build(component.name, params)
    initializer(weight, generator)
