"""The tensor operations of ensemble members: one batch seen by k members, k linear maps at once.

Plain functions on ``(n, k, d)`` activations (samples, members, features),
used by the ensemble layers of :mod:`skdnn.components.ensemble` and by the
per-feature linear layers of the numeric embeddings.
"""

from __future__ import annotations

import torch


def check_sizes(**sizes: int) -> None:
    """Raise ``ValueError`` unless every keyword is a positive integer (a layer size)."""
    for name, value in sizes.items():
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}.")


def check_member_input(x: torch.Tensor, n_members: int, in_features: int, layer: str) -> None:
    """Raise ``ValueError`` unless ``x`` is an ``(n, n_members, in_features)`` batch."""
    if x.dim() != 3 or x.shape[1] != n_members or x.shape[2] != in_features:
        raise ValueError(
            f"{layer} expects input of shape (n, {n_members}, {in_features}) "
            f"(samples, members, features), got {tuple(x.shape)}."
        )


def expand_members(x: torch.Tensor, n_members: int) -> torch.Tensor:
    """View an ``(n, d)`` batch as ``(n, n_members, d)``: every member sees every sample.

    Parameters
    ----------
    x : torch.Tensor of shape (n, d)
        The batch.
    n_members : int
        Number of ensemble members ``k``.

    Returns
    -------
    torch.Tensor of shape (n, n_members, d)
        A broadcast view of ``x`` (no copy).
    """
    check_sizes(n_members=n_members)
    if x.dim() != 2:
        raise ValueError(f"expand_members expects an (n, d) input, got shape {tuple(x.shape)}.")
    return x.unsqueeze(1).expand(-1, n_members, -1)


def members_linear(
    x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None
) -> torch.Tensor:
    """Apply k independent linear maps in one batched matrix product.

    Parameters
    ----------
    x : torch.Tensor of shape (k, n, in_features)
        Member ``i``'s input is ``x[i]``.
    weight : torch.Tensor of shape (k, in_features, out_features)
        Member ``i`` computes ``x[i] @ weight[i]`` (note: not transposed, unlike
        ``nn.Linear.weight``).
    bias : torch.Tensor of shape (k, out_features), optional
        Member ``i`` adds ``bias[i]``.

    Returns
    -------
    torch.Tensor of shape (k, n, out_features)
        Member ``i``'s output is element ``i``.
    """
    if x.dim() != 3 or weight.dim() != 3 or x.shape[0] != weight.shape[0]:
        raise ValueError(
            f"members_linear expects x (k, n, in) and weight (k, in, out), "
            f"got {tuple(x.shape)} and {tuple(weight.shape)}."
        )
    if x.shape[2] != weight.shape[1]:
        raise ValueError(
            f"x has {x.shape[2]} input features but weight expects {weight.shape[1]}."
        )
    if bias is None:
        return torch.bmm(x, weight)
    if bias.shape != (weight.shape[0], weight.shape[2]):
        raise ValueError(
            f"bias must have shape {(weight.shape[0], weight.shape[2])}, got {tuple(bias.shape)}."
        )
    return torch.baddbmm(bias.unsqueeze(1), x, weight)
