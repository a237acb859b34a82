"""Monte-Carlo dropout: average many stochastic passes with only dropout active."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from skdnn._utils.random import isolated_torch_rng
from skdnn.components.dropout import dropout_module_types


def dropout_layers(module: nn.Module) -> list[nn.Module]:
    """The dropout layers of ``module`` (of a registered dropout type)."""
    kinds = dropout_module_types()
    return [m for m in module.modules() if isinstance(m, kinds)]


def mc_dropout_probabilities(
    module: nn.Module, X: torch.Tensor, n_passes: int, seed: int, batch_size: int = 8192
) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and standard deviation of the class probabilities over ``n_passes`` passes.

    :func:`mc_dropout_moments` of the softmax of the logits.
    """
    return mc_dropout_moments(module, X, n_passes, seed, _softmax, batch_size)


def _softmax(logits: torch.Tensor) -> torch.Tensor:
    return torch.softmax(logits.double(), dim=1)


@torch.inference_mode()
def mc_dropout_moments(
    module: nn.Module,
    X: torch.Tensor,
    n_passes: int,
    seed: int,
    transform: Callable[[torch.Tensor], torch.Tensor],
    batch_size: int = 8192,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and standard deviation of ``transform(outputs)`` over ``n_passes`` passes.

    Every layer stays in inference mode except the dropout layers: batch
    normalization keeps using its running statistics, so the spread reflects
    the dropout masks alone (switching the whole network to training mode, as
    ``model(X, training=True)`` does, would also perturb batch norm).

    Parameters
    ----------
    module : torch.nn.Module
        The network.
    X : torch.Tensor
        Inputs on the module's device.
    n_passes : int
        Number of stochastic passes.
    seed : int
        Seed of the dropout masks (the caller's RNG state is left untouched).
    transform : callable
        Maps a chunk of outputs to what is averaged (probabilities, predictions
        in the original units...), as float64.
    batch_size : int, default=8192
        Rows per forward pass.

    Returns
    -------
    mean, std : torch.Tensor of shape (n_rows, n_values), float64, on the CPU
        ``std`` is the population standard deviation (divided by ``n_passes``).
    """
    was_training = module.training
    module.eval()
    layers = dropout_layers(module)
    for layer in layers:
        layer.train()
    try:
        with isolated_torch_rng(seed, X.device):
            samples = torch.stack(
                [
                    torch.cat(
                        [
                            transform(module(chunk)).double().cpu()
                            for chunk in torch.split(X, batch_size)
                        ]
                    )
                    for _ in range(n_passes)
                ]
            )
    finally:
        module.train(was_training)
        for layer in layers:
            layer.train(was_training)
    return samples.mean(dim=0), samples.std(dim=0, correction=0)
