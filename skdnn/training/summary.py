"""A Keras-style table of a network's layers, output sizes and parameter counts."""

from __future__ import annotations

import torch
from torch import nn


def summarize(module: nn.Module, n_features: int) -> str:
    """Describe each layer of ``module``: name, type, output shape, parameter counts.

    Trainable parameters are those with ``requires_grad``; frozen parameters and
    batch-norm running statistics count as non-trainable.

    Parameters
    ----------
    module : torch.nn.Module
        The network.
    n_features : int
        Width of its input.

    Returns
    -------
    str
        The table, ready to print.
    """
    shapes: dict[str, tuple[int, ...]] = {}
    leaves = [(name, m) for name, m in module.named_modules() if not list(m.children())]
    hooks = [
        m.register_forward_hook(lambda _m, _i, out, name=name: shapes.__setitem__(name, out.shape))
        for name, m in leaves
    ]
    device = next(module.parameters()).device
    was_training = module.training
    module.eval()
    try:
        with torch.inference_mode():
            module(torch.zeros(1, n_features, device=device))
    finally:
        module.train(was_training)
        for hook in hooks:
            hook.remove()
    rows = [("Layer", "Type", "Output shape", "Trainable", "Non-trainable")]
    total_trainable = total_frozen = 0
    for name, layer in leaves:
        trainable = sum(p.numel() for p in layer.parameters() if p.requires_grad)
        frozen = sum(p.numel() for p in layer.parameters() if not p.requires_grad)
        frozen += sum(b.numel() for key, b in layer.named_buffers() if key != "num_batches_tracked")
        total_trainable += trainable
        total_frozen += frozen
        shape = "(None, " + ", ".join(str(s) for s in shapes.get(name, (0,))[1:]) + ")"
        rows.append((name, type(layer).__name__, shape, f"{trainable:,}", f"{frozen:,}"))
    widths = [max(len(row[i]) for row in rows) for i in range(5)]
    rule = "-" * (sum(widths) + 8)
    lines = [_format(rows[0], widths), rule, *(_format(row, widths) for row in rows[1:]), rule]
    lines.append(f"Total parameters: {total_trainable + total_frozen:,}")
    lines.append(f"Trainable: {total_trainable:,}    Non-trainable: {total_frozen:,}")
    return "\n".join(lines)


def _format(row: tuple[str, ...], widths: list[int]) -> str:
    left = [cell.ljust(width) for cell, width in zip(row[:3], widths[:3], strict=True)]
    right = [cell.rjust(width) for cell, width in zip(row[3:], widths[3:], strict=True)]
    return "  ".join(left + right)
