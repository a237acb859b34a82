"""Inference networks: batch norm folding, fused kernels, and knowing when they are stale."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from skdnn.network import MLPSpec, build_mlp
from skdnn.training.batch_norm_folding import flat_layers, fold_batch_norm
from skdnn.training.freezing import freeze_prefix
from skdnn.training.inference import InferenceNetwork


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


@pytest.mark.parametrize(("n_inputs", "slices"), [(12, [12]), (512, [512]), (784, [392, 392]),
                                                  (1025, [342, 342, 341])])
def test_split_sums_cut_the_inputs_into_equal_slices(n_inputs, slices):
    from skdnn.training.row_invariance import SUM_CHUNK, SplitSumKernels

    W = torch.randn(7, n_inputs)
    prepared = SplitSumKernels.prepare(W, 2)
    assert [weights.shape[0] for _, weights in prepared] == slices
    assert all(size <= SUM_CHUNK for size in slices)
    assert all(weights.is_contiguous() and weights.shape[1] == 7 for _, weights in prepared)
    torch.testing.assert_close(torch.cat([w for _, w in prepared]), W.t(), rtol=0, atol=0)
    if len(slices) == 1:
        assert prepared[0][0] is None  # the whole input: no slicing per call


@pytest.mark.parametrize("bias", [True, False])
def test_split_sum_products_compute_the_linear_layer(bias):
    from skdnn.training.row_invariance import SplitSumKernels

    generator = torch.Generator().manual_seed(0)
    layer = nn.Linear(1100, 30, bias=bias)
    x = torch.randn(9, 1100, generator=generator)
    prepared = SplitSumKernels.prepare(layer.weight, 2)
    assert len(prepared) == 3
    with torch.no_grad():
        want = layer(x)
    b = layer.bias.detach() if bias else None
    torch.testing.assert_close(SplitSumKernels.linear(x, prepared, b), want, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(
        SplitSumKernels.linear_relu(x, prepared, b), want.relu(), rtol=1e-5, atol=1e-5
    )


def test_products_take_split_sums_on_two_rows_where_they_are_row_independent():
    # Long sums (784 inputs) and short ones, the fused ReLU and the plain output.
    from skdnn.training.row_invariance import SplitSumKernels, rows_independent

    spec = {"n_features": 784, "hidden_layer_sizes": (300,), "n_outputs": 10}
    module = build_mlp(MLPSpec(**spec), generator=torch.Generator().manual_seed(0)).eval()
    network = InferenceNetwork(module)
    cpu = torch.device("cpu")
    for product in network.products:
        shape = (product.in_features, product.out_features, torch.float32, cpu)
        if rows_independent(SplitSumKernels, *shape, block=2):
            assert product.kernels is SplitSumKernels
            assert (product.rows, product.serial, product.blockwise) == (2, False, False)
    X = torch.randn(700, 784, generator=torch.Generator().manual_seed(3))
    everything = network(X)
    for size in (1, 2, 3, 17, 513):
        torch.testing.assert_close(network(X[:size]), everything[:size], rtol=0, atol=0)
    with torch.no_grad():
        torch.testing.assert_close(everything, module(X), rtol=1e-4, atol=1e-5)


def test_small_layers_run_on_one_thread_where_threads_split_the_sums(monkeypatch):
    # A BLAS library that splits a product's sum between threads fails the
    # multi-threaded check; small layers then run serially, large ones on the
    # fast kernels of their weights.
    import skdnn.training.row_invariance as row_invariance

    checked = row_invariance.rows_independent

    def threads_split_sums(kernels, *shape, block, serial=False):
        if kernels is row_invariance.SplitSumKernels and not serial:
            return False
        return checked(kernels, *shape, block=block, serial=serial)

    monkeypatch.setattr(row_invariance, "rows_independent", threads_split_sums)
    spec = {"n_features": 400, "hidden_layer_sizes": (100,), "n_outputs": 3}
    module = build_mlp(MLPSpec(**spec), generator=torch.Generator().manual_seed(0)).eval()
    big, small = InferenceNetwork(module).products
    assert big.in_features * big.out_features > row_invariance.SERIAL_LAYER_MACS
    assert big.kernels is not row_invariance.SplitSumKernels and not big.serial
    if checked(row_invariance.SplitSumKernels, 100, 3, torch.float32, torch.device("cpu"),
               block=2, serial=True):
        assert small.kernels is row_invariance.SplitSumKernels and small.serial
    network = InferenceNetwork(module)
    X = torch.randn(600, 400, generator=torch.Generator().manual_seed(3))
    everything = network(X)
    for size in (1, 2, 9, 333):
        torch.testing.assert_close(network(X[:size]), everything[:size], rtol=0, atol=0)


BATCH_INVARIANCE_NETWORKS = [
    {"activation": "relu", "hidden_layer_sizes": (100, 50)},  # fused Linear + ReLU
    {"activation": "elu", "hidden_layer_sizes": (100, 100, 100)},
    {"activation": "relu", "hidden_layer_sizes": (400, 100)},  # a large and a small product
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
    from skdnn.training.elementwise import Elementwise

    layer = Elementwise(nn.ELU())
    x = torch.randn(100_003, generator=torch.Generator().manual_seed(0)) * 3
    everything = layer(x)
    for start, stop in ((0, 5), (1, 40_000), (3, 100_003), (7, 8)):
        torch.testing.assert_close(layer(x[start:stop]), everything[start:stop], rtol=0, atol=0)
    torch.testing.assert_close(everything, nn.ELU()(x))
    assert layer(x[:7000].view(7, -1)[:, :5]).shape == (7, 5)  # not contiguous
