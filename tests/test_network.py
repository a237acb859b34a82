import pytest
import torch
from torch import nn

from skdnn.network import MLPSpec, build_mlp, hidden_blocks, kernels


def spec(**overrides):
    base = dict(n_features=8, hidden_layer_sizes=(16, 12), n_outputs=3)
    return MLPSpec(**{**base, **overrides})


def generator(seed=0):
    return torch.Generator().manual_seed(seed)


def test_blocks_named_and_shaped():
    net = build_mlp(spec(), generator=generator())
    assert [name for name, _ in net.named_children()] == ["input", "hidden1", "hidden2", "output"]
    assert net(torch.randn(5, 8)).shape == (5, 3)
    assert [b.linear.out_features for b in hidden_blocks(net)] == [16, 12]
    assert len(kernels(net)) == 3


@pytest.mark.parametrize("position", ["before", "after"])
def test_batch_norm_position_and_bias(position):
    net = build_mlp(spec(normalization="batch", normalization_position=position))
    block = net.hidden1
    names = [name for name, _ in block.named_children()]
    if position == "before":
        assert names == ["linear", "norm", "activation"]
        assert block.linear.bias is None  # BN's shift replaces the bias
    else:
        assert names == ["linear", "activation", "norm"]
        assert block.linear.bias is not None
    assert isinstance(block.norm, nn.BatchNorm1d)
    assert block.norm.momentum == pytest.approx(0.01)  # Keras 0.99 == torch 0.01


def test_layer_norm_keeps_bias():
    net = build_mlp(spec(normalization="layer"))
    assert isinstance(net.hidden1.norm, nn.LayerNorm)
    assert net.hidden1.linear.bias is not None


def test_input_normalization_and_dropouts():
    net = build_mlp(spec(input_normalization=True, input_dropout=0.2, dropout=0.3))
    assert isinstance(net.input.norm, nn.BatchNorm1d)
    assert net.input.dropout.p == pytest.approx(0.2)
    assert net.hidden1.dropout.p == pytest.approx(0.3)
    assert not hasattr(net.output, "dropout")


def test_selu_gets_alpha_dropout_and_lecun_init():
    net = build_mlp(spec(activation="selu", dropout=0.1, hidden_layer_sizes=(400,), n_features=400),
                    generator=generator())
    assert isinstance(net.hidden1.dropout, nn.AlphaDropout)
    # LeCun normal: variance 1 / fan_in
    assert net.hidden1.linear.weight.var().item() == pytest.approx(1 / 400, rel=0.05)


def test_same_generator_same_weights():
    a = build_mlp(spec(), generator=generator(3))
    b = build_mlp(spec(), generator=generator(3))
    c = build_mlp(spec(), generator=generator(4))
    assert torch.equal(a.hidden1.linear.weight, b.hidden1.linear.weight)
    assert not torch.equal(a.hidden1.linear.weight, c.hidden1.linear.weight)


def test_spec_round_trip():
    original = spec(activation_params={"alpha": 0.2}, activation="leaky_relu")
    assert MLPSpec.from_dict(original.to_dict()) == original


def test_no_hidden_layers_is_a_linear_model():
    net = build_mlp(spec(hidden_layer_sizes=()))
    assert [name for name, _ in net.named_children()] == ["input", "output"]
    assert net(torch.randn(2, 8)).shape == (2, 3)


def test_kernels_can_leave_out_the_output_block():
    from skdnn.network import OUTPUT_BLOCK

    network = build_mlp(MLPSpec(n_features=4, hidden_layer_sizes=(3, 2), n_outputs=5))
    every = kernels(network)
    hidden = kernels(network, exclude=(OUTPUT_BLOCK,))
    assert [k.shape for k in every] == [(3, 4), (2, 3), (5, 2)]
    assert [k.shape for k in hidden] == [(3, 4), (2, 3)]
    assert all(a is b for a, b in zip(hidden, every[:2], strict=True))
    assert len(kernels(network, exclude=("no_such_block",))) == 3
