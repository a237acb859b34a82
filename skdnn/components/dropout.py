"""Dropout layers: standard dropout, and alpha dropout for self-normalizing nets.

Standard dropout zeroes each input with probability ``rate`` during training and
scales the survivors by ``1 / (1 - rate)``, so the expected value is unchanged.
Alpha dropout instead sets dropped inputs to SELU's negative saturation value and
applies an affine correction, keeping the mean and variance of standardized
inputs: it preserves the self-normalization of a SELU network, which standard
dropout would break. Both are the identity in evaluation mode.

Each entry of :data:`DROPOUT_TYPES` also names the torch class it builds, which
is what Monte-Carlo dropout switches on and what a saved file records: adding a
dropout type is adding one entry here.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from skdnn._utils.module_spec import register_layer
from skdnn.components._registry import Component, Registry
from skdnn.components.activations import ACTIVATIONS


@dataclass(frozen=True)
class DropoutComponent(Component):
    """A registered dropout type and the torch class it builds (None: it picks one).

    Parameters
    ----------
    name, factory, description, defaults : str, callable, str, mapping
        As in :class:`~skdnn.components._registry.Component`.
    module_type : type or None, default=None
        The torch class built, rebuilt from a file as ``module_type(p=rate)``;
        None for a type that chooses between the others (``"auto"``).
    """

    module_type: type[nn.Module] | None = None


def _standard(rate: float) -> nn.Module:
    """Inverted dropout."""
    return nn.Dropout(p=rate)


def _alpha(rate: float) -> nn.Module:
    """Alpha dropout (keeps mean 0 and variance 1)."""
    return nn.AlphaDropout(p=rate)


def _auto(rate: float, activation: str = "relu") -> nn.Module:
    """Alpha dropout for SELU, standard dropout otherwise."""
    return DROPOUT_TYPES.build(resolve_dropout_type("auto", activation), rate=rate)


DROPOUT_TYPES = Registry("dropout_type")
DROPOUT_TYPES.register(DropoutComponent(
    "standard", _standard, "zero inputs with probability rate, scale by 1/(1-rate)",
    module_type=nn.Dropout,
))
DROPOUT_TYPES.register(DropoutComponent(
    "alpha", _alpha, "alpha dropout: keeps mean and variance (use with SELU)",
    module_type=nn.AlphaDropout,
))
DROPOUT_TYPES.register(DropoutComponent(
    "auto", _auto, "alpha dropout when the activation is selu, else standard"
))

for _component in (DROPOUT_TYPES.resolve(name) for name in DROPOUT_TYPES.names()):
    if _component.module_type is not None:  # saved files rebuild it as module_type(p=rate)
        register_layer(_component.module_type, lambda m: {"p": m.p})


def dropout_module_types() -> tuple[type[nn.Module], ...]:
    """The torch classes of the registered dropout types.

    Returns
    -------
    tuple of type
        ``(torch.nn.Dropout, torch.nn.AlphaDropout)`` and any type added since.
    """
    components = (DROPOUT_TYPES.resolve(name) for name in DROPOUT_TYPES.names(aliases=False))
    return tuple(c.module_type for c in components if c.module_type is not None)


def resolve_dropout_type(dropout_type: str, activation: str) -> str:
    """Return the canonical dropout type, choosing one for ``"auto"``.

    Parameters
    ----------
    dropout_type : str
        ``"standard"``, ``"alpha"`` or ``"auto"``.
    activation : str
        The network's activation (a name or alias in ``ACTIVATIONS``); only used
        when ``dropout_type`` is ``"auto"``.

    Returns
    -------
    str
        ``"standard"`` or ``"alpha"``: for ``"auto"``, ``"alpha"`` if the
        activation is SELU, else ``"standard"``.

    Raises
    ------
    UnknownComponentError
        If ``dropout_type`` (or, for ``"auto"``, ``activation``) is unknown.
    """
    canonical = DROPOUT_TYPES.canonical(dropout_type)
    if canonical != "auto":
        return canonical
    return "alpha" if ACTIVATIONS.canonical(activation) == "selu" else "standard"


def make_dropout(dropout_type: str, rate: float, *, activation: str = "relu") -> nn.Module:
    """Build a dropout layer.

    Parameters
    ----------
    dropout_type : str
        ``"standard"``, ``"alpha"`` or ``"auto"``.
    rate : float
        Probability of dropping each input, in [0, 1).
    activation : str, default='relu'
        The network's activation, used to resolve ``"auto"``.

    Returns
    -------
    torch.nn.Module
        ``torch.nn.Dropout`` or ``torch.nn.AlphaDropout``.

    Raises
    ------
    ValueError
        For an unknown type (:class:`~skdnn.exceptions.UnknownComponentError`) or a
        rate outside [0, 1).
    """
    if not 0.0 <= rate < 1.0:
        raise ValueError(f"Dropout rate must be in [0, 1); got {rate!r}.")
    return DROPOUT_TYPES.build(resolve_dropout_type(dropout_type, activation), rate=rate)
