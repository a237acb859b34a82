"""Momentum and Nesterov optimization in the chapter's form (Eq. 11-4 and 11-5, as in Keras).

The chapter keeps a *velocity* ``m`` that already carries the learning rate::

    m     <- beta * m - eta * grad          (Eq. 11-4)
    theta <- theta + m

``torch.optim.SGD`` keeps instead a buffer of summed gradients, ``b <- beta * b +
grad``, and steps by ``theta <- theta - eta * b``. The two agree while ``eta`` is
constant (``m = -eta * b``) and part as soon as it changes: with the chapter's
form a new rate applies to the new gradient only, with torch's it rescales the
whole accumulated buffer at once. Under a schedule (1cycle, exponential, ...)
the trajectories differ, so skdnn follows the chapter.

Nesterov's method (Eq. 11-5) evaluates the gradient ahead, at ``theta + beta *
m``. As in Keras (and Sutskever et al., 2013), the parameters stored are that
look-ahead point ``phi = theta + beta * m``, so that the gradient of the
network's own weights is the one needed; in these terms one step is::

    m   <- beta * m - eta * grad(phi)
    phi <- phi + beta * m - eta * grad(phi)

which is Eq. 11-5 exactly, for any sequence of rates (with constant ``beta``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import torch


class MomentumSGD(torch.optim.Optimizer):
    """Stochastic gradient descent with momentum (or Nesterov) in the chapter's form.

    Parameters
    ----------
    params : iterable
        Tensors to optimize, or dicts defining parameter groups.
    lr : float, default=1e-2
        Learning rate ``eta`` (> 0).
    momentum : float, default=0.9
        Momentum ``beta``, in [0, 1): the fraction of the velocity kept each step.
    nesterov : bool, default=False
        Use Nesterov's accelerated gradient (Eq. 11-5) instead of plain momentum
        (Eq. 11-4).
    weight_decay : float, default=0.0
        L2 penalty (>= 0) added to the gradient, ``grad + weight_decay * theta``,
        before it enters the velocity: the same coupling as ``torch.optim.SGD``'s.
    maximize : bool, default=False
        Maximize the objective instead of minimizing it.
    foreach : bool or None, default=None
        Use the multi-tensor implementation (one kernel per operation for all
        the tensors of a group) instead of a loop over the tensors. Both give
        the same values. None picks it on CPU and CUDA.

    Notes
    -----
    The velocity of each parameter is ``optimizer.state[param]["velocity"]``.
    The state of a ``torch.optim.SGD`` (a ``"momentum_buffer"`` of summed
    gradients, from a file saved by an earlier skdnn) is converted on loading,
    ``velocity = -lr * buffer``, which continues its trajectory exactly as long
    as the rate is constant.
    """

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 1e-2,
        momentum: float = 0.9,
        nesterov: bool = False,
        weight_decay: float = 0.0,
        maximize: bool = False,
        foreach: bool | None = None,
    ) -> None:
        if not lr > 0:
            raise ValueError(f"Momentum optimization needs lr > 0; got {lr!r}.")
        if not 0 <= momentum < 1:
            raise ValueError(f"Momentum optimization needs momentum in [0, 1); got {momentum!r}.")
        if not weight_decay >= 0:
            raise ValueError(
                f"Momentum optimization needs weight_decay >= 0; got {weight_decay!r}."
            )
        defaults = {
            "lr": lr,
            "momentum": momentum,
            "nesterov": bool(nesterov),
            "weight_decay": weight_decay,
            "maximize": bool(maximize),
            "foreach": foreach,
        }
        super().__init__(params, defaults)

    def __setstate__(self, state: dict[str, Any]) -> None:
        """Restore the optimizer (``load_state_dict`` and unpickling come here).

        Parameters
        ----------
        state : dict
            ``{"state": ..., "param_groups": ...}``; torch SGD momentum buffers
            in it become velocities.
        """
        super().__setstate__(state)
        for group in self.param_groups:
            for param in group["params"]:
                param_state = self.state.get(param)
                if param_state and "momentum_buffer" in param_state:
                    buffer = param_state.pop("momentum_buffer")
                    if buffer is not None and "velocity" not in param_state:
                        param_state["velocity"] = buffer.mul(-group["lr"])

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
            params, grads, velocities = [], [], []
            for param in group["params"]:
                if param.grad is None:
                    continue
                if param.grad.is_sparse:
                    raise RuntimeError("Momentum optimization does not support sparse gradients.")
                state = self.state[param]
                if "velocity" not in state:
                    state["velocity"] = torch.zeros_like(param, memory_format=torch.preserve_format)
                params.append(param)
                grads.append(param.grad)
                velocities.append(state["velocity"])
            if not params:
                continue
            foreach = group["foreach"]
            if foreach is None:
                foreach = all(p.device.type in ("cpu", "cuda") for p in params)
            update = _update_foreach if foreach else _update_each
            update(
                params,
                grads,
                velocities,
                lr=float(group["lr"]),
                momentum=float(group["momentum"]),
                nesterov=group["nesterov"],
                weight_decay=group["weight_decay"],
                maximize=group["maximize"],
            )
        return loss


def _update_each(
    params: list[torch.Tensor],
    grads: list[torch.Tensor],
    velocities: list[torch.Tensor],
    *,
    lr: float,
    momentum: float,
    nesterov: bool,
    weight_decay: float,
    maximize: bool,
) -> None:
    """One step, tensor by tensor (the reference implementation)."""
    for param, grad, velocity in zip(params, grads, velocities, strict=True):
        if maximize:
            grad = -grad
        if weight_decay:
            grad = grad.add(param, alpha=weight_decay)
        velocity.mul_(momentum).add_(grad, alpha=-lr)
        if nesterov:
            param.add_(velocity, alpha=momentum).add_(grad, alpha=-lr)
        else:
            param.add_(velocity)


def _update_foreach(
    params: list[torch.Tensor],
    grads: list[torch.Tensor],
    velocities: list[torch.Tensor],
    *,
    lr: float,
    momentum: float,
    nesterov: bool,
    weight_decay: float,
    maximize: bool,
) -> None:
    """One step with multi-tensor kernels: the same arithmetic as :func:`_update_each`."""
    for group_params, group_grads, group_velocities in _same_device_and_dtype(
        params, grads, velocities
    ):
        if maximize:
            group_grads = torch._foreach_neg(group_grads)
        if weight_decay:
            group_grads = torch._foreach_add(group_grads, group_params, alpha=weight_decay)
        torch._foreach_mul_(group_velocities, momentum)
        torch._foreach_add_(group_velocities, group_grads, alpha=-lr)
        if nesterov:
            torch._foreach_add_(group_params, group_velocities, alpha=momentum)
            torch._foreach_add_(group_params, group_grads, alpha=-lr)
        else:
            torch._foreach_add_(group_params, group_velocities)


def _same_device_and_dtype(
    params: list[torch.Tensor], grads: list[torch.Tensor], velocities: list[torch.Tensor]
) -> list[tuple[list[torch.Tensor], list[torch.Tensor], list[torch.Tensor]]]:
    """Split the lists by (device, dtype): one multi-tensor kernel call takes one of each."""
    buckets: dict[tuple[torch.device, torch.dtype], tuple[list, list, list]] = {}
    for param, grad, velocity in zip(params, grads, velocities, strict=True):
        bucket = buckets.setdefault((param.device, param.dtype), ([], [], []))
        bucket[0].append(param)
        bucket[1].append(grad)
        bucket[2].append(velocity)
    return list(buckets.values())
