"""The hand-written training step of an ensemble network (:mod:`skdnn.network_ensemble`).

k members trained at once do k times the arithmetic of one network on every
batch; at small batches autograd's fixed costs per operation (the rank-1
adapters add several per layer) come on top. :class:`EnsembleStep` is the
ensemble's counterpart of :class:`~skdnn.training.steps.MLPStep`: forward and
backward written out as a fixed sequence of batched matrix products, with no
autograd graph. Internally the activations are laid out member-major,
``(k, n, d)``, so that both kinds of member layer run as one product each:

* :class:`~skdnn.components.ensemble.BatchEnsembleLinear`, ``h = ((x * r) @ W.T) * s + b``::

      b.grad = g.sum(rows)    s.grad = (g * z).sum(rows)    g_z = g * s
      W.grad = g_z.T @ (x * r)    r.grad = ((g_z @ W) * x).sum(rows)    g_x = (g_z @ W) * r

* :class:`~skdnn.components.ensemble.MemberLinear`, ``h_i = x_i @ W_i.T + b_i``::

      b.grad = g.sum(rows)    W_i.grad = g_i.T @ x_i    g_x = g_i @ W_i

The loss gradient is the objective's fused one on the ``k * n`` member rows (each
row's target and weight repeated for every member), which is the gradient of
the mean over members of each member's loss.

At batch 32 the element-wise passes over the ``k * n``-row activations cost
about as much as the products, so each layer makes as few as it can: the
output scale and bias in one ``addcmul``, the gradient scalings in place on
tensors the step owns. (Fixed buffers per batch size, written with ``out=``,
measured slower: they hold more memory than the allocator's just-freed blocks,
which are still in cache.) Plain torch; no scikit-learn.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from skdnn.components.ensemble import BatchEnsembleLinear, MemberLinear
from skdnn.components.member_layers import CombineMembers, ExpandMembers
from skdnn.training.manual_step import ManualStep
from skdnn.training.walk import leaf_layers

if TYPE_CHECKING:
    from skdnn.training.setup import TrainingSetup

MemberLayers = list[tuple[nn.Module, nn.Module | None]]


def member_layers(
    module: nn.Module, fast_activation: Callable[[nn.Module], Any]
) -> MemberLayers | None:
    """``module`` as ``[(member linear, activation or None), ...]``, or None if it does not fit.

    It fits when its leaves, in training mode and without hooks, are
    :class:`ExpandMembers`, then ensemble linear layers each followed by at most
    one activation that ``fast_activation`` accepts (the last one by none, and a
    :class:`MemberLinear`), then :class:`CombineMembers`; with float32
    parameters on one device.
    """
    leaves = leaf_layers(module, training=True)
    if leaves is None:
        return None
    leaves = [leaf for leaf in leaves if not isinstance(leaf, nn.Identity)]
    if len(leaves) < 3 or type(leaves[0]) is not ExpandMembers:
        return None
    if type(leaves[-1]) is not CombineMembers:
        return None
    layers: MemberLayers = []
    for leaf in leaves[1:-1]:
        if type(leaf) in (BatchEnsembleLinear, MemberLinear):
            layers.append((leaf, None))
        elif layers and layers[-1][1] is None and fast_activation(leaf) is not None:
            layers[-1] = (layers[-1][0], leaf)
        else:
            return None
    if not layers or layers[-1][1] is not None or type(layers[-1][0]) is not MemberLinear:
        return None
    parameters = [p for linear, _ in layers for p in linear.parameters()]
    if any(p.dtype != torch.float32 or p.device != parameters[0].device for p in parameters):
        return None
    return layers


class EnsembleStep(ManualStep):
    """Forward and backward of an ensemble network with a fused loss gradient, by hand.

    Parameters
    ----------
    layers : list
        From :func:`member_layers`.
    fast_activation : callable
        ``fast_activation(module)``: the activation's registry entry (its
        ``fast_forward`` and ``fast_backward``).
    loss_gradient : callable
        ``(outputs, y, weight) -> (row losses, gradient at the outputs)`` of a
        mean loss (:data:`~skdnn.training.steps.FUSED_LOSS_GRADIENTS`).
    update : callable
        The optimizer update.
    setup : TrainingSetup
        Regularization (clipping, max-norm) and schedule.
    """

    def __init__(
        self,
        layers: MemberLayers,
        fast_activation: Callable[[nn.Module], Any],
        loss_gradient: Callable[..., tuple[torch.Tensor, torch.Tensor]],
        update: Callable[[], None],
        setup: TrainingSetup,
    ) -> None:
        self.layers = []
        for linear, activation in layers:
            component = None if activation is None else fast_activation(activation)
            self.layers.append((linear, activation, component))
        super().__init__([p for linear, _ in layers for p in linear.parameters()], update, setup)
        self.n_members = layers[0][0].n_members
        self.loss_gradient = loss_gradient

    def _forward_backward(
        self, X: torch.Tensor, y: torch.Tensor, weight: torch.Tensor | None
    ) -> torch.Tensor:
        """Set the gradients; return per-row losses summing to the batch's objective times n."""
        k, n_rows = self.n_members, X.shape[0]
        h = X.unsqueeze(0)  # every member's input, (1, n, d) broadcast over members
        saved = []  # per layer: its input, and for a shared-weight layer u = x * r, z = u @ W.T
        for linear, activation, component in self.layers:
            if type(linear) is BatchEnsembleLinear:
                u = h * linear.r.unsqueeze(1)
                z = torch.mm(u.view(-1, linear.in_features), linear.weight.t())
                z = z.view(k, n_rows, linear.out_features)
                saved.append((h, u, z))
                if linear.bias is None:
                    h = z * linear.s.unsqueeze(1)
                else:
                    h = torch.addcmul(linear.bias.unsqueeze(1), z, linear.s.unsqueeze(1))
            else:
                saved.append((h, None, None))
                x = h.expand(k, -1, -1)
                weights = linear.member_weights().transpose(1, 2)
                h = (
                    torch.bmm(x, weights)
                    if linear.bias is None
                    else torch.baddbmm(linear.bias.unsqueeze(1), x, weights)
                )
            if component is not None:
                h = component.fast_forward(h, activation)
        self.outputs = h.transpose(0, 1)  # (n, k, n_outputs), for the training metrics
        member_y = y.expand(k, *y.shape).reshape(-1, *y.shape[1:])  # member-major, as h
        member_weight = None if weight is None else weight.expand(k, -1).reshape(-1)
        losses, g = self.loss_gradient(h.view(k * n_rows, -1), member_y, member_weight)
        g = g.view(k, n_rows, -1)
        for index in range(len(self.layers) - 1, -1, -1):
            x, u, z = saved[index]
            g = _layer_backward(self.layers[index][0], g, x, u, z, bool(index))
            if index:
                _, activation, component = self.layers[index - 1]
                if component is not None:
                    g = component.fast_backward(g, x, activation)
        # Each row's mean loss over its k members: they sum to n times the batch's objective.
        return losses.view(k, n_rows).mean(0)


def _layer_backward(
    linear: nn.Module,
    g: torch.Tensor,
    x: torch.Tensor,
    u: torch.Tensor | None,
    z: torch.Tensor | None,
    passes_down: bool,
) -> torch.Tensor | None:
    """Set a layer's gradients from ``g`` at its output; return its input's if ``passes_down``.

    ``g``, ``u`` and ``z`` are the step's own tensors (``g`` the loss gradient or
    one an activation's backward returned), read here for the last time: they are
    overwritten once read, sparing allocations.
    """
    if linear.bias is not None:
        linear.bias.grad = g.sum(1)
    if type(linear) is BatchEnsembleLinear:
        linear.s.grad = z.mul_(g).sum(1)
        g_z = g.mul_(linear.s.unsqueeze(1)).view(-1, linear.out_features)
        linear.weight.grad = torch.mm(g_z.t(), u.view(-1, linear.in_features))
        g_u = torch.mm(g_z, linear.weight).view(*g.shape[:2], linear.in_features)
        linear.r.grad = torch.mul(g_u, x, out=u).sum(1)
        return g_u.mul_(linear.r.unsqueeze(1)) if passes_down else None
    linear.weight.grad = torch.bmm(g.transpose(1, 2), x.expand(g.shape[0], -1, -1)).view_as(
        linear.weight
    )
    return torch.bmm(g, linear.member_weights()) if passes_down else None
