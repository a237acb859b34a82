"""Walk a network as the flat chain of layers it runs, when it is one.

The fast training step and the prediction network both replace a module's
``forward`` by their own sequence of kernels, which is only right when the
module is a plain chain of leaf layers that nothing observes. Both ask
:func:`leaf_layers`, so they apply one rule for hooks: any hook, on a module,
a parameter or globally, makes the network opaque.

Plain torch; no scikit-learn.
"""

from __future__ import annotations

from collections.abc import Callable

from torch import nn


def plain_sequential(module: nn.Module) -> bool:
    """Whether ``module`` is exactly an ``nn.Sequential`` (runs its children in order)."""
    return type(module) is nn.Sequential


def leaf_layers(
    module: nn.Module,
    *,
    training: bool | None = None,
    runs_in_order: Callable[[nn.Module], bool] = plain_sequential,
) -> list[nn.Module] | None:
    """The leaf layers of ``module`` in execution order, or None when it is not a plain chain.

    Parameters
    ----------
    module : torch.nn.Module
        The network.
    training : bool or None, default=None
        When given, every module must be in this mode.
    runs_in_order : callable, default=plain_sequential
        Which containers run their children one after the other; any other
        module with children makes the network opaque.

    Returns
    -------
    list of torch.nn.Module or None
        The leaves, or None when a container does something else, a mode
        differs, or any hook is registered.
    """
    if has_global_hooks():
        return None
    leaves: list[nn.Module] = []
    return leaves if _collect(module, leaves, training, runs_in_order) else None


def _collect(
    module: nn.Module,
    leaves: list[nn.Module],
    training: bool | None,
    runs_in_order: Callable[[nn.Module], bool],
) -> bool:
    if (training is not None and module.training != training) or has_hooks(module):
        return False
    if runs_in_order(module):  # an empty container adds nothing
        return all(_collect(child, leaves, training, runs_in_order) for child in module.children())
    if next(module.children(), None) is not None:
        return False
    leaves.append(module)
    return True


_BATCH_NORMS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d, nn.SyncBatchNorm)


def trains_batch_norm(module: nn.Module) -> bool:
    """Whether a batch-norm layer of ``module`` is in training mode (normalizes over the batch).

    Such a layer cannot take a batch of one row (one value per feature has no
    spread), so the training loop never gives it one. Frozen layers, kept in
    eval mode, do not count.
    """
    return any(isinstance(m, _BATCH_NORMS) and m.training for m in module.modules())


def has_hooks(module: nn.Module) -> bool:
    """Whether ``module`` or one of its own parameters has a hook registered."""
    return bool(
        module._forward_hooks
        or module._forward_pre_hooks
        or module._backward_hooks
        or module._backward_pre_hooks
        or any(p._backward_hooks for p in module.parameters(recurse=False))
    )


def has_global_hooks() -> bool:
    """Whether a module hook is registered for every module (``register_module_*_hook``)."""
    hooks = nn.modules.module
    return bool(
        hooks._global_forward_hooks
        or hooks._global_forward_pre_hooks
        or hooks._global_backward_hooks
        or hooks._global_backward_pre_hooks
    )
