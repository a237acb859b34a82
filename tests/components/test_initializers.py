import math

import pytest
import torch

from skdnn.components.activations import ACTIVATIONS
from skdnn.components.initializers import (
    AUTO_INITIALIZERS,
    INITIALIZERS,
    TRUNCATED_NORMAL_STD,
    initialize_kernel,
    resolve_initializer,
)
from skdnn.exceptions import UnknownComponentError

FAN_OUT, FAN_IN = 300, 700  # nn.Linear(700, 300).weight; fans differ so every mode differs
FAN = {"fan_in": FAN_IN, "fan_out": FAN_OUT, "fan_avg": (FAN_IN + FAN_OUT) / 2}


def init(name, params=None, *, seed=0, shape=(FAN_OUT, FAN_IN), activation="relu"):
    weight = torch.empty(shape, dtype=torch.float64)
    generator = torch.Generator().manual_seed(seed)
    initialize_kernel(weight, name, params, activation=activation, generator=generator)
    return weight


def check_distribution(weight, variance, distribution):
    """Mean 0, the expected variance (3 %), and the support of the distribution."""
    std = math.sqrt(variance)
    assert abs(weight.mean().item()) < 0.01 * std
    assert weight.var().item() == pytest.approx(variance, rel=0.03)
    largest = weight.abs().max().item()
    if distribution == "uniform":
        limit = math.sqrt(3 * variance)
        assert limit * 0.999 < largest <= limit
    elif distribution == "truncated_normal":
        assert largest <= 2 * std / TRUNCATED_NORMAL_STD
    else:  # 4.55 % of a normal lies beyond two standard deviations
        assert (weight.abs() > 2 * std).double().mean().item() == pytest.approx(0.0455, abs=0.003)


TABLE_11_1 = [  # name, scale, fan, distribution
    ("glorot_uniform", 1.0, "fan_avg", "uniform"),
    ("glorot_normal", 1.0, "fan_avg", "normal"),
    ("he_uniform", 2.0, "fan_in", "uniform"),
    ("he_normal", 2.0, "fan_in", "normal"),
    ("lecun_uniform", 1.0, "fan_in", "uniform"),
    ("lecun_normal", 1.0, "fan_in", "normal"),
]


@pytest.mark.parametrize(("name", "scale", "mode", "distribution"), TABLE_11_1)
def test_presets_follow_table_11_1(name, scale, mode, distribution):
    check_distribution(init(name), scale / FAN[mode], distribution)


@pytest.mark.parametrize("mode", ["fan_in", "fan_out", "fan_avg"])
@pytest.mark.parametrize("distribution", ["normal", "truncated_normal", "uniform"])
def test_variance_scaling(mode, distribution):
    params = {"scale": 3.0, "mode": mode, "distribution": distribution}
    check_distribution(init("variance_scaling", params), 3.0 / FAN[mode], distribution)


def test_variance_scaling_defaults_are_keras():
    check_distribution(init("variance_scaling"), 1.0 / FAN_IN, "truncated_normal")


def test_random_normal_is_standard_normal():
    weight = init("random_normal")
    assert weight.mean().item() == pytest.approx(0.0, abs=0.01)
    assert weight.std().item() == pytest.approx(1.0, rel=0.01)
    shifted = init("random_normal", {"mean": 2.0, "stddev": 0.5})
    assert shifted.mean().item() == pytest.approx(2.0, abs=0.01)
    assert shifted.std().item() == pytest.approx(0.5, rel=0.01)


@pytest.mark.parametrize("shape", [(50, 120), (120, 50)])
def test_orthogonal(shape):
    weight = init("orthogonal", {"gain": 2.0}, shape=shape)
    small = min(shape)
    gram = weight @ weight.T if shape[0] == small else weight.T @ weight
    torch.testing.assert_close(gram, 4.0 * torch.eye(small, dtype=weight.dtype))


@pytest.mark.parametrize("name", INITIALIZERS.names())
def test_same_seed_same_weights_and_global_rng_untouched(name):
    state = torch.get_rng_state()
    first = init(name, seed=7, shape=(40, 60))
    second = init(name, seed=7, shape=(40, 60))
    assert torch.equal(state, torch.get_rng_state())
    assert torch.equal(first, second)
    assert not torch.equal(first, init(name, seed=8, shape=(40, 60)))


@pytest.mark.parametrize(
    ("activation", "expected"),
    [
        ("tanh", "glorot_uniform"),
        ("logistic", "glorot_uniform"),
        ("sigmoid", "glorot_uniform"),
        ("identity", "glorot_uniform"),
        ("softplus", "glorot_uniform"),
        ("relu", "he_normal"),
        ("leaky_relu", "he_normal"),
        ("rrelu", "he_normal"),
        ("prelu", "he_normal"),
        ("elu", "he_normal"),
        ("gelu", "he_normal"),
        ("silu", "he_normal"),
        ("swish", "he_normal"),
        ("mish", "he_normal"),
        ("selu", "lecun_normal"),
    ],
)
def test_auto_follows_table_11_1(activation, expected):
    assert resolve_initializer("auto", activation) == expected
    torch.testing.assert_close(init("auto", activation=activation), init(expected), rtol=0, atol=0)
    assert INITIALIZERS.build("auto", activation=activation) == INITIALIZERS.build(expected)


def test_auto_covers_every_activation():
    assert set(AUTO_INITIALIZERS) == set(ACTIVATIONS.names(aliases=False))


def test_resolve_canonical_names_and_aliases():
    assert resolve_initializer("xavier_uniform", "selu") == "glorot_uniform"
    assert resolve_initializer("xavier_normal", "relu") == "glorot_normal"
    assert resolve_initializer("orthogonal", "no-such-activation") == "orthogonal"
    torch.testing.assert_close(init("xavier_normal"), init("glorot_normal"), rtol=0, atol=0)


def test_registry_names_are_the_api():
    assert INITIALIZERS.names() == sorted(
        ["auto", "variance_scaling", "orthogonal", "random_normal", "xavier_uniform",
         "xavier_normal"] + [row[0] for row in TABLE_11_1]
    )  # fmt: skip


@pytest.mark.parametrize(
    ("name", "params", "match"),
    [
        ("variance_scaling", {"mode": "fan_sum"}, r"'mode'.*'fan_avg', 'fan_in', 'fan_out'"),
        ("variance_scaling", {"distribution": "gauss"}, r"'distribution'.*'truncated_normal'"),
        ("variance_scaling", {"scale": 0.0}, r"'scale' must be a float > 0"),
        ("variance_scaling", {"scale": "big"}, r"initializer_params\['scale'\].*number; got 'big'"),
        ("variance_scaling", {"mode": 3}, r"initializer_params\['mode'\].*a string; got 3"),
        ("orthogonal", {"gain": "x"}, r"initializer_params\['gain'\] of kernel_initializer"),
        ("random_normal", {"mean": [0.0]}, r"initializer_params\['mean'\]"),
        ("variance_scaling", {"gain": 2.0}, r"'gain'.*accepted: 'distribution', 'mode'"),
        ("random_normal", {"stddev": -1.0}, r"'stddev' must be a float > 0"),
        ("he_normal", {"scale": 2.0}, r"'scale'.*'he_normal' \(initializer_params\); accepted"),
    ],
)
def test_bad_params(name, params, match):
    with pytest.raises(ValueError, match=match):
        init(name, params)


def test_unknown_names():
    with pytest.raises(UnknownComponentError, match=r"'he_norm'.*Did you mean 'he_normal'"):
        init("he_norm")
    with pytest.raises(UnknownComponentError, match=r"Unknown activation 'reLu'"):
        resolve_initializer("auto", "reLu")


def test_vector_rejected():
    with pytest.raises(ValueError, match=r"at least 2 dimensions.*got \(5,\)"):
        init("he_uniform", shape=(5,))
