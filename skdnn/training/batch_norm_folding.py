"""Batch norm folded into the Linear layers next to it, for prediction.

In evaluation mode a batch-norm layer is a fixed affine map per feature,
``y = (x - mean) / sqrt(var + eps) * gamma + beta``, and dropout is the
identity. Next to a ``Linear`` layer both can disappear:
:func:`fold_batch_norm` multiplies the batch norm into the weights and bias of
the ``Linear`` before it (norm "before" the activation) or after it (norm
"after" the activation, or on the raw inputs), and drops the dropout layers.

Plain torch; no scikit-learn.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from skdnn.components.normalization import KerasBatchNorm1d
from skdnn.training.freezing import FrozenPrefixSequential

#: Batch-norm layers whose evaluation mode is ``BatchNorm1d``'s affine map.
BATCH_NORMS = (nn.BatchNorm1d, KerasBatchNorm1d)
#: Layers that are the identity in evaluation mode.
_EVAL_IDENTITY = (nn.Dropout, nn.AlphaDropout, nn.FeatureAlphaDropout, nn.Identity)


def flat_layers(module: nn.Module) -> list[nn.Module] | None:
    """The leaf layers of ``module`` in execution order, or None when it is not a plain chain.

    A plain chain is an ``nn.Sequential`` whose children are leaf layers or
    plain chains again, without forward hooks. A :class:`FrozenPrefixSequential`
    counts as the chain of all its blocks: its function of the raw inputs, which
    is what it computes at prediction (while training reads a cache it skips
    the frozen blocks).
    """
    leaves: list[nn.Module] = []
    return leaves if collect_chain(module, leaves, []) else None


def _runs_in_order(module: nn.Module) -> bool:
    return type(module).forward is nn.Sequential.forward or isinstance(
        module, FrozenPrefixSequential
    )


def collect_chain(module: nn.Module, leaves: list[nn.Module], containers: list[nn.Module]) -> bool:
    if module._forward_hooks or module._forward_pre_hooks:
        return False
    children = list(module.children())
    if not children:
        leaves.append(module)
        return True
    if not _runs_in_order(module):
        return False
    containers.append(module)
    return all(collect_chain(child, leaves, containers) for child in children)


def fold_batch_norm(module: nn.Module) -> nn.Sequential:
    """A flat evaluation-mode copy of ``module`` with batch norm folded into the Linear layers.

    Every ``BatchNorm1d`` with running statistics that sits right after a
    ``Linear`` (dropout between them does not count: it is the identity at
    inference) is folded into that layer; one that sits right before a
    ``Linear`` (on the inputs, or after an activation) is folded into the next
    one. Dropout and identity layers are dropped. Other layers are copied.

    Parameters
    ----------
    module : torch.nn.Module
        A trained network: an ``nn.Sequential`` of layers or of blocks of
        layers (see :func:`flat_layers`). It is not modified.

    Returns
    -------
    torch.nn.Sequential
        A new network in evaluation mode that computes the outputs of
        ``module.eval()`` up to float rounding (folding runs in float64).

    Raises
    ------
    ValueError
        If ``module`` is not a plain chain of layers.
    """
    leaves = flat_layers(module)
    if leaves is None:
        raise ValueError(
            f"Cannot fold {type(module).__name__}: only chains of nn.Sequential containers "
            "without forward hooks are supported."
        )
    layers = [copy.deepcopy(leaf) for leaf in leaves if not is_eval_identity(leaf)]
    index = 0
    while index < len(layers):
        layer = layers[index]
        if not foldable(layer):
            index += 1
            continue
        scale, shift = _affine(layer)
        if index > 0 and type(layers[index - 1]) is nn.Linear:
            _fold_after(layers[index - 1], scale, shift)
        elif index + 1 < len(layers) and type(layers[index + 1]) is nn.Linear:
            _fold_before(layers[index + 1], scale, shift)
        else:
            index += 1
            continue
        del layers[index]
    return nn.Sequential(*layers).eval().requires_grad_(False)


def foldable(layer: nn.Module) -> bool:
    return (
        type(layer) in BATCH_NORMS
        and layer.track_running_stats
        and layer.running_mean is not None
        and layer.running_var is not None
    )


def _affine(norm: nn.BatchNorm1d) -> tuple[torch.Tensor, torch.Tensor]:
    """``scale, shift`` (float64) with ``norm(x) == x * scale + shift`` in eval mode."""
    var = norm.running_var.detach().double()
    mean = norm.running_mean.detach().double()
    scale = torch.rsqrt(var + norm.eps)
    if norm.weight is not None:
        scale = scale * norm.weight.detach().double()
    shift = -mean * scale
    if norm.bias is not None:
        shift = shift + norm.bias.detach().double()
    return scale, shift


@torch.no_grad()
def _fold_after(linear: nn.Linear, scale: torch.Tensor, shift: torch.Tensor) -> None:
    """``norm(linear(x))`` as one Linear: scale the rows, shift the bias."""
    weight = linear.weight.detach().double()
    bias = torch.zeros_like(scale) if linear.bias is None else linear.bias.detach().double()
    _set(linear, weight * scale[:, None], bias * scale + shift)


@torch.no_grad()
def _fold_before(linear: nn.Linear, scale: torch.Tensor, shift: torch.Tensor) -> None:
    """``linear(norm(x))`` as one Linear: scale the columns, move the shift into the bias."""
    weight = linear.weight.detach().double()
    bias = (
        torch.zeros(weight.shape[0], dtype=torch.float64, device=weight.device)
        if linear.bias is None
        else linear.bias.detach().double()
    )
    _set(linear, weight * scale[None, :], bias + weight @ shift)


def _set(linear: nn.Linear, weight: torch.Tensor, bias: torch.Tensor) -> None:
    dtype = linear.weight.dtype
    linear.weight = nn.Parameter(weight.to(dtype), requires_grad=False)
    linear.bias = nn.Parameter(bias.to(dtype), requires_grad=False)


def is_eval_identity(layer: nn.Module) -> bool:
    """Layers that are the identity in evaluation mode (an empty Sequential included)."""
    return isinstance(layer, _EVAL_IDENTITY) or (
        type(layer) is nn.Sequential and not layer._modules
    )
