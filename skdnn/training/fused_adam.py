"""The fused Adam/AdamW kernel called directly, without ``Optimizer.step``'s per-step Python.

:func:`optimizer_update` returns a callable doing ``optimizer.step()``. For a
fused Adam or AdamW it calls ``torch._fused_adam_``/``torch._fused_adamw_``
itself, with the arguments ``Adam.step`` would pass (same kernel, same result),
reading the optimizer's hook dictionaries and ``decoupled_weight_decay`` group
key: private torch API. The path checks itself once per process against
``optimizer.step()`` on a tiny problem (:mod:`~skdnn.training.fast_paths`) and
falls back to ``optimizer.step()`` for good, with one warning, if that check or
a later call fails.

Plain torch; no scikit-learn.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch.optim import optimizer as _optimizer_module

from skdnn.training import fast_paths

FAST_PATH = "fused_adam"

_FUSED_ADAM = getattr(torch, "_fused_adam_", None)
_FUSED_ADAMW = getattr(torch, "_fused_adamw_", None)


def optimizer_update(optimizer: torch.optim.Optimizer) -> Callable[[], None]:
    """A callable doing ``optimizer.step()``, by the shortest path that gives the same result.

    For a fused Adam or AdamW (no hooks, no AMSGrad, no capturable or
    differentiable mode, float betas) the fused kernel is called directly, as
    ``Adam.step`` would call it, once the optimizer's state exists; whenever a
    parameter lacks a gradient or state, ``optimizer.step()`` runs instead.
    So it does when the self-check of this fast path failed, fast paths are
    switched off (:mod:`~skdnn.training.fast_paths`), or a direct call raises.
    """
    if (
        type(optimizer) not in (torch.optim.Adam, torch.optim.AdamW)
        or _FUSED_ADAM is None
        or _FUSED_ADAMW is None
        or optimizer._optimizer_step_pre_hooks
        or optimizer._optimizer_step_post_hooks
        or _optimizer_module._global_optimizer_pre_hooks
        or _optimizer_module._global_optimizer_post_hooks
        or getattr(optimizer, "grad_scale", None) is not None
        or getattr(optimizer, "found_inf", None) is not None
        or not all(_direct_group(group) for group in optimizer.param_groups)
        or not fast_paths.enabled(FAST_PATH)
    ):
        return optimizer.step
    return _DirectFusedAdam(optimizer)


def _direct_group(group: dict) -> bool:
    return (
        bool(group.get("fused"))
        and not (group["amsgrad"] or group["capturable"] or group["differentiable"])
        and all(isinstance(beta, float) for beta in group["betas"])
    )


class _DirectFusedAdam:
    """Calls ``torch._fused_adam(w)_`` with the arguments ``Adam.step`` would pass it."""

    def __init__(self, optimizer: torch.optim.Optimizer, *, fall_back: bool = True) -> None:
        self.optimizer = optimizer
        # On an error of the direct call: switch the path off and step (True), or raise.
        self.fall_back = fall_back
        # None: not prepared yet; False: use optimizer.step() for good.
        self.groups: list | bool | None = None

    def _prepare(self) -> list | bool:
        prepared = []
        for group in self.optimizer.param_groups:
            params = group["params"]
            states = [self.optimizer.state.get(p) for p in params]
            if not params or any(not s or "exp_avg" not in s for s in states):
                return False
            if len({(p.device, p.dtype) for p in params}) != 1:
                return False
            kernel = _FUSED_ADAMW if group["decoupled_weight_decay"] else _FUSED_ADAM
            # The step counts become views of one tensor: one add per step instead of
            # a foreach add over 0-d tensors (~9 us on CPU). Same values, same dtype.
            counts = torch.stack([s["step"] for s in states])
            for state, count in zip(states, counts.unbind(), strict=True):
                state["step"] = count
            prepared.append(
                (
                    group,
                    kernel,
                    params,
                    [s["exp_avg"] for s in states],
                    [s["exp_avg_sq"] for s in states],
                    [s["step"] for s in states],
                    counts,
                )
            )
        return prepared

    def __call__(self) -> None:
        groups = self.groups
        if not groups:
            self.optimizer.step()  # the first call creates the state
            if groups is None:
                self.groups = self._prepare()
            return
        grads_by_group = []
        for _, _, params, *_ in groups:
            grads = [p.grad for p in params]
            if any(g is None for g in grads):
                self.optimizer.step()
                self.groups = False
                return
            grads_by_group.append(grads)
        for index, (prepared, grads) in enumerate(zip(groups, grads_by_group, strict=True)):
            try:
                _fused_step(*prepared, grads)
            except (RuntimeError, TypeError, AttributeError, KeyError) as error:
                if index or not self.fall_back:  # all groups share one kernel: the first fails
                    raise
                # A changed private signature fails before the kernel writes anything.
                fast_paths.disable(FAST_PATH, error)
                self.groups = False
                self.optimizer.step()
                return


def _fused_step(
    group: dict,
    kernel: Callable[..., None],
    params: list[torch.Tensor],
    exp_avgs: list[torch.Tensor],
    exp_avg_sqs: list[torch.Tensor],
    steps: list[torch.Tensor],
    counts: torch.Tensor,
    grads: list[torch.Tensor],
) -> None:
    """One group's update, as ``Adam.step`` does it (step counts first, then the kernel)."""
    beta1, beta2 = group["betas"]
    counts.add_(1)
    try:
        kernel(
            params,
            grads,
            exp_avgs,
            exp_avg_sqs,
            [],
            steps,
            amsgrad=False,
            lr=group["lr"],
            beta1=beta1,
            beta2=beta2,
            weight_decay=group["weight_decay"],
            eps=group["eps"],
            maximize=group["maximize"],
            grad_scale=None,
            found_inf=None,
        )
    except BaseException:
        counts.sub_(1)
        raise


# --------------------------------------------------------------------------- self-check
def _agrees_with_step() -> bool:
    """Adam and AdamW with weight decay, 3 steps: direct calls against ``optimizer.step()``."""
    for cls in (torch.optim.Adam, torch.optim.AdamW):
        generator = torch.Generator().manual_seed(0)
        start = [torch.randn(4, 3, generator=generator), torch.randn(3, generator=generator)]
        grads = [[torch.randn_like(p) for p in start] for _ in range(3)]
        runs = []
        for direct in (False, True):
            params = [torch.nn.Parameter(p.clone()) for p in start]
            optimizer = cls(params, lr=0.1, weight_decay=0.01, fused=True)
            update = _DirectFusedAdam(optimizer, fall_back=False) if direct else optimizer.step
            for step_grads in grads:
                for param, grad in zip(params, step_grads, strict=True):
                    param.grad = grad.clone()
                update()
            if direct and (not update.groups or optimizer.state[params[0]]["step"].item() != 3):
                return False  # the direct calls did not run
            runs.append([p.detach() for p in params])
        if not all(torch.equal(a, b) for a, b in zip(*runs, strict=True)):
            return False
    return True


fast_paths.register(
    FAST_PATH,
    "Adam/AdamW steps calling torch._fused_adam(w)_ directly",
    _agrees_with_step,
)
