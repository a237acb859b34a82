"""The layers around the ensemble linear layers that make k members one network.

A network of ``k`` members (:mod:`skdnn.components.ensemble`) carries
activations of shape ``(n, k, d)``. Besides its linear layers it needs:

* :class:`ExpandMembers` -- the ``(n, d)`` input of the first member layer
  seen by every member, ``(n, k, d)``.
* :class:`MembersFlattened` -- a layer written for ``(n, features)`` inputs
  (batch norm, PReLU with one slope per unit) applied to the ``(n, k * d)``
  view, so that each member gets its own statistics and parameters.
* :class:`MemberLayerNorm` -- layer normalization of each member's
  activations, with a scale and shift per member.
* :class:`CombineMembers` -- the output block's last layer: in training the
  members' outputs ``(n, k, n_outputs)``, each trained on its own loss; in
  evaluation mode their combination ``(n, n_outputs)``
  (:func:`combine_members`), so that prediction, validation and Monte-Carlo
  dropout see one network's output.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from skdnn._utils.module_spec import register_container, register_layer
from skdnn.components.member_ops import expand_members

#: How :func:`combine_members` turns the members' outputs into one output.
COMBINATIONS = {
    "probabilities": "logits whose softmax is the mean of the members' class probabilities",
    "mean": "the mean of the members' outputs (an identity link)",
    "log_mean_exp": "the log of the mean of exp(outputs) (a log link: the mean of the means)",
}


def combine_members(outputs: torch.Tensor, combination: str) -> torch.Tensor:
    """The ensemble's output from the members' outputs.

    Parameters
    ----------
    outputs : torch.Tensor of shape (n, k, n_outputs)
        Each member's output (logits, or values before the inverse link).
    combination : str
        A key of :data:`COMBINATIONS`. ``"probabilities"`` returns
        ``log(mean_i softmax(outputs[:, i]))``, a valid set of logits whose
        softmax is the mean of the members' probabilities (and whose
        cross-entropy is the ensemble's log-loss).

    Returns
    -------
    torch.Tensor of shape (n, n_outputs)
    """
    if outputs.dim() != 3:
        raise ValueError(
            f"combine_members expects (n, k, n_outputs) outputs, got shape {tuple(outputs.shape)}."
        )
    log_k = math.log(outputs.shape[1])
    if combination == "probabilities":
        return torch.logsumexp(torch.log_softmax(outputs, dim=2), dim=1) - log_k
    if combination == "mean":
        return outputs.mean(dim=1)
    if combination == "log_mean_exp":
        return torch.logsumexp(outputs, dim=1) - log_k
    raise ValueError(f"combination must be one of {sorted(COMBINATIONS)}, got {combination!r}.")


class ExpandMembers(nn.Module):
    """``(n, d) -> (n, n_members, d)``: every member sees every sample (a view, no copy).

    Parameters
    ----------
    n_members : int
        Number of ensemble members ``k``.
    """

    def __init__(self, n_members: int) -> None:
        super().__init__()
        self.n_members = n_members

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The batch as every member's input."""
        return expand_members(x, self.n_members)

    def extra_repr(self) -> str:
        """Size shown by ``repr``."""
        return f"n_members={self.n_members}"


class MembersFlattened(nn.Module):
    """Apply a layer of ``(n, features)`` inputs to ``(n, k, d)`` as ``(n, k * d)``.

    With ``layer`` built for ``k * d`` features, each (member, unit) pair is one
    feature of it: a batch norm keeps statistics per member and unit, a PReLU
    learns one slope per member and unit.

    Parameters
    ----------
    layer : torch.nn.Module
        The wrapped layer; its output has as many features as its input.
    """

    def __init__(self, layer: nn.Module) -> None:
        super().__init__()
        self.layer = layer

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``layer`` on the flattened members, reshaped back to ``(n, k, d)``."""
        n_rows, n_members, width = x.shape
        return self.layer(x.reshape(n_rows, n_members * width)).view(n_rows, n_members, width)


class MemberLayerNorm(nn.Module):
    """Layer normalization of each member's ``d`` activations, scale and shift per member.

    Parameters
    ----------
    num_features : int
        Width ``d`` of each member's layer.
    n_members : int
        Number of members ``k``.
    eps : float, default=1e-5
        Added to the variance.

    Attributes
    ----------
    weight, bias : Parameter of shape (n_members, num_features)
        Start at one and zero.
    """

    def __init__(self, num_features: int, n_members: int, eps: float = 1e-5) -> None:
        super().__init__()
        self.num_features, self.n_members, self.eps = num_features, n_members, eps
        self.weight = nn.Parameter(torch.ones(n_members, num_features))
        self.bias = nn.Parameter(torch.zeros(n_members, num_features))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Normalize over the last axis of ``(n, k, d)``, then scale and shift per member."""
        normalized = nn.functional.layer_norm(x, (self.num_features,), eps=self.eps)
        return torch.addcmul(self.bias, normalized, self.weight)

    def extra_repr(self) -> str:
        """Sizes shown by ``repr``."""
        return f"num_features={self.num_features}, n_members={self.n_members}, eps={self.eps}"


class CombineMembers(nn.Module):
    """The members' outputs in training, their combination in evaluation mode.

    Parameters
    ----------
    combination : str
        A key of :data:`COMBINATIONS`.
    """

    def __init__(self, combination: str) -> None:
        super().__init__()
        if combination not in COMBINATIONS:
            raise ValueError(
                f"combination must be one of {sorted(COMBINATIONS)}, got {combination!r}."
            )
        self.combination = combination
        #: When False, evaluation mode returns the members' outputs too
        #: (see :func:`member_outputs`).
        self.combines = True

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(n, k, n_outputs)`` in training, ``(n, n_outputs)`` in evaluation mode."""
        if self.training or not self.combines:
            return x
        return combine_members(x, self.combination)

    def extra_repr(self) -> str:
        """Setting shown by ``repr``."""
        return f"combination={self.combination!r}"


register_layer(ExpandMembers, lambda m: {"n_members": m.n_members})  # saved files
register_layer(
    MemberLayerNorm,
    lambda m: {"num_features": m.num_features, "n_members": m.n_members, "eps": m.eps},
)
register_layer(CombineMembers, lambda m: {"combination": m.combination})
register_container(MembersFlattened)
