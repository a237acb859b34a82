"""The hand-written ensemble step against autograd, gradient by gradient."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from skdnn.components.regularizers import Regularization
from skdnn.components.schedule_adapter import LRScheduleAdapter
from skdnn.network import MLPSpec, kernels
from skdnn.network_ensemble import EnsembleSpec, build_network
from skdnn.training.early_stopping import EarlyStopping
from skdnn.training.ensemble_step import EnsembleStep
from skdnn.training.objectives import CROSS_ENTROPY
from skdnn.training.setup import TrainingSetup
from skdnn.training.steps import make_step


def _ensemble(ensemble_type: str, activation: str = "elu", k: int = 3) -> nn.Sequential:
    spec = MLPSpec(n_features=6, hidden_layer_sizes=(5, 7, 4), n_outputs=3, activation=activation)
    network = build_network(
        spec, EnsembleSpec(k, ensemble_type), generator=torch.Generator().manual_seed(0)
    )
    return network.train()


def _setup(module: nn.Module) -> TrainingSetup:
    optimizer = torch.optim.Adam(module.parameters(), lr=1e-2, fused=True)
    return TrainingSetup(
        optimizer=optimizer,
        schedule=LRScheduleAdapter(optimizer, None, steps_per_epoch=1, total_steps=1),
        regularization=Regularization(kernels(module)),
        stopper=EarlyStopping(enabled=False, patience=1, min_delta=0.0),
        max_epochs=1,
        batch_size=8,
    )


def _batch(n_rows: int, weighted: bool, seed: int = 1):
    generator = torch.Generator().manual_seed(seed)
    X = torch.randn(n_rows, 6, generator=generator)
    y = torch.randint(0, 3, (n_rows,), generator=generator)
    weight = torch.rand(n_rows, generator=generator) + 0.5 if weighted else None
    return X, y, weight


@pytest.mark.parametrize("ensemble_type", ["batch", "independent"])
@pytest.mark.parametrize("activation", ["elu", "relu", "identity"])
@pytest.mark.parametrize("weighted", [False, True])
def test_gradients_and_losses_match_autograd(ensemble_type, activation, weighted):
    module = _ensemble(ensemble_type, activation)
    reference = copy.deepcopy(module)
    step = make_step(module, _setup(module))
    assert isinstance(step, EnsembleStep)
    for n_rows in (8, 3, 8):  # batch sizes change between steps
        X, y, weight = _batch(n_rows, weighted, seed=n_rows)
        objective = CROSS_ENTROPY.batch_loss(reference(X), y, weight)
        reference.zero_grad()
        objective.backward()
        with torch.no_grad():
            losses = step._forward_backward(X, y, weight)
        torch.testing.assert_close(losses.sum() / n_rows, objective.detach(), rtol=1e-5, atol=1e-6)
        assert step.outputs.shape == (n_rows, 3, 3)
        for (name, parameter), expected in zip(
            module.named_parameters(), reference.parameters(), strict=True
        ):
            torch.testing.assert_close(
                parameter.grad, expected.grad, rtol=1e-4, atol=1e-6, msg=name
            )


def test_training_steps_follow_autograd_steps():
    fast, slow = _ensemble("batch"), _ensemble("batch")
    fast_step = make_step(fast, fast_setup := _setup(fast))
    assert isinstance(fast_step, EnsembleStep)
    slow_setup = _setup(slow)
    for seed in range(10):
        X, y, weight = _batch(8, seed % 2 == 1, seed)
        fast_step(X, y, weight)
        slow_setup.optimizer.zero_grad()
        CROSS_ENTROPY.batch_loss(slow(X), y, weight).backward()
        slow_setup.optimizer.step()
    assert fast_setup.optimizer.state  # the updates ran
    for a, b in zip(fast.parameters(), slow.parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)
