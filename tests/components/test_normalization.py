import pytest
import torch
from torch import nn

from skdnn.components.normalization import (
    EPSILON,
    NORMALIZATIONS,
    make_normalization,
    torch_momentum,
)
from skdnn.exceptions import UnknownComponentError


def batches(n_batches=6, batch_size=16, n_features=4, seed=0):
    generator = torch.Generator().manual_seed(seed)
    return [
        3.0 + 2.0 * torch.randn(batch_size, n_features, generator=generator, dtype=torch.float64)
        for _ in range(n_batches)
    ]


def test_torch_momentum():
    assert torch_momentum(0.99) == pytest.approx(0.01)
    assert torch_momentum(0.9) == pytest.approx(0.1)
    assert torch_momentum(0.0) == 1.0
    for bad in (-0.1, 1.5):
        with pytest.raises(ValueError, match=r"momentum must be in \[0, 1\]"):
            torch_momentum(bad)


@pytest.mark.parametrize("momentum", [0.99, 0.9])
def test_running_statistics_follow_the_chapter(momentum):
    layer = make_normalization("batch", 4, momentum=momentum).double().train()
    mean, var = torch.zeros(4, dtype=torch.float64), torch.ones(4, dtype=torch.float64)
    for x in batches():
        layer(x)
        # v <- v * momentum + batch statistic * (1 - momentum); torch keeps the
        # unbiased batch variance for the running variance
        mean = mean * momentum + x.mean(0) * (1 - momentum)
        var = var * momentum + x.var(0, unbiased=True) * (1 - momentum)
    torch.testing.assert_close(layer.running_mean, mean)
    torch.testing.assert_close(layer.running_var, var)
    assert layer.num_batches_tracked.item() == 6


def test_training_uses_batch_statistics():
    layer = make_normalization("batch", 4).double().train()
    x = batches(1)[0]
    expected = (x - x.mean(0)) / torch.sqrt(x.var(0, unbiased=False) + EPSILON)
    torch.testing.assert_close(layer(x), expected)


def test_evaluation_uses_running_statistics():
    layer = make_normalization("batch", 4).double()
    for x in batches():
        layer(x)
    with torch.no_grad():
        layer.weight.copy_(torch.tensor([1.0, 2.0, 0.5, -1.0]))
        layer.bias.copy_(torch.tensor([0.0, 1.0, -2.0, 3.0]))
    layer.eval()
    x = batches(1, seed=1)[0]
    scaled = (x - layer.running_mean) / torch.sqrt(layer.running_var + EPSILON)
    torch.testing.assert_close(layer(x), scaled * layer.weight + layer.bias)
    torch.testing.assert_close(layer(x[:1]), layer(x)[:1])  # a batch of one works too


def test_layer_normalization_normalizes_each_sample():
    layer = make_normalization("layer", 4, momentum=0.5).double()
    assert isinstance(layer, nn.LayerNorm)
    x = batches(1)[0]
    mean = x.mean(1, keepdim=True)
    var = x.var(1, unbiased=False, keepdim=True)
    torch.testing.assert_close(layer(x), (x - mean) / torch.sqrt(var + EPSILON))
    torch.testing.assert_close(layer.eval()(x), layer.train()(x))


def test_layers_have_keras_epsilon_and_learned_affine():
    batch, layer = make_normalization("batch", 5), make_normalization("layer", 5)
    assert isinstance(batch, nn.BatchNorm1d)
    assert batch.eps == layer.eps == EPSILON == 1e-3
    assert batch.momentum == pytest.approx(0.01)
    assert sum(p.numel() for p in batch.parameters()) == 10
    assert sum(p.numel() for p in layer.parameters()) == 10


def test_unknown_name_and_bad_momentum():
    assert NORMALIZATIONS.names() == ["batch", "layer"]
    with pytest.raises(UnknownComponentError, match=r"'btach'.*Did you mean 'batch'"):
        make_normalization("btach", 3)
    with pytest.raises(ValueError, match="momentum"):
        make_normalization("batch", 3, momentum=99.0)
