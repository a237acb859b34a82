import pytest
import torch
from torch import nn

from skdnn.components.normalization import (
    EPSILON,
    NORMALIZATIONS,
    KerasBatchNorm1d,
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
        # v <- v * momentum + batch statistic * (1 - momentum), with the batch
        # variance of Eq. 11-3 (divided by the batch size, as Keras does)
        mean = mean * momentum + x.mean(0) * (1 - momentum)
        var = var * momentum + x.var(0, unbiased=False) * (1 - momentum)
    torch.testing.assert_close(layer.running_mean, mean)
    torch.testing.assert_close(layer.running_var, var)
    assert layer.num_batches_tracked.item() == 6


@pytest.mark.parametrize("momentum", [0.99, 0.9, 0.0])
def test_one_step_at_batch_32_averages_the_biased_variance(momentum):
    layer = make_normalization("batch", 4, momentum=momentum).train()
    x = batches(1, batch_size=32)[0].float()
    layer(x)
    biased = x.var(0, unbiased=False)
    # from the initial 1; torch's unbiased variance is 32/31 times larger, which
    # the float32 tolerance of assert_close (1.3e-6) tells apart even at 0.99
    torch.testing.assert_close(layer.running_var, momentum * 1.0 + (1 - momentum) * biased)


def test_running_variance_of_a_3d_input_counts_every_position():
    layer = make_normalization("batch", 3, momentum=0.0).double().train()
    x = torch.randn(5, 3, 7, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    layer(x)
    torch.testing.assert_close(layer.running_var, x.var((0, 2), unbiased=False))


def test_failed_forward_leaves_the_running_variance_unchanged():
    layer = make_normalization("batch", 4).train()
    before = layer.running_var.clone()
    with pytest.raises(RuntimeError):
        layer(torch.ones(8, 5))  # wrong width
    torch.testing.assert_close(layer.running_var, before, rtol=0, atol=0)


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


def test_batch_norm_survives_saving_and_folding(tmp_path):
    from skdnn._utils.module_spec import build_module, describe_module
    from skdnn.training.batch_norm_folding import fold_batch_norm

    layer = make_normalization("batch", 4, momentum=0.5)
    for x in batches():
        layer(x.float())
    rebuilt = build_module(describe_module(nn.Sequential(layer)))
    assert type(rebuilt[0]) is KerasBatchNorm1d
    rebuilt.load_state_dict(nn.Sequential(layer).state_dict())
    x = batches(1, seed=3)[0].float()
    network = nn.Sequential(nn.Linear(4, 4), layer).eval()
    folded = fold_batch_norm(network)
    assert not any(isinstance(m, nn.BatchNorm1d) for m in folded.modules())
    torch.testing.assert_close(folded(x), network(x))
    torch.testing.assert_close(rebuilt.eval()(x), layer.eval()(x))
