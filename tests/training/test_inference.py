"""Inference networks: batch norm folding, fused kernels, and knowing when they are stale."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from skdnn.network import MLPSpec, build_mlp
from skdnn.training.freezing import freeze_prefix
from skdnn.training.gemm import AtenKernels
from skdnn.training.inference import InferenceNetwork, flat_layers, fold_batch_norm


def _trained(**spec) -> nn.Sequential:
    """A network whose batch-norm statistics and affine terms are far from their defaults."""
    spec = {"n_features": 12, "hidden_layer_sizes": (16, 8), "n_outputs": 4, **spec}
    module = build_mlp(MLPSpec(**spec), generator=torch.Generator().manual_seed(0))
    generator = torch.Generator().manual_seed(1)
    optimizer = torch.optim.SGD(module.parameters(), lr=0.1)
    module.train()
    for _ in range(30):
        X = torch.randn(32, spec["n_features"], generator=generator) * 3 + 2
        loss = module(X).pow(2).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return module.eval()


BATCH_NORM_NETWORKS = [
    {"normalization": "batch", "normalization_position": "before"},
    {"normalization": "batch", "normalization_position": "after"},
    {"normalization": "batch", "input_normalization": True, "dropout": 0.3},
    {
        "normalization": "batch",
        "normalization_position": "after",
        "activation": "selu",
        "input_dropout": 0.1,
    },
]


@pytest.mark.parametrize("spec", BATCH_NORM_NETWORKS)
def test_folded_network_computes_the_same_outputs(spec):
    module = _trained(**spec)
    X = torch.randn(200, 12) * 3 + 2
    with torch.no_grad():
        expected = module(X)
    folded = fold_batch_norm(module)
    assert not any(
        isinstance(m, nn.BatchNorm1d | nn.Dropout | nn.AlphaDropout) for m in folded.modules()
    )
    with torch.no_grad():
        torch.testing.assert_close(folded(X), expected, rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(InferenceNetwork(module)(X), expected, rtol=1e-5, atol=1e-5)


def test_folding_leaves_the_network_alone():
    module = _trained(normalization="batch")
    before = copy.deepcopy(module.state_dict())
    fold_batch_norm(module)
    for key, value in module.state_dict().items():
        assert torch.equal(value, before[key])


def test_layer_norm_and_other_layers_are_kept():
    module = _trained(normalization="layer", activation="gelu")
    folded = fold_batch_norm(module)
    assert any(isinstance(m, nn.LayerNorm) for m in folded.modules())
    X = torch.randn(50, 12)
    with torch.no_grad():
        torch.testing.assert_close(folded(X), module(X))


def test_only_plain_chains_are_folded():
    class Branching(nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b = nn.Linear(3, 3), nn.Linear(3, 3)

        def forward(self, x):
            return self.a(x) + self.b(x)

    assert flat_layers(Branching()) is None
    with pytest.raises(ValueError, match="only chains"):
        fold_batch_norm(Branching())
    network = InferenceNetwork(Branching().eval())  # still runs, as is
    X = torch.randn(4, 3)
    with torch.no_grad():
        torch.testing.assert_close(network(X), network.module(X))
    assert network.is_current(network.module)
    with torch.no_grad():  # every tensor of such a module is watched, not only the first
        network.module.b.bias.add_(1.0)
    assert not network.is_current(network.module)


class _Members(nn.Module):
    """An ensemble-like layer: k products per row, averaged (not a layer _compile knows)."""

    def __init__(self, n_in: int, n_out: int, k: int = 3) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(k, n_in, n_out) / n_in**0.5)

    def forward(self, x):
        return torch.einsum("nd,kde->nke", x, self.weight).mean(dim=1)


def test_chains_with_unknown_layers_run_as_modules_in_fixed_blocks():
    # A layer whose rows may depend on the others (its own products) makes the
    # whole chain run as one module on fixed blocks: still bitwise invariant.
    torch.manual_seed(0)
    module = nn.Sequential(nn.Linear(12, 200), nn.ELU(), _Members(200, 150), nn.Linear(150, 4))
    network = InferenceNetwork(module.eval())
    assert network.products == []
    X = torch.randn(300, 12, generator=torch.Generator().manual_seed(3))
    everything = network(X)
    for size in (1, 2, 5, 63, 65, 200):
        torch.testing.assert_close(network(X[:size]), everything[:size], rtol=0, atol=0)
    order = torch.randperm(300, generator=torch.Generator().manual_seed(4))
    torch.testing.assert_close(network(X[order]), everything[order], rtol=0, atol=0)
    with torch.no_grad():
        torch.testing.assert_close(everything, module(X), rtol=1e-4, atol=1e-5)


def test_frozen_prefix_networks_are_chains():
    module = freeze_prefix(_trained(normalization="batch"), 2)
    assert flat_layers(module) is not None
    X = torch.randn(20, 12)
    with torch.no_grad():
        torch.testing.assert_close(InferenceNetwork(module)(X), module(X), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("n_rows", [1, 3, 8, 100])
def test_fused_linear_relu_matches_the_module(n_rows):
    module = _trained(activation="relu")
    X = torch.randn(n_rows, 12)
    with torch.no_grad():
        torch.testing.assert_close(InferenceNetwork(module)(X), module(X), rtol=1e-5, atol=1e-5)


def test_is_current_tracks_changes():
    module = _trained(normalization="batch")
    network = InferenceNetwork(module)
    assert network.is_current(module)
    assert not network.is_current(copy.deepcopy(module))

    with torch.no_grad():  # an in-place update, as an optimizer step does
        module.hidden1.linear.weight.mul_(1.0)
    assert not network.is_current(module)

    network = InferenceNetwork(module)
    module.hidden2.norm.running_mean.add_(1.0)  # batch-norm statistics count too
    assert not network.is_current(module)

    network = InferenceNetwork(module)
    module.hidden1.linear = nn.Linear(12, 16, bias=False)  # a replaced layer
    assert not network.is_current(module)

    network = InferenceNetwork(module)
    module.output.linear.bias = nn.Parameter(torch.zeros(4))  # a replaced parameter
    assert not network.is_current(module)

    network = InferenceNetwork(module)
    module.output.linear.weight.data = torch.zeros(4, 8)  # swapped storage
    assert not network.is_current(module)

    network = InferenceNetwork(module)
    module.hidden2.append(nn.ReLU())  # an added layer
    assert not network.is_current(module)

    network = InferenceNetwork(module)
    module.hidden2.norm.register_buffer("extra", torch.zeros(1))  # an added tensor
    assert not network.is_current(module)
    assert InferenceNetwork(module).is_current(module)


def test_small_layers_run_serially_and_large_ones_on_all_threads():
    # Small products take torch.addmm on one thread (a few microseconds for a
    # few rows), large ones the fast kernels; both bitwise row-independent.
    from skdnn.training.row_invariance import (
        SERIAL_LAYER_MACS,
        SERIAL_ROW_BLOCK,
        rows_independent,
    )

    spec = {"n_features": 400, "hidden_layer_sizes": (100,), "n_outputs": 3}
    module = build_mlp(MLPSpec(**spec), generator=torch.Generator().manual_seed(0)).eval()
    big, small = InferenceNetwork(module).products
    assert big.in_features * big.out_features > SERIAL_LAYER_MACS
    assert not big.serial and big.rows in (2, 4)
    serial_ok = rows_independent(
        AtenKernels, 100, 3, torch.float32, torch.device("cpu"), block=SERIAL_ROW_BLOCK, serial=True
    )
    assert small.serial == serial_ok
    if serial_ok:
        assert small.kernels is AtenKernels and small.rows == SERIAL_ROW_BLOCK


BATCH_INVARIANCE_NETWORKS = [
    {"activation": "relu", "hidden_layer_sizes": (100, 50)},  # fused Linear + ReLU
    {"activation": "elu", "hidden_layer_sizes": (100, 100, 100)},
    {"activation": "relu", "hidden_layer_sizes": (400, 100)},  # serial and threaded products
    {"normalization": "batch", "input_normalization": True},  # folded batch norm
    {"activation": "prelu"},  # learned activation
    {"normalization": "layer"},  # not foldable: runs as layers
]


@pytest.mark.parametrize("spec", BATCH_INVARIANCE_NETWORKS)
def test_each_row_gets_the_same_output_whatever_else_is_in_the_call(spec):
    # Bitwise: a row predicted alone, among others, at any position, in any order.
    if spec.get("normalization") == "batch":  # statistics far from the initial ones
        module = _trained(**spec)
    else:
        full = {"n_features": 12, "hidden_layer_sizes": (16, 8), "n_outputs": 4, **spec}
        module = build_mlp(MLPSpec(**full), generator=torch.Generator().manual_seed(0)).eval()
    assert torch.isfinite(module(torch.ones(2, 12))).all()
    network = InferenceNetwork(module)
    X = torch.randn(1200, 12, generator=torch.Generator().manual_seed(3)) * 3 + 2
    everything = network(X)
    assert everything.shape == (1200, 4)
    for size in (1, 2, 3, 7, 8, 9, 31, 100, 513):
        torch.testing.assert_close(network(X[:size]), everything[:size], rtol=0, atol=0)
    order = torch.randperm(1200, generator=torch.Generator().manual_seed(4))
    torch.testing.assert_close(network(X[order]), everything[order], rtol=0, atol=0)
    for row in (0, 5, 1199):
        alone = network(X[row : row + 1])
        torch.testing.assert_close(alone, everything[row : row + 1], rtol=0, atol=0)
    with torch.no_grad():
        torch.testing.assert_close(everything, module(X), rtol=1e-4, atol=1e-5)


def test_empty_input_gives_empty_output():
    network = InferenceNetwork(_trained())
    assert network(torch.zeros(0, 12)).shape == (0, 4)


def test_products_that_depend_on_the_row_count_run_in_fixed_blocks(monkeypatch):
    # Where the self-check finds a kernel whose rows depend on the others (GPUs),
    # every call runs in blocks of exactly `rows` rows: still bitwise invariant.
    import skdnn.training.row_invariance as row_invariance

    monkeypatch.setattr(row_invariance, "rows_independent", lambda *args, **kwargs: False)
    spec = {"n_features": 12, "hidden_layer_sizes": (100,), "n_outputs": 4, "activation": "elu"}
    module = build_mlp(MLPSpec(**spec), generator=torch.Generator().manual_seed(0)).eval()
    network = InferenceNetwork(module)
    assert network.products and all(
        p.blockwise and not p.serial and p.rows == 4 for p in network.products
    )
    X = torch.randn(500, 12, generator=torch.Generator().manual_seed(3))
    everything = network(X)
    for size in (1, 17, 333):
        torch.testing.assert_close(network(X[:size]), everything[:size], rtol=0, atol=0)
    with torch.no_grad():
        torch.testing.assert_close(everything, module(X), rtol=1e-4, atol=1e-5)


def test_elementwise_layers_give_each_element_the_same_bits_at_any_size():
    from skdnn.training.row_invariance import Elementwise

    layer = Elementwise(nn.ELU())
    x = torch.randn(100_003, generator=torch.Generator().manual_seed(0)) * 3
    everything = layer(x)
    for start, stop in ((0, 5), (1, 40_000), (3, 100_003), (7, 8)):
        torch.testing.assert_close(layer(x[start:stop]), everything[start:stop], rtol=0, atol=0)
    torch.testing.assert_close(everything, nn.ELU()(x))
    assert layer(x[:7000].view(7, -1)[:, :5]).shape == (7, 5)  # not contiguous
