"""Hidden-layer activations, from ReLU and its leaky variants to SELU and Mish.

Each entry of :data:`ACTIVATIONS` is an :class:`ActivationComponent`: besides
the module factory it says everything the rest of skdnn needs to know about the
activation -- the torch class it builds and how to rebuild one from a saved
file, the initializer ``kernel_initializer="auto"`` picks for it, how the
hand-written training step runs it (an in-place forward and a backward from
the output), and what an unhealthy unit is (dead or saturated). Adding an
activation is adding one entry here.

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

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from skdnn._utils.module_spec import register_layer
from skdnn.components._param_types import check_value_types
from skdnn.components._registry import Component, Registry, accepted_keywords, check_keywords

#: Keyword arguments that :func:`make_activation` sets itself.
_CONTEXT = ("num_features",)

#: ``forward(z, module)``: the activation applied in place to ``z``.
FastForward = Callable[[torch.Tensor, nn.Module], torch.Tensor]
#: ``backward(grad, output, module)``: the gradient at the input, from the output.
FastBackward = Callable[[torch.Tensor, torch.Tensor, nn.Module], torch.Tensor]
#: ``health(output)``: share of unhealthy units (0-d tensor) on probe rows.
HealthProbe = Callable[[torch.Tensor], torch.Tensor]


def _no_args(module: nn.Module) -> dict[str, Any]:
    return {}


def _always(module: nn.Module) -> bool:
    return True


@dataclass(frozen=True)
class ActivationComponent(Component):
    """A registered activation and what skdnn needs of it beyond building it.

    Parameters
    ----------
    name, factory, description, defaults : str, callable, str, mapping
        As in :class:`~skdnn.components._registry.Component`.
    module_type : type, default=torch.nn.Identity
        The torch class the factory builds; its ``__name__`` is the
        serialization name in saved files.
    constructor_args : callable, default=no arguments
        ``constructor_args(module) -> dict`` rebuilding ``module`` as
        ``module_type(**args)`` (what a saved file stores).
    initializer : str, default="glorot_uniform"
        The kernel initializer ``kernel_initializer="auto"`` picks (Table 11-1).
    fast_forward, fast_backward : callable or None, default=None
        In-place forward and backward-from-the-output of the hand-written
        training step; None keeps networks with this activation on autograd.
    fast_applies : callable, default=always
        ``fast_applies(module)``: whether the two functions are right for this
        instance (a leaky ReLU with a negative slope is not invertible by sign).
    health : callable or None, default=None
        ``health(output)``: the unhealthy share of this layer's outputs on probe
        rows (dead units for ReLU, saturated outputs for logistic and tanh);
        None reports 0.0.
    """

    module_type: type[nn.Module] = nn.Identity
    constructor_args: Callable[[nn.Module], dict[str, Any]] = _no_args
    initializer: str = "glorot_uniform"
    fast_forward: FastForward | None = None
    fast_backward: FastBackward | None = None
    fast_applies: Callable[[nn.Module], bool] = _always
    health: HealthProbe | None = None


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


def dead_units(output: torch.Tensor) -> torch.Tensor:
    """Share of units that output 0 (or less) on every probe row."""
    return (output <= 0).all(dim=0).float().mean()


def saturated_outputs(low: float, high: float) -> HealthProbe:
    """A probe of the share of outputs within the saturated ends ``<= low`` or ``>= high``."""

    def probe(output: torch.Tensor) -> torch.Tensor:
        return ((output <= low) | (output >= high)).float().mean()

    return probe


_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946
_aten = torch.ops.aten

ACTIVATIONS = Registry("activation")


def _add(component: ActivationComponent, aliases: tuple[str, ...] = ()) -> None:
    ACTIVATIONS.register(component, aliases=aliases)
    register_layer(component.module_type, component.constructor_args)  # saved files


# fmt: off
_add(ActivationComponent(
    "relu", _without_params(nn.ReLU), "max(0, z)", module_type=nn.ReLU, initializer="he_normal",
    fast_forward=lambda z, _: torch.relu_(z),
    fast_backward=lambda g, out, _: _aten.threshold_backward(g, out, 0.0),
    health=dead_units,
))
_add(ActivationComponent(
    "leaky_relu", _leaky_relu, "max(alpha * z, z); param alpha (0.01)", module_type=nn.LeakyReLU,
    constructor_args=lambda m: {"negative_slope": m.negative_slope}, initializer="he_normal",
    fast_forward=lambda z, m: F.leaky_relu_(z, m.negative_slope),
    fast_backward=lambda g, out, m: _aten.leaky_relu_backward(g, out, m.negative_slope, True),
    fast_applies=lambda m: m.negative_slope >= 0,  # the output's sign is then the input's
))
_add(ActivationComponent(
    "rrelu", _rrelu,
    "leaky ReLU, slope ~ U(lower, upper) in training, mean slope in evaluation",
    module_type=nn.RReLU, constructor_args=lambda m: {"lower": m.lower, "upper": m.upper},
    initializer="he_normal",
))
_add(ActivationComponent(
    "prelu", _prelu, "leaky ReLU with a learned slope per unit; param init (0.25)",
    module_type=nn.PReLU, constructor_args=lambda m: {"num_parameters": m.num_parameters},
    initializer="he_normal",
))
_add(ActivationComponent(
    "elu", _elu, "z if z > 0 else alpha * (exp(z) - 1); param alpha (1.0)", module_type=nn.ELU,
    constructor_args=lambda m: {"alpha": m.alpha}, initializer="he_normal",
    fast_forward=lambda z, m: F.elu_(z, m.alpha),
    fast_backward=lambda g, out, m: _aten.elu_backward(g, m.alpha, 1.0, 1.0, True, out),
    fast_applies=lambda m: m.alpha > 0,
))
_add(ActivationComponent(
    "selu", _without_params(nn.SELU), "scaled ELU: self-normalizing with LeCun init",
    module_type=nn.SELU, initializer="lecun_normal",
    fast_forward=lambda z, _: torch.selu_(z),
    fast_backward=lambda g, out, _: _aten.elu_backward(
        g, _SELU_ALPHA, _SELU_SCALE, 1.0, True, out
    ),
))
_add(ActivationComponent(
    "tanh", _without_params(nn.Tanh), "hyperbolic tangent", module_type=nn.Tanh,
    fast_forward=lambda z, _: z.tanh_(),
    fast_backward=lambda g, out, _: _aten.tanh_backward(g, out),
    health=saturated_outputs(-0.99, 0.99),
))
_add(ActivationComponent(
    "logistic", _without_params(nn.Sigmoid), "1 / (1 + exp(-z))", module_type=nn.Sigmoid,
    fast_forward=lambda z, _: z.sigmoid_(),
    fast_backward=lambda g, out, _: _aten.sigmoid_backward(g, out),
    health=saturated_outputs(0.01, 0.99),
), aliases=("sigmoid",))
_add(ActivationComponent(
    "softplus", _without_params(nn.Softplus), "log(1 + exp(z))", module_type=nn.Softplus,
    constructor_args=lambda m: {"beta": m.beta, "threshold": m.threshold},
))
_add(ActivationComponent(
    "gelu", _without_params(nn.GELU), "z * Phi(z), Phi the standard normal CDF",
    module_type=nn.GELU, constructor_args=lambda m: {"approximate": m.approximate},
    initializer="he_normal",
))
_add(ActivationComponent(
    "silu", _without_params(nn.SiLU), "z * sigmoid(z)", module_type=nn.SiLU,
    initializer="he_normal",
), aliases=("swish",))
_add(ActivationComponent(
    "mish", _without_params(nn.Mish), "z * tanh(softplus(z))", module_type=nn.Mish,
    initializer="he_normal",
))
_add(ActivationComponent(
    "identity", _without_params(nn.Identity), "z (no activation)", module_type=nn.Identity,
))
# fmt: on


@functools.cache
def _by_module_type() -> dict[type[nn.Module], ActivationComponent]:
    components = (ACTIVATIONS.resolve(name) for name in ACTIVATIONS.names(aliases=False))
    return {component.module_type: component for component in components}


def activation_of(module: nn.Module) -> ActivationComponent | None:
    """The registered activation whose torch class is exactly ``type(module)``, or None.

    Parameters
    ----------
    module : torch.nn.Module
        A layer.

    Returns
    -------
    ActivationComponent or None
        Its entry in :data:`ACTIVATIONS`; None for any other layer.
    """
    return _by_module_type().get(type(module))


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
        parameter the activation does not accept, or a value of the wrong kind
        or out of range (each naming ``activation_params`` and the key).
    """
    component = ACTIVATIONS.resolve(name)
    owner = f"activation {component.name!r}"
    check_keywords(
        component.factory, params or {}, f"{owner} (activation_params)", reserved=_CONTEXT
    )
    check_value_types(component.factory, params or {}, "activation_params", owner)
    accepted = accepted_keywords(component.factory) or []
    context = {"num_features": num_features} if "num_features" in accepted else {}
    return ACTIVATIONS.build(component.name, params, **context)
