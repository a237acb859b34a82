"""Dropout layers: standard dropout, and alpha dropout for self-normalizing nets.

Standard dropout zeroes each input with probability ``rate`` during training and
scales the survivors by ``1 / (1 - rate)``, so the expected value is unchanged.
Alpha dropout instead sets dropped inputs to SELU's negative saturation value and
applies an affine correction, keeping the mean and variance of standardized
inputs: it preserves the self-normalization of a SELU network, which standard
dropout would break. Both are the identity in evaluation mode.
"""

from __future__ import annotations

from torch import nn

from skdnn.components._registry import Registry
from skdnn.components.activations import ACTIVATIONS


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
DROPOUT_TYPES.add("standard", _standard, "zero inputs with probability rate, scale by 1/(1-rate)")
DROPOUT_TYPES.add("alpha", _alpha, "alpha dropout: keeps mean and variance (use with SELU)")
DROPOUT_TYPES.add("auto", _auto, "alpha dropout when the activation is selu, else standard")


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
