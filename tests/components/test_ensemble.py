import pytest
import torch
from torch import nn

from skdnn.components.ensemble import (
    ENSEMBLE_LAYERS,
    BatchEnsembleLinear,
    MemberLinear,
)
from skdnn.components.member_ops import expand_members, members_linear


def generator(seed=0):
    return torch.Generator().manual_seed(seed)


def member_inputs(n=7, k=4, d=5, seed=0):
    return torch.randn(n, k, d, generator=generator(seed), dtype=torch.float64)


def test_member_linear_matches_separate_linears():
    torch.manual_seed(0)
    linears = [nn.Linear(5, 3).double() for _ in range(4)]
    layer = MemberLinear.from_linears(linears)
    x = member_inputs()
    expected = torch.stack([linear(x[:, i]) for i, linear in enumerate(linears)], dim=1)
    torch.testing.assert_close(layer(x), expected)
    assert layer(x).shape == (7, 4, 3)


def test_member_linear_gradients_stay_per_member():
    layer = MemberLinear(5, 3, 4, generator=generator())
    x = torch.randn(6, 4, 5, generator=generator(1))
    layer(x)[:, 2].sum().backward()
    grad_norms = layer.weight.grad.view(4, -1).norm(dim=1)
    assert grad_norms[2] > 0
    assert torch.all(grad_norms[[0, 1, 3]] == 0)


def test_batch_ensemble_member_equals_linear_with_rank1_scaled_weight():
    layer = BatchEnsembleLinear(5, 3, 4, generator=generator()).double()
    with torch.no_grad():  # adapters away from +-1 so that both r and s are exercised
        layer.r.mul_(torch.rand(4, 5, generator=generator(2), dtype=torch.float64) + 0.5)
        layer.s.mul_(torch.rand(4, 3, generator=generator(3), dtype=torch.float64) + 0.5)
    x = member_inputs()
    out = layer(x)
    for i in range(4):
        reference = nn.Linear(5, 3).double()
        with torch.no_grad():
            reference.weight.copy_(layer.weight * torch.outer(layer.s[i], layer.r[i]))
            reference.bias.copy_(layer.bias[i])
        torch.testing.assert_close(out[:, i], reference(x[:, i]))
        torch.testing.assert_close(layer.member_weight(i), reference.weight)


@pytest.mark.parametrize("bias", [True, False])
def test_batch_ensemble_without_autograd_on_many_rows_is_one_batched_product(bias):
    layer = BatchEnsembleLinear(5, 3, 4, bias=bias, generator=generator())
    with torch.no_grad():
        layer.r.mul_(torch.rand(4, 5, generator=generator(2)) + 0.5)
    for n_rows in (2, 7):  # a 5 -> 3 layer takes the batched product from 3 rows on
        x = torch.randn(n_rows, 4, 5, generator=generator(1))
        recorded = layer(x)
        with torch.inference_mode():
            fast = layer(x)
            shared = layer(expand_members(x[:, 0], 4))  # a broadcast input, as the first layer's
        torch.testing.assert_close(fast, recorded.detach(), rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(shared, layer(expand_members(x[:, 0], 4)).detach())
        assert fast.shape == (n_rows, 4, 3)
        # member-major on many rows: the next layer reads it in place
        assert fast.transpose(0, 1).is_contiguous() == (n_rows == 7)
    weights = layer.member_weights()
    assert weights.shape == (4, 3, 5)
    for i in range(4):
        torch.testing.assert_close(weights[i], layer.member_weight(i))


def test_batch_ensemble_shares_one_weight():
    layer = BatchEnsembleLinear(10, 20, 8)
    counts = {name: p.numel() for name, p in layer.named_parameters()}
    assert counts == {"weight": 200, "r": 80, "s": 160, "bias": 160}
    assert sum(p.numel() for p in MemberLinear(10, 20, 8).parameters()) == 8 * 220


def test_adapter_init():
    ones = BatchEnsembleLinear(6, 4, 3, adapter_init="ones")
    assert torch.all(ones.r == 1) and torch.all(ones.s == 1)
    signs = BatchEnsembleLinear(60, 40, 3, adapter_init="random_signs", generator=generator())
    assert set(signs.r.detach().unique().tolist()) == {-1.0, 1.0}
    assert set(signs.s.detach().unique().tolist()) == {-1.0, 1.0}
    x = torch.randn(5, 6)
    members = ones(expand_members(x, 3))
    # with adapters of ones the members differ only by their biases
    shared = (x @ ones.weight.T).unsqueeze(1).expand(-1, 3, -1)
    torch.testing.assert_close(members - ones.bias, shared)


def test_from_linear_starts_every_member_as_the_layer():
    linear = nn.Linear(5, 3)
    layer = BatchEnsembleLinear.from_linear(linear, 4)
    x = torch.randn(9, 5)
    out = layer(expand_members(x, 4))
    for i in range(4):
        torch.testing.assert_close(out[:, i], linear(x))


def test_whole_mlp_of_members_runs_as_one_network():
    k = 3
    torch.manual_seed(0)
    members = [nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2)) for _ in range(k)]
    batched = nn.Sequential(
        MemberLinear.from_linears([m[0] for m in members]),
        nn.ReLU(),
        MemberLinear.from_linears([m[2] for m in members]),
    )
    x = torch.randn(10, 4)
    out = batched(expand_members(x, k))
    for i, member in enumerate(members):
        torch.testing.assert_close(out[:, i], member(x))


def test_members_linear_without_bias_and_checks():
    x = torch.randn(3, 5, 4)
    weight = torch.randn(3, 4, 2)
    expected = torch.stack([x[i] @ weight[i] for i in range(3)])
    torch.testing.assert_close(members_linear(x, weight), expected)
    with pytest.raises(ValueError, match="input features"):
        members_linear(torch.randn(3, 5, 6), weight)
    with pytest.raises(ValueError, match="bias must have shape"):
        members_linear(x, weight, torch.zeros(2, 2))


@pytest.mark.parametrize("layer", [BatchEnsembleLinear(5, 3, 4), MemberLinear(5, 3, 4)])
def test_wrong_input_shape_is_a_clear_error(layer):
    with pytest.raises(ValueError, match=r"\(n, 4, 5\)"):
        layer(torch.randn(7, 5))
    with pytest.raises(ValueError, match=r"\(n, 4, 5\)"):
        layer(torch.randn(7, 2, 5))


def test_bad_sizes_and_options():
    with pytest.raises(ValueError, match="n_members"):
        BatchEnsembleLinear(5, 3, 0)
    with pytest.raises(ValueError, match="adapter_init"):
        BatchEnsembleLinear(5, 3, 2, adapter_init="zeros")
    with pytest.raises(ValueError, match="same shape"):
        MemberLinear.from_linears([nn.Linear(5, 3), nn.Linear(5, 4)])
    with pytest.raises(ValueError, match=r"\(n, d\)"):
        expand_members(torch.randn(2, 3, 4), 2)


def test_registry_builds_both_layers_and_state_dict_round_trips():
    shared = ENSEMBLE_LAYERS.build("shared", in_features=5, out_features=3, n_members=4)
    independent = ENSEMBLE_LAYERS.build("independent", in_features=5, out_features=3, n_members=4)
    assert isinstance(shared, BatchEnsembleLinear) and isinstance(independent, MemberLinear)
    copy = MemberLinear(5, 3, 4)
    copy.load_state_dict(independent.state_dict())
    x = torch.randn(2, 4, 5)
    torch.testing.assert_close(copy(x), independent(x))
