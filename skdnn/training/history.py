"""Per-epoch diagnostics: gradient norms and activation health of each hidden layer.

These make the chapter's central problems visible: vanishing or exploding
gradients show up in the gradient norms, dying ReLUs and saturated sigmoids in
the activation health figure.
"""

from __future__ import annotations

import torch
from torch import nn

from skdnn.components.activations import activation_of
from skdnn.network import hidden_blocks

#: Training rows the activation-health figures are computed on, each epoch.
PROBE_ROWS = 512


def gradient_norms(module: nn.Sequential) -> list[float]:
    """L2 norm of the kernel gradient of each hidden layer at the epoch's last batch.

    The gradients are those the last training step left (the last batch of the
    epoch, which may be shorter than the others); 0.0 for a layer without one
    (frozen).
    """
    norms = [
        block.linear.weight.grad.norm()
        if block.linear.weight.grad is not None
        else torch.zeros((), device=block.linear.weight.device)
        for block in hidden_blocks(module)
    ]
    return torch.stack(norms).tolist() if norms else []


@torch.inference_mode()
def activation_health(
    module: nn.Sequential, probe: torch.Tensor, *, start: int = 0, stop: int | None = None
) -> list[float]:
    """Fraction of unhealthy units per hidden layer on ``probe`` rows (eval mode).

    What unhealthy means is the activation's registry entry's ``health`` probe:
    for ReLU a unit is unhealthy (dead) when it outputs 0 on every probe row; for
    logistic and tanh an output is unhealthy when saturated (within 0.01 of a
    bound) and the figure is the fraction of saturated outputs. Activations
    without a probe neither die nor saturate in this sense and report 0.0.

    ``start`` and ``stop`` restrict the pass to the blocks ``start:stop`` of the
    network; ``probe`` is then the input of block ``start`` (the cached output of
    the blocks below it, say).
    """
    was_training = module.training
    if was_training:  # switching modes walks every layer: only when needed
        module.eval()
    figures = []
    x = probe
    for name, block in list(module.named_children())[start:stop]:
        if not name.startswith("hidden"):
            x = block(x)
            continue
        for layer_name, layer in block.named_children():
            x = layer(x)
            if layer_name == "activation":
                figures.append(_unhealthy_fraction(layer, x))
    if was_training:
        module.train()
    return torch.stack(figures).tolist() if figures else []


def _unhealthy_fraction(activation: nn.Module, output: torch.Tensor) -> torch.Tensor:
    component = activation_of(activation)
    if component is None or component.health is None:
        return torch.zeros((), device=output.device)
    return component.health(output)
