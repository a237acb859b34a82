"""Per-epoch diagnostics: training figures, gradient norms, activation health.

:class:`StepRecorder` collects, at no extra cost per step, the figures an
epoch's training steps leave: the training metrics (accuracy, say) and the
learning rate of every step. The gradient norms and the activation health make
the chapter's central problems visible: vanishing or exploding gradients show up
in the gradient norms, dying ReLUs and saturated sigmoids in the activation
health figure.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from skdnn.components.activations import activation_of
from skdnn.network import hidden_blocks
from skdnn.training.objectives import Metrics

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
    blocks = list(module.named_children())[start:stop]
    activations = [
        layer
        for name, block in blocks
        if name.startswith("hidden")
        for layer_name, layer in block.named_children()
        if layer_name == "activation"
    ]
    if not any(_has_health(layer) for layer in activations):  # nothing to measure: no pass
        return [0.0] * len(activations)
    was_training = module.training
    if was_training:  # switching modes walks every layer: only when needed
        module.eval()
    figures = []
    x = probe
    for name, block in blocks:
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


def _has_health(activation: nn.Module) -> bool:
    component = activation_of(activation)
    return component is not None and component.health is not None


def _unhealthy_fraction(activation: nn.Module, output: torch.Tensor) -> torch.Tensor:
    component = activation_of(activation)
    if component is None or component.health is None:
        return torch.zeros((), device=output.device)
    return component.health(output)


class StepRecorder:
    """Keeps what an epoch's training steps computed anyway, for the epoch's record.

    Per step it notes the learning rate the step uses (a Python float of the
    optimizer's first param group) and, when there are training metrics, keeps
    references to the batch's outputs and targets: no copy, no host sync. The
    metrics are computed once, over all of the epoch's rows, by :meth:`figures`.
    Like Keras' training figures, they average over the epoch's batches, each
    seen by the weights before its own step and in training mode (dropout on).

    Parameters
    ----------
    optimizer : torch.optim.Optimizer
        The optimizer of the epoch (its first param group's rate is recorded).
    metrics : callable or None
        ``metrics(outputs, targets) -> {name: value}``; None records rates only.
    """

    def __init__(self, optimizer: torch.optim.Optimizer, metrics: Metrics | None) -> None:
        self._group = optimizer.param_groups[0]
        self._metrics = metrics
        self.rates: list[float] = []
        self._outputs: list[torch.Tensor] = []
        self._targets: list[torch.Tensor] = []

    def before_step(self) -> None:
        """Note the rate of the step about to run."""
        self.rates.append(self._group["lr"])

    def after_step(self, outputs: torch.Tensor | None, targets: torch.Tensor) -> None:
        """Keep the outputs the step computed for ``targets`` (when metrics are wanted)."""
        if self._metrics is not None and outputs is not None:
            self._outputs.append(outputs)
            self._targets.append(targets)

    def figures(self) -> dict[str, Any]:
        """``steps``, ``lr_steps`` (when the rate changed within the epoch) and the metrics."""
        record: dict[str, Any] = {"steps": len(self.rates)}
        if len(set(self.rates)) > 1:
            record["lr_steps"] = [float(rate) for rate in self.rates]
        if self._outputs:
            outputs = torch.cat(self._outputs)
            if outputs.dtype in (torch.float16, torch.bfloat16):  # mixed precision
                outputs = outputs.float()
            record.update(self._metrics(outputs, torch.cat(self._targets)))
        return record
