"""The training step: hand-written MLP gradients, kernel choice and the direct fused update."""

from __future__ import annotations

import copy
import pickle

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from skdnn.components.regularizers import Regularization
from skdnn.components.schedule_adapter import LRScheduleAdapter
from skdnn.network import MLPSpec, build_mlp, kernels
from skdnn.training import steps
from skdnn.training.early_stopping import EarlyStopping
from skdnn.training.gemm import AtenKernels, OneDNNKernels, kernels_for, onednn_available
from skdnn.training.objectives import RECONSTRUCTION
from skdnn.training.setup import TrainingSetup
from skdnn.training.steps import (
    AutogradStep,
    MLPStep,
    make_step,
    mlp_layers,
    optimizer_update,
)

ACTIVATIONS = ["relu", "leaky_relu", "elu", "selu", "tanh", "logistic", "identity"]


def _network(activation: str = "relu", **spec) -> nn.Sequential:
    spec = {"n_features": 6, "hidden_layer_sizes": (5, 4), "n_outputs": 3, **spec}
    return build_mlp(
        MLPSpec(activation=activation, **spec), generator=torch.Generator().manual_seed(0)
    )


def _setup(module: nn.Module, *, optimizer: str = "adam", **regularization) -> TrainingSetup:
    parameters = [p for p in module.parameters() if p.requires_grad]
    if optimizer == "adam":
        built = torch.optim.Adam(parameters, lr=1e-2, fused=True)
    else:
        built = torch.optim.SGD(parameters, lr=1e-2)
    return TrainingSetup(
        optimizer=built,
        schedule=LRScheduleAdapter(built, None, steps_per_epoch=1, total_steps=1),
        regularization=Regularization(kernels(module), **regularization),
        stopper=EarlyStopping(enabled=False, patience=1, min_delta=0.0),
        max_epochs=1,
        batch_size=8,
    )


def _batch(n_rows: int = 8, n_features: int = 6, weighted: bool = False):
    generator = torch.Generator().manual_seed(1)
    X = torch.randn(n_rows, n_features, generator=generator)
    y = torch.randint(0, 3, (n_rows,), generator=generator)
    weight = torch.rand(n_rows, generator=generator) + 0.5 if weighted else None
    return X, y, weight


def _autograd_gradients(module, X, y, weight):
    module.zero_grad(set_to_none=True)
    logits = module(X)
    if weight is None:
        loss = F.cross_entropy(logits, y)
    else:
        loss = (F.cross_entropy(logits, y, reduction="none") * weight).mean()
    loss.backward()
    return loss.detach(), [p.grad.clone() for p in module.parameters()]


@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("kernels_", ["aten", "onednn"])
def test_mlp_step_gradients_match_autograd(monkeypatch, activation, weighted, kernels_):
    if kernels_ == "onednn" and not onednn_available():
        pytest.skip("oneDNN's linear operator is not available in this torch build")
    module = _network(activation).train()
    reference = copy.deepcopy(module)
    X, y, weight = _batch(weighted=weighted)
    expected_loss, expected = _autograd_gradients(reference, X, y, weight)

    monkeypatch.setattr(steps, "_FAST_KERNEL_MIN_MACS", 0)  # every product on the chosen kernels
    step = MLPStep(mlp_layers(module), lambda: None, _setup(module))
    step.fast_kernels = AtenKernels if kernels_ == "aten" else OneDNNKernels
    with torch.no_grad():
        losses = step._forward_backward(X, y, weight)

    torch.testing.assert_close(losses.sum() / len(X), expected_loss, rtol=1e-5, atol=1e-6)
    for parameter, grad in zip(module.parameters(), expected, strict=True):
        torch.testing.assert_close(parameter.grad, grad, rtol=1e-4, atol=1e-6)


def test_mlp_step_without_biases_and_uneven_batches():
    module = nn.Sequential(nn.Linear(6, 5, bias=False), nn.ELU(0.5), nn.Linear(5, 3))
    reference = copy.deepcopy(module)
    step = make_step(module, _setup(module))
    assert isinstance(step, MLPStep)
    for n_rows in (8, 3, 8):
        X, y, _ = _batch(n_rows)
        _, expected = _autograd_gradients(reference, X, y, None)
        with torch.no_grad():
            step._forward_backward(X, y, None)
        for parameter, grad in zip(module.parameters(), expected, strict=True):
            torch.testing.assert_close(parameter.grad, grad, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("optimizer", ["adam", "sgd"])
def test_mlp_step_trains_like_autograd(optimizer):
    fast, slow = _network("relu"), _network("relu")
    fast_step = make_step(fast, _setup(fast, optimizer=optimizer, clip_norm=1.0, max_norm=2.0))
    slow_step = AutogradStep(
        slow,
        (setup := _setup(slow, optimizer=optimizer, clip_norm=1.0, max_norm=2.0)).optimizer.step,
        setup,
    )
    assert isinstance(fast_step, MLPStep)
    for seed in range(20):
        X, y, weight = _batch(weighted=seed % 2 == 1)
        X = X + seed
        torch.testing.assert_close(
            fast_step(X, y, weight).sum(), slow_step(X, y, weight).sum(), rtol=1e-4, atol=1e-5
        )
    for a, b in zip(fast.parameters(), slow.parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize(
    "change",
    [
        {"activation": "gelu"},
        {"activation": "prelu"},
        {"normalization": "batch"},
        {"normalization": "layer"},
        {"dropout": 0.2},
        {"input_normalization": True},
    ],
)
def test_make_step_falls_back_to_autograd_for_other_networks(change):
    module = _network(**change).train()
    assert isinstance(make_step(module, _setup(module)), AutogradStep)


def test_make_step_falls_back_for_penalties_losses_frozen_layers_and_hooks():
    module = _network().train()
    assert isinstance(make_step(module, _setup(module, l2=1e-3)), AutogradStep)
    setup = _setup(module)
    setup.objective = RECONSTRUCTION  # a loss without a fused gradient
    assert isinstance(make_step(module, setup), AutogradStep)

    frozen = _network().train()
    frozen.hidden1.requires_grad_(False)
    assert isinstance(make_step(frozen, _setup(frozen)), AutogradStep)

    hooked = _network().train()
    hooked.hidden2.linear.register_forward_hook(lambda *args: None)
    assert isinstance(make_step(hooked, _setup(hooked)), AutogradStep)

    assert isinstance(make_step(module.eval(), _setup(module)), AutogradStep)


@pytest.mark.parametrize("kind", ["adam", "adamw"])
def test_direct_fused_update_is_bitwise_optimizer_step(kind):
    factory = torch.optim.Adam if kind == "adam" else torch.optim.AdamW
    direct_net, reference_net = _network(), _network()
    options = {"lr": 1e-2, "weight_decay": 1e-2, "fused": True}
    direct = factory(direct_net.parameters(), **options)
    reference = factory(reference_net.parameters(), **options)
    update = optimizer_update(direct)
    assert update != direct.step
    for seed in range(5):
        for net in (direct_net, reference_net):
            generator = torch.Generator().manual_seed(seed)
            for parameter in net.parameters():
                parameter.grad = torch.randn(parameter.shape, generator=generator)
        direct.param_groups[0]["lr"] = reference.param_groups[0]["lr"] = 1e-2 / (seed + 1)
        update()
        reference.step()
    for a, b in zip(direct_net.parameters(), reference_net.parameters(), strict=True):
        assert torch.equal(a, b)
    direct_state, reference_state = direct.state_dict(), reference.state_dict()
    for index, state in reference_state["state"].items():
        for key, value in state.items():
            assert torch.equal(direct_state["state"][index][key], value)
    # The state carries on in a plain optimizer, also after pickling.
    restored = factory(direct_net.parameters(), **options)
    restored.load_state_dict(pickle.loads(pickle.dumps(direct.state_dict())))
    for optimizer, net in ((restored, direct_net), (reference, reference_net)):
        for _ in range(2):
            for parameter in net.parameters():
                parameter.grad = torch.ones_like(parameter)
            optimizer.step()
    for a, b in zip(direct_net.parameters(), reference_net.parameters(), strict=True):
        assert torch.equal(a, b)


def test_direct_fused_update_falls_back_when_a_gradient_is_missing():
    net, reference_net = _network(), _network()
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-2, fused=True)
    reference = torch.optim.Adam(reference_net.parameters(), lr=1e-2, fused=True)
    update = optimizer_update(optimizer)
    for seed in range(3):
        for model in (net, reference_net):
            generator = torch.Generator().manual_seed(seed)
            for parameter in model.parameters():
                parameter.grad = torch.randn(parameter.shape, generator=generator)
            if seed == 2:
                model.output.linear.bias.grad = None
        update()
        reference.step()
    for a, b in zip(net.parameters(), reference_net.parameters(), strict=True):
        assert torch.equal(a, b)


def test_optimizer_update_uses_step_when_not_eligible():
    net = _network()
    plain = torch.optim.Adam(net.parameters(), lr=1e-3)
    assert optimizer_update(plain) == plain.step
    amsgrad = torch.optim.Adam(net.parameters(), lr=1e-3, fused=True, amsgrad=True)
    assert optimizer_update(amsgrad) == amsgrad.step
    sgd = torch.optim.SGD(net.parameters(), lr=1e-3)
    assert optimizer_update(sgd) == sgd.step
    hooked = torch.optim.Adam(net.parameters(), lr=1e-3, fused=True)
    hooked.register_step_post_hook(lambda *args: None)
    assert optimizer_update(hooked) == hooked.step


def test_kernels_agree():
    generator = torch.Generator().manual_seed(0)
    x, W = torch.randn(16, 9, generator=generator), torch.randn(7, 9, generator=generator)
    b, g = torch.randn(7, generator=generator), torch.randn(16, 7, generator=generator)
    chosen = kernels_for(W)
    assert chosen in (AtenKernels, OneDNNKernels)
    assert kernels_for(W.double()) is AtenKernels
    torch.testing.assert_close(chosen.linear(x, W, b), x @ W.T + b)
    torch.testing.assert_close(chosen.linear_relu(x, W, b), torch.relu(x @ W.T + b))
    torch.testing.assert_close(chosen.weight_grad(g, x), g.T @ x)
    torch.testing.assert_close(chosen.input_grad(g, W), g @ W)
