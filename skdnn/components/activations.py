"""Hidden-layer activations, from ReLU and its leaky variants to SELU and Mish.

Defaults of ``activation_params``:

- ``leaky_relu``: ``alpha=0.01``, the slope the chapter calls typical (Keras uses
  0.3; the chapter reports that 0.2 often works better: pass it explicitly);
- ``elu``: ``alpha=1.0``;
- ``rrelu``: ``lower=1/8``, ``upper=1/3`` (PyTorch's defaults); the slope is drawn
  from ``U(lower, upper)`` in training and fixed to ``(lower + upper) / 2`` in
  evaluation;
- ``prelu``: ``init=0.25``; one learned slope per unit, as Keras' ``PReLU``.

The other activations take no parameters.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from torch import nn

from skdnn.components._registry import Registry, accepted_keywords, check_keywords

#: Keyword arguments that :func:`make_activation` sets itself.
_CONTEXT = ("num_features",)


def _without_params(module: type[nn.Module]) -> Callable[[], nn.Module]:
    """A factory that accepts no parameters and builds ``module()``."""

    def factory() -> nn.Module:
        return module()

    return factory


def _leaky_relu(alpha: float = 0.01) -> nn.Module:
    """``max(alpha * z, z)``."""
    return nn.LeakyReLU(negative_slope=alpha)


def _rrelu(lower: float = 1 / 8, upper: float = 1 / 3) -> nn.Module:
    """Leaky ReLU with a random slope in training, the mean slope in evaluation."""
    if not 0.0 <= lower <= upper:
        raise ValueError(
            f"rrelu needs 0 <= 'lower' <= 'upper'; got lower={lower!r}, upper={upper!r}."
        )
    return nn.RReLU(lower=lower, upper=upper)


def _prelu(init: float = 0.25, *, num_features: int = 1) -> nn.Module:
    """Leaky ReLU with one learned slope per unit, starting at ``init``."""
    return nn.PReLU(num_parameters=num_features, init=init)


def _elu(alpha: float = 1.0) -> nn.Module:
    """``z`` if ``z > 0`` else ``alpha * (exp(z) - 1)``."""
    return nn.ELU(alpha=alpha)


ACTIVATIONS = Registry("activation")
ACTIVATIONS.add("relu", _without_params(nn.ReLU), "max(0, z)")
ACTIVATIONS.add("leaky_relu", _leaky_relu, "max(alpha * z, z); param alpha (0.01)")
ACTIVATIONS.add(
    "rrelu", _rrelu, "leaky ReLU, slope ~ U(lower, upper) in training, mean slope in evaluation"
)
ACTIVATIONS.add("prelu", _prelu, "leaky ReLU with a learned slope per unit; param init (0.25)")
ACTIVATIONS.add("elu", _elu, "z if z > 0 else alpha * (exp(z) - 1); param alpha (1.0)")
ACTIVATIONS.add("selu", _without_params(nn.SELU), "scaled ELU: self-normalizing with LeCun init")
ACTIVATIONS.add("tanh", _without_params(nn.Tanh), "hyperbolic tangent")
ACTIVATIONS.add("logistic", _without_params(nn.Sigmoid), "1 / (1 + exp(-z))", aliases=("sigmoid",))
ACTIVATIONS.add("softplus", _without_params(nn.Softplus), "log(1 + exp(z))")
ACTIVATIONS.add("gelu", _without_params(nn.GELU), "z * Phi(z), Phi the standard normal CDF")
ACTIVATIONS.add("silu", _without_params(nn.SiLU), "z * sigmoid(z)", aliases=("swish",))
ACTIVATIONS.add("mish", _without_params(nn.Mish), "z * tanh(softplus(z))")
ACTIVATIONS.add("identity", _without_params(nn.Identity), "z (no activation)")


def make_activation(
    name: str, params: Mapping[str, Any] | None = None, *, num_features: int = 1
) -> nn.Module:
    """Build the activation module called ``name``.

    Parameters
    ----------
    name : str
        A name or alias in :data:`ACTIVATIONS`.
    params : mapping or None, default=None
        Keyword arguments of the activation: ``alpha`` (``leaky_relu``, ``elu``),
        ``lower`` and ``upper`` (``rrelu``), ``init`` (``prelu``).
    num_features : int, default=1
        Width of the layer; ``prelu`` learns one slope per unit.

    Returns
    -------
    torch.nn.Module
        A fresh module.

    Raises
    ------
    ValueError
        For an unknown name (:class:`~skdnn.exceptions.UnknownComponentError`), a
        parameter the activation does not accept, or an invalid value.
    """
    component = ACTIVATIONS.resolve(name)
    check_keywords(
        component.factory, params or {}, f"activation {component.name!r}", reserved=_CONTEXT
    )
    accepted = accepted_keywords(component.factory) or []
    context = {"num_features": num_features} if "num_features" in accepted else {}
    return ACTIVATIONS.build(component.name, params, **context)
