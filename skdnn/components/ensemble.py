"""Linear layers for k ensemble members trained at once as one batched network.

Activations of an ensemble network have shape ``(n, k, d)``: ``n`` samples,
``k`` members, ``d`` features. Element-wise layers (activations, dropout) apply
to that tensor unchanged, so a whole multilayer perceptron of ``k`` members is
one network whose linear layers are one of:

* :class:`BatchEnsembleLinear` -- one weight matrix ``W`` shared by all members,
  with per-member rank-1 adapters ``r_i`` (input side) and ``s_i`` (output
  side) and a per-member bias (Wen et al., 2020, "BatchEnsemble"; the layer
  TabM stacks, Gorishniy et al., 2025). Member ``i`` computes
  ``((x * r_i) @ W.T) * s_i + b_i``, which equals a linear layer with the
  weight ``W * outer(s_i, r_i)``, at the cost of one shared matrix product.
* :class:`MemberLinear` -- fully independent weights per member, evaluated as
  one batched matrix product (:func:`~skdnn.components.member_ops.members_linear`,
  ``torch.baddbmm``).

:func:`~skdnn.components.member_ops.expand_members` turns an ``(n, d)`` input
into the ``(n, k, d)`` input of the first ensemble layer; predictions are the
mean over axis 1.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from skdnn._utils.module_spec import register_layer
from skdnn.components._registry import Registry
from skdnn.components.member_ops import (
    check_member_input,
    check_sizes,
    members_linear,
)

ADAPTER_INITS = ("ones", "random_signs")


def _uniform_(tensor: torch.Tensor, bound: float, generator: torch.Generator | None) -> None:
    with torch.no_grad():
        tensor.uniform_(-bound, bound, generator=generator)


def _init_adapter(
    tensor: torch.Tensor, adapter_init: str, generator: torch.Generator | None
) -> None:
    with torch.no_grad():
        if adapter_init == "ones":
            tensor.fill_(1.0)
        else:
            signs = torch.randint(0, 2, tensor.shape, generator=generator, dtype=tensor.dtype)
            tensor.copy_(signs * 2 - 1)


class BatchEnsembleLinear(nn.Module):
    """Linear layer of k members sharing one weight, with rank-1 adapters per member.

    Parameters
    ----------
    in_features : int
        Size of each member's input.
    out_features : int
        Size of each member's output.
    n_members : int
        Number of ensemble members ``k``.
    bias : bool, default=True
        Whether each member has its own bias.
    adapter_init : {"random_signs", "ones"}, default="random_signs"
        Initial ``r`` and ``s``: independent random signs (members start
        different, as in BatchEnsemble) or all ones (members start as the
        shared layer and differ only through their biases and training).
    generator : torch.Generator, optional
        Source of the initial values.

    Attributes
    ----------
    weight : Parameter of shape (out_features, in_features)
        The shared weight, laid out as ``nn.Linear.weight``.
    r : Parameter of shape (n_members, in_features)
    s : Parameter of shape (n_members, out_features)
    bias : Parameter of shape (n_members, out_features) or None
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        n_members: int,
        *,
        bias: bool = True,
        adapter_init: str = "random_signs",
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        check_sizes(in_features=in_features, out_features=out_features, n_members=n_members)
        if adapter_init not in ADAPTER_INITS:
            raise ValueError(
                f"adapter_init must be one of {ADAPTER_INITS}, got {adapter_init!r}."
            )
        self.in_features, self.out_features, self.n_members = in_features, out_features, n_members
        self.weight = nn.Parameter(torch.empty(out_features, in_features))
        self.r = nn.Parameter(torch.empty(n_members, in_features))
        self.s = nn.Parameter(torch.empty(n_members, out_features))
        self.bias = nn.Parameter(torch.empty(n_members, out_features)) if bias else None
        bound = 1.0 / math.sqrt(in_features)  # nn.Linear's default range
        _uniform_(self.weight, bound, generator)
        if self.bias is not None:
            _uniform_(self.bias, bound, generator)
        _init_adapter(self.r, adapter_init, generator)
        _init_adapter(self.s, adapter_init, generator)

    @classmethod
    def from_linear(
        cls,
        linear: nn.Linear,
        n_members: int,
        *,
        adapter_init: str = "ones",
        generator: torch.Generator | None = None,
    ) -> BatchEnsembleLinear:
        """Build ``n_members`` members on the weight and bias of ``linear``.

        Parameters
        ----------
        linear : torch.nn.Linear
            The layer copied; its weight becomes the shared weight, its bias
            every member's bias.
        n_members : int
            Number of ensemble members ``k``.
        adapter_init : {"ones", "random_signs"}, default="ones"
            With ``"ones"`` every member starts as a copy of ``linear``; with
            ``"random_signs"`` each member flips the signs of its own inputs
            and outputs (members start different, as in BatchEnsemble).
        generator : torch.Generator, optional
            Source of the random signs.

        Returns
        -------
        BatchEnsembleLinear
            On the device and with the dtype of ``linear``.
        """
        layer = cls(
            linear.in_features, linear.out_features, n_members,
            bias=linear.bias is not None, adapter_init=adapter_init, generator=generator,
        )
        with torch.no_grad():
            layer.weight.copy_(linear.weight)
            if linear.bias is not None:
                layer.bias.copy_(linear.bias.expand(n_members, -1))
        return layer.to(linear.weight.device, linear.weight.dtype)

    def member_weight(self, member: int) -> torch.Tensor:
        """Return the effective weight of one member, ``W * outer(s_i, r_i)``.

        Parameters
        ----------
        member : int
            Index of the member.

        Returns
        -------
        torch.Tensor of shape (out_features, in_features)
            The weight of the equivalent ``nn.Linear``.
        """
        return self.weight * torch.outer(self.s[member], self.r[member])

    def member_weights(self) -> torch.Tensor:
        """Return every member's effective weight, ``W * outer(s_i, r_i)``, stacked.

        Returns
        -------
        torch.Tensor of shape (n_members, out_features, in_features)
            Element ``i`` is :meth:`member_weight` of member ``i``.
        """
        return self.weight * (self.s.unsqueeze(2) * self.r.unsqueeze(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Apply each member's layer to its slice of the input.

        As ``((x * r) @ W.T) * s + b``; or, without autograd recording and for
        batches of more than ``2 d_in d_out / (d_in + 2 d_out)`` rows (the
        activation-health probe, validation, but not prediction's blocks of a
        few rows), as one batched product with :meth:`member_weights`: that
        trades three element-wise passes over the ``n * k`` rows for two over the
        ``k * d_out * d_in`` effective weights, and returns a transposed view of
        a member-major ``(k, n, out_features)`` result, which the next member
        layer reads in place. The two agree up to float rounding.

        Parameters
        ----------
        x : torch.Tensor of shape (n, n_members, in_features)
            The input batch.

        Returns
        -------
        torch.Tensor of shape (n, n_members, out_features)
            The output batch.
        """
        check_member_input(x, self.n_members, self.in_features, type(self).__name__)
        d_in, d_out = self.in_features, self.out_features
        if not torch.is_grad_enabled() and x.shape[0] * (d_in + 2 * d_out) > 2 * d_in * d_out:
            weights = self.member_weights().transpose(1, 2)
            return members_linear(x.transpose(0, 1), weights, self.bias).transpose(0, 1)
        out = nn.functional.linear(x * self.r, self.weight) * self.s
        return out + self.bias if self.bias is not None else out

    def extra_repr(self) -> str:
        """Sizes shown by ``repr``."""
        return (
            f"in_features={self.in_features}, out_features={self.out_features}, "
            f"n_members={self.n_members}, bias={self.bias is not None}"
        )


class MemberLinear(nn.Module):
    """Linear layer of k members with independent weights, as one batched product.

    Parameters
    ----------
    in_features : int
        Size of each member's input.
    out_features : int
        Size of each member's output.
    n_members : int
        Number of ensemble members ``k``.
    bias : bool, default=True
        Whether each member has a bias.
    generator : torch.Generator, optional
        Source of the initial values; each member is initialized as
        ``nn.Linear`` would be (uniform in ``±1/sqrt(in_features)``).

    Attributes
    ----------
    weight : Parameter of shape (n_members * out_features, in_features)
        The members' kernels stacked, each laid out as ``nn.Linear.weight``:
        rows ``i * out_features`` to ``(i + 1) * out_features`` are member
        ``i``'s, so that each row is the incoming weights of one member's unit
        (what the max-norm constraint rescales).
    bias : Parameter of shape (n_members, out_features) or None
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        n_members: int,
        *,
        bias: bool = True,
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        check_sizes(in_features=in_features, out_features=out_features, n_members=n_members)
        self.in_features, self.out_features, self.n_members = in_features, out_features, n_members
        self.weight = nn.Parameter(torch.empty(n_members * out_features, in_features))
        self.bias = nn.Parameter(torch.empty(n_members, out_features)) if bias else None
        bound = 1.0 / math.sqrt(in_features)
        _uniform_(self.weight, bound, generator)
        if self.bias is not None:
            _uniform_(self.bias, bound, generator)

    @classmethod
    def from_linears(cls, linears: Sequence[nn.Linear]) -> MemberLinear:
        """Stack k separate layers into one member layer.

        Parameters
        ----------
        linears : sequence of torch.nn.Linear
            Layers of the same shape, all with or all without a bias; layer
            ``i`` becomes member ``i``.

        Returns
        -------
        MemberLinear
            On the device and with the dtype of the first layer.
        """
        if not linears:
            raise ValueError("from_linears needs at least one nn.Linear.")
        first = linears[0]
        has_bias = first.bias is not None
        for linear in linears:
            if (linear.in_features, linear.out_features) != (first.in_features,
                                                            first.out_features):
                raise ValueError("All layers passed to from_linears must have the same shape.")
            if (linear.bias is not None) != has_bias:
                raise ValueError("Either all layers passed to from_linears have a bias or none.")
        layer = cls(first.in_features, first.out_features, len(linears), bias=has_bias)
        with torch.no_grad():
            layer.weight.copy_(torch.cat([linear.weight for linear in linears]))
            if has_bias:
                layer.bias.copy_(torch.stack([linear.bias for linear in linears]))
        return layer.to(first.weight.device, first.weight.dtype)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Apply each member's layer to its slice of the input.

        Parameters
        ----------
        x : torch.Tensor of shape (n, n_members, in_features)
            The input batch.

        Returns
        -------
        torch.Tensor of shape (n, n_members, out_features)
            The output batch.
        """
        check_member_input(x, self.n_members, self.in_features, type(self).__name__)
        out = members_linear(x.transpose(0, 1), self.member_weights().transpose(1, 2), self.bias)
        return out.transpose(0, 1)

    def member_weights(self) -> torch.Tensor:
        """The members' kernels as a view of shape ``(n_members, out_features, in_features)``.

        Returns
        -------
        torch.Tensor
            Element ``i`` is the weight of the ``nn.Linear`` member ``i`` equals.
        """
        return self.weight.view(self.n_members, self.out_features, self.in_features)

    def extra_repr(self) -> str:
        """Sizes shown by ``repr``."""
        return (
            f"in_features={self.in_features}, out_features={self.out_features}, "
            f"n_members={self.n_members}, bias={self.bias is not None}"
        )


ENSEMBLE_LAYERS = Registry("ensemble_layer")
ENSEMBLE_LAYERS.add(
    "batch_ensemble",
    BatchEnsembleLinear,
    "one shared weight, per-member rank-1 adapters and biases (BatchEnsemble / TabM)",
    aliases=("shared",),
)
ENSEMBLE_LAYERS.add(
    "independent",
    MemberLinear,
    "a full weight matrix per member, one batched matrix product",
    aliases=("per_member",),
)


def _linear_arguments(layer: BatchEnsembleLinear | MemberLinear) -> dict[str, object]:
    return {
        "in_features": layer.in_features,
        "out_features": layer.out_features,
        "n_members": layer.n_members,
        "bias": layer.bias is not None,
    }


register_layer(BatchEnsembleLinear, _linear_arguments)  # saved files
register_layer(MemberLinear, _linear_arguments)
