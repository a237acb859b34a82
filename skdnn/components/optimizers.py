"""Optimizers: the chapter's names and Keras-style hyperparameters on top of ``torch.optim``.

Each entry of :data:`OPTIMIZERS` says which ``torch.optim`` class implements it and
which of skdnn's top-level hyperparameters it reads: ``momentum`` (momentum and
Nesterov SGD), ``beta_1``/``beta_2`` (the Adam family's ``betas``), ``rho``
(RMSProp's decay, torch's ``alpha``) and ``epsilon`` (torch's ``eps``). Any other
keyword of the torch class goes through ``optimizer_params``.

PyTorch has no FTRL, so :class:`FTRL` implements FTRL-Proximal here; momentum and
Nesterov run on :class:`~skdnn.components.momentum.MomentumSGD`, which follows the
chapter's form of the update (``torch.optim.SGD``'s differs under a changing rate).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import torch

from skdnn.components._param_types import check_value_types
from skdnn.components._registry import Component, Registry, check_keywords
from skdnn.components.momentum import MomentumSGD

_TORCH_VERSION = tuple(int(part) for part in torch.__version__.split(".")[:2])
#: Devices with fused kernels for Adam, AdamW and SGD (CPU ones since torch 2.4).
_FUSED = frozenset({"cpu", "cuda"} if _TORCH_VERSION >= (2, 4) else {"cuda"})
#: Fused Adagrad is documented for CPU and CUDA, but was CPU-only in some releases.
_FUSED_CPU = _FUSED & {"cpu"}
#: Devices on which the multi-tensor ("foreach") implementation is used otherwise.
_FOREACH_DEVICES = frozenset({"cpu", "cuda"})

#: skdnn's hyperparameter behind each torch keyword that skdnn fills.
_TOP_LEVEL = {
    "lr": "learning_rate",
    "momentum": "momentum (with optimizer='momentum' or 'nesterov')",
    "betas": "beta_1 and beta_2",
    "alpha": "rho",
    "eps": "epsilon",
}
#: skdnn's (Keras') names, which no torch optimizer accepts as keywords.
_TOP_LEVEL_ONLY = frozenset({"learning_rate", "beta_1", "beta_2", "rho", "epsilon"})


def _why_reserved(key: str) -> str:
    """How to set ``key`` instead of passing it in ``optimizer_params``."""
    if key in _TOP_LEVEL_ONLY:
        return "it is a top-level hyperparameter"
    if key in _TOP_LEVEL:
        return f"use the top-level hyperparameter(s) {_TOP_LEVEL[key]} instead"
    if key == "nesterov":
        return "choose optimizer='nesterov' instead"
    return "skdnn picks the fastest implementation for the device"


class FTRL(torch.optim.Optimizer):
    """FTRL-Proximal (McMahan et al., 2013), in TensorFlow's formulation.

    Every coordinate keeps an accumulator ``n`` of squared gradients and a linear
    term ``z``. With ``p = -learning_rate_power`` and gradient ``g``, one step does::

        n_new = n + g**2
        z    += g - (n_new**p - n**p) / lr * w
        w     = (clip(z, -l1, l1) - z) / ((beta + n_new**p) / lr + 2 * l2)

    so every weight whose ``|z|`` stays below ``l1`` is exactly zero: with an l1
    strength the model becomes sparse. A weight that has had only zero gradients
    with ``initial_accumulator_value=0`` (a constant feature, a dead unit) has
    ``n = z = 0``; it is set to 0, as in Algorithm 1 of the paper. As ``z`` sums
    the gradients of all steps, useful l1 strengths are much larger than the
    per-step ``l1`` penalty factor of :class:`~skdnn.components.regularizers.Regularization`.

    Parameters
    ----------
    params : iterable
        Tensors to optimize, or dicts defining parameter groups.
    lr : float, default=1e-3
        Learning rate (alpha in the paper).
    learning_rate_power : float, default=-0.5
        Power (<= 0) of the accumulator in the per-coordinate rate; -0.5 is the
        AdaGrad-like ``lr / sqrt(n)`` of the paper, 0 a constant rate.
    initial_accumulator_value : float, default=0.1
        Starting value (>= 0) of the accumulator ``n``.
    l1_regularization_strength : float, default=0.0
        Strength (>= 0) of the l1 penalty; larger values give sparser weights.
    l2_regularization_strength : float, default=0.0
        Strength (>= 0) of the l2 penalty ``l2 * w**2``.
    beta : float, default=0.0
        Added (>= 0) to ``n**p`` in the denominator, smoothing the first steps.

    Notes
    -----
    A step with learning rate 0 (the last step of a cosine schedule, say)
    leaves the parameters and the accumulators unchanged.
    """

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 1e-3,
        learning_rate_power: float = -0.5,
        initial_accumulator_value: float = 0.1,
        l1_regularization_strength: float = 0.0,
        l2_regularization_strength: float = 0.0,
        beta: float = 0.0,
    ) -> None:
        if not lr > 0:
            raise ValueError(f"FTRL needs lr > 0; got {lr!r}.")
        if not learning_rate_power <= 0:
            raise ValueError(f"FTRL needs learning_rate_power <= 0; got {learning_rate_power!r}.")
        for key, value in (
            ("initial_accumulator_value", initial_accumulator_value),
            ("l1_regularization_strength", l1_regularization_strength),
            ("l2_regularization_strength", l2_regularization_strength),
            ("beta", beta),
        ):
            if not value >= 0:
                raise ValueError(f"FTRL needs {key} >= 0; got {value!r}.")
        defaults = {
            "lr": lr,
            "learning_rate_power": learning_rate_power,
            "initial_accumulator_value": initial_accumulator_value,
            "l1_regularization_strength": l1_regularization_strength,
            "l2_regularization_strength": l2_regularization_strength,
            "beta": beta,
        }
        super().__init__(params, defaults)

    @torch.no_grad()
    def step(self, closure: Callable[[], float] | None = None) -> float | None:
        """Update every parameter that has a gradient.

        Parameters
        ----------
        closure : callable, default=None
            Re-evaluates the model and returns the loss.

        Returns
        -------
        float or None
            The loss returned by ``closure``, if given.
        """
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            lr, power = group["lr"], -group["learning_rate_power"]
            if lr == 0:  # a schedule may end at 0 (cosine): FTRL is undefined there, skip
                continue
            l1, l2 = group["l1_regularization_strength"], group["l2_regularization_strength"]
            # The denominator (beta + n**p) / lr + 2 * l2 can only vanish where n = 0.
            zero_possible = power > 0 and group["beta"] == 0 and l2 == 0
            for param in group["params"]:
                grad = param.grad
                if grad is None:
                    continue
                if grad.is_sparse:
                    raise RuntimeError("FTRL does not support sparse gradients.")
                state = self.state[param]
                if not state:
                    state["accumulator"] = torch.full_like(
                        param, group["initial_accumulator_value"]
                    )
                    state["linear"] = torch.zeros_like(param)
                accumulator, linear = state["accumulator"], state["linear"]
                old_root = accumulator.pow(power)
                accumulator.addcmul_(grad, grad)
                root = accumulator.pow(power)
                # z += g - sigma * w with sigma = (root - old_root) / lr
                linear.add_(grad).addcmul_(old_root.sub_(root), param, value=1.0 / lr)
                quadratic = root.add_(group["beta"]).div_(lr).add_(2.0 * l2)
                weight = linear.clamp(-l1, l1).sub_(linear).div_(quadratic)
                if zero_possible:  # n = 0 means no gradient yet: z = 0 and w = 0 / 0
                    weight.masked_fill_(quadratic == 0, 0.0)
                param.copy_(weight)
        return loss


@dataclass(frozen=True)
class OptimizerComponent(Component):
    """A registered optimizer: a torch class plus what skdnn passes to it.

    Parameters
    ----------
    name, factory, description, defaults : str, type, str, mapping
        As in :class:`~skdnn.components._registry.Component`; ``factory`` is
        the ``torch.optim.Optimizer`` subclass.
    mapped : tuple of str, default=()
        Torch keywords filled from skdnn's hyperparameters (``"momentum"``,
        ``"betas"``, ``"alpha"``, ``"eps"``); ``lr`` is always filled.
    fused : frozenset of str, default=frozenset()
        Device types on which the torch class's fused kernel is used.
    foreach : bool, default=True
        Whether the torch class has a multi-tensor implementation.
    """

    mapped: tuple[str, ...] = ()
    fused: frozenset[str] = frozenset()
    foreach: bool = True

    def reserved(self) -> set[str]:
        """Return the keywords of the torch class that skdnn sets itself.

        Returns
        -------
        set of str
            Keywords users may not pass in ``optimizer_params``.
        """
        implementation = {"fused", "foreach"} if self.fused or self.foreach else set()
        return {"lr", *self.mapped, *self.defaults, *implementation}


OPTIMIZERS = Registry("optimizer")


def _add(
    name: str,
    factory: type,
    description: str,
    defaults: Mapping[str, Any] | None = None,
    **flags: Any,
) -> None:
    OPTIMIZERS.register(OptimizerComponent(name, factory, description, defaults or {}, **flags))


_ADAM_LIKE = ("betas", "eps")
_SGD = torch.optim.SGD
# fmt: off
_add("sgd", _SGD, "Plain stochastic gradient descent.",
     {"momentum": 0.0, "nesterov": False}, fused=_FUSED)
_add("momentum", MomentumSGD, "SGD with momentum (Eq. 11-4).", {"nesterov": False},
     mapped=("momentum",))
_add("nesterov", MomentumSGD, "Nesterov accelerated gradient (Eq. 11-5).", {"nesterov": True},
     mapped=("momentum",))
_add("adagrad", torch.optim.Adagrad, "AdaGrad: rates scaled by the summed squared gradients.",
     mapped=("eps",), fused=_FUSED_CPU)
_add("rmsprop", torch.optim.RMSprop, "RMSProp: rates scaled by a decaying mean of squared "
     "gradients.", mapped=("alpha", "eps"))
_add("adam", torch.optim.Adam, "Adam: momentum plus RMSProp scaling, bias-corrected.",
     mapped=_ADAM_LIKE, fused=_FUSED)
_add("adamax", torch.optim.Adamax, "AdaMax: Adam with the infinity norm.", mapped=_ADAM_LIKE)
_add("nadam", torch.optim.NAdam, "Nadam: Adam with the Nesterov trick.", mapped=_ADAM_LIKE)
_add("adamw", torch.optim.AdamW, "AdamW: Adam with decoupled weight decay.", mapped=_ADAM_LIKE,
     fused=_FUSED)
_add("ftrl", FTRL, "FTRL-Proximal: sparse models with an l1 strength.", foreach=False)
# fmt: on


def _flatten(parameters: Iterable[Any]) -> tuple[list[Any], list[torch.Tensor]]:
    """Materialize ``parameters`` (tensors or group dicts); also return all tensors."""
    items, tensors = [], []
    for item in parameters:
        if isinstance(item, Mapping):
            group = item["params"]
            group = [group] if isinstance(group, torch.Tensor) else list(group)
            items.append({**item, "params": group})
            tensors.extend(group)
        else:
            items.append(item)
            tensors.append(item)
    return items, tensors


def _implementation(
    component: OptimizerComponent, tensors: list[torch.Tensor], device: torch.device | None
) -> dict[str, bool]:
    """``fused=True`` where a fused kernel applies, else ``foreach=True`` where possible."""
    device_types = {device.type} if device is not None else {t.device.type for t in tensors}
    if device_types <= component.fused and all(torch.is_floating_point(t) for t in tensors):
        return {"fused": True}
    if component.foreach and device_types <= _FOREACH_DEVICES:
        return {"foreach": True}
    return {}


def build_optimizer(
    name: str,
    parameters: Iterable[Any],
    *,
    learning_rate: float,
    momentum: float = 0.9,
    beta_1: float = 0.9,
    beta_2: float = 0.999,
    rho: float = 0.9,
    epsilon: float = 1e-7,
    optimizer_params: Mapping[str, Any] | None = None,
    device: torch.device | None = None,
) -> torch.optim.Optimizer:
    """Build the optimizer called ``name`` with skdnn's (Keras-style) hyperparameters.

    Parameters
    ----------
    name : str
        A name of :data:`OPTIMIZERS` (``"sgd"``, ``"momentum"``, ..., ``"ftrl"``).
    parameters : iterable
        Tensors to optimize, or a list of parameter-group dicts.
    learning_rate : float
        Initial learning rate (torch's ``lr``).
    momentum : float, default=0.9
        Momentum of ``"momentum"`` and ``"nesterov"``; ignored by the others.
    beta_1, beta_2 : float, default=0.9, 0.999
        Decay rates of the Adam family (``"adam"``, ``"adamax"``, ``"nadam"``, ``"adamw"``).
    rho : float, default=0.9
        Decay rate of ``"rmsprop"`` (torch's ``alpha``).
    epsilon : float, default=1e-7
        Numerical-stability term of the adaptive optimizers (torch's ``eps``).
    optimizer_params : mapping, default=None
        Any other keyword of the chosen optimizer, e.g. ``weight_decay``,
        ``amsgrad`` or FTRL's ``l1_regularization_strength``.
    device : torch.device, default=None
        Device of the parameters; inferred from them when None. Decides whether
        the fused (else multi-tensor) implementation is used.

    Returns
    -------
    torch.optim.Optimizer
        The optimizer, with a fused kernel where torch has one for the device.

    Raises
    ------
    UnknownComponentError
        If ``name`` is not a registered optimizer.
    ValueError
        If ``optimizer_params`` has a key the optimizer does not accept, or one
        that skdnn sets from a top-level hyperparameter.
    """
    component = OPTIMIZERS.resolve(name)
    extra = dict(optimizer_params or {})
    reserved = component.reserved()
    for key in sorted(extra):
        if key in reserved or key in _TOP_LEVEL_ONLY:
            raise ValueError(
                f"optimizer_params key {key!r} is not accepted for optimizer "
                f"{component.name!r}: {_why_reserved(key)}."
            )
    check_keywords(component.factory, extra, f"optimizer {component.name!r}", reserved=reserved)
    check_value_types(component.factory, extra, "optimizer_params", f"optimizer {component.name!r}")
    items, tensors = _flatten(parameters)
    translated = {"momentum": momentum, "betas": (beta_1, beta_2), "alpha": rho, "eps": epsilon}
    kwargs = {key: translated[key] for key in component.mapped}
    if not extra.get("differentiable"):  # neither fast path supports differentiable=True
        kwargs.update(_implementation(component, tensors, device))
    return component.factory(items, lr=learning_rate, **component.defaults, **kwargs, **extra)
