import pytest
import torch
from torch import nn

from skdnn.components.dropout import DROPOUT_TYPES, make_dropout, resolve_dropout_type
from skdnn.exceptions import UnknownComponentError


def run(module, x, *, seed=0):
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        return module(x)


def test_standard_dropout_scales_survivors():
    rate = 0.3
    module = make_dropout("standard", rate).train()
    y = run(module, torch.ones(200_000))
    dropped = y == 0
    torch.testing.assert_close(y[~dropped], torch.full_like(y[~dropped], 1 / (1 - rate)))
    assert dropped.float().mean().item() == pytest.approx(rate, abs=0.005)
    assert y.mean().item() == pytest.approx(1.0, abs=0.01)


def test_alpha_dropout_keeps_mean_and_variance():
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(200_000, generator=generator)
    module = make_dropout("alpha", 0.2).train()
    y = run(module, x)
    assert (y != x).float().mean().item() > 0.15  # it does drop
    assert y.mean().item() == pytest.approx(0.0, abs=0.01)
    assert y.var().item() == pytest.approx(1.0, abs=0.02)
    # standard dropout inflates the variance: 1 / (1 - rate)
    z = run(make_dropout("standard", 0.2).train(), x)
    assert z.var().item() == pytest.approx(1.25, abs=0.03)


@pytest.mark.parametrize("dropout_type", ["standard", "alpha"])
def test_identity_in_evaluation(dropout_type):
    x = torch.randn(1000, generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(make_dropout(dropout_type, 0.5).eval()(x), x, rtol=0, atol=0)


@pytest.mark.parametrize(
    ("dropout_type", "activation", "expected"),
    [
        ("auto", "selu", "alpha"),
        ("auto", "relu", "standard"),
        ("auto", "elu", "standard"),
        ("standard", "selu", "standard"),
        ("alpha", "relu", "alpha"),
    ],
)
def test_resolve(dropout_type, activation, expected):
    assert resolve_dropout_type(dropout_type, activation) == expected
    module_type = {"alpha": nn.AlphaDropout, "standard": nn.Dropout}[expected]
    module = make_dropout(dropout_type, 0.1, activation=activation)
    assert type(module) is module_type
    assert module.p == 0.1


@pytest.mark.parametrize(
    ("activation", "module_type"), [("selu", nn.AlphaDropout), ("tanh", nn.Dropout)]
)
def test_auto_component_builds_for_an_activation(activation, module_type):
    module = DROPOUT_TYPES.build("auto", rate=0.2, activation=activation)
    assert type(module) is module_type
    assert module.p == 0.2


@pytest.mark.parametrize("rate", [-0.1, 1.0, 1.5])
def test_bad_rate(rate):
    with pytest.raises(ValueError, match=r"rate must be in \[0, 1\)"):
        make_dropout("standard", rate)


def test_unknown_names():
    assert DROPOUT_TYPES.names() == ["alpha", "auto", "standard"]
    with pytest.raises(UnknownComponentError, match=r"'alpah'.*Did you mean 'alpha'"):
        make_dropout("alpah", 0.1)
    with pytest.raises(UnknownComponentError, match="Unknown activation 'sleu'"):
        resolve_dropout_type("auto", "sleu")
