import math

import pytest
import torch
from torch import nn

from skdnn.components.activations import ACTIVATIONS, make_activation
from skdnn.exceptions import UnknownComponentError

SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946

Z = [-6.0 + 0.01 * i for i in range(1201)]  # [-6, 6], includes 0


def softplus(z):
    return math.log1p(math.exp(z))


def logistic(z):
    return 1.0 / (1.0 + math.exp(-z))


FORMULAS = {
    "relu": lambda z: max(0.0, z),
    "leaky_relu": lambda z: max(0.01 * z, z),
    "rrelu": lambda z: z if z >= 0 else z * (1 / 8 + 1 / 3) / 2,  # evaluation: mean slope
    "prelu": lambda z: z if z >= 0 else 0.25 * z,
    "elu": lambda z: z if z > 0 else math.exp(z) - 1.0,
    "selu": lambda z: SELU_SCALE * (z if z > 0 else SELU_ALPHA * (math.exp(z) - 1.0)),
    "tanh": lambda z: (math.exp(z) - math.exp(-z)) / (math.exp(z) + math.exp(-z)),
    "logistic": logistic,
    "softplus": softplus,
    "gelu": lambda z: z * 0.5 * (1.0 + math.erf(z / math.sqrt(2.0))),
    "silu": lambda z: z * logistic(z),
    "mish": lambda z: z * math.tanh(softplus(z)),
    "identity": lambda z: z,
}


def apply(module, values=Z):
    module.eval()
    with torch.no_grad():
        return module(torch.tensor(values, dtype=torch.float32).reshape(-1, 1)).flatten()


@pytest.mark.parametrize("name", sorted(FORMULAS))
def test_matches_formula(name):
    expected = torch.tensor([FORMULAS[name](z) for z in Z], dtype=torch.float32)
    torch.testing.assert_close(apply(make_activation(name)), expected, rtol=1e-5, atol=1e-6)


def test_every_activation_has_a_formula():
    assert set(ACTIVATIONS.names(aliases=False)) == set(FORMULAS)


@pytest.mark.parametrize(("alias", "name"), [("sigmoid", "logistic"), ("swish", "silu")])
def test_aliases(alias, name):
    torch.testing.assert_close(apply(make_activation(alias)), apply(make_activation(name)))


@pytest.mark.parametrize(
    ("name", "params", "formula"),
    [
        ("leaky_relu", {"alpha": 0.2}, lambda z: max(0.2 * z, z)),
        ("elu", {"alpha": 0.5}, lambda z: z if z > 0 else 0.5 * (math.exp(z) - 1.0)),
        ("prelu", {"init": 0.1}, lambda z: z if z >= 0 else 0.1 * z),
        ("rrelu", {"lower": 0.1, "upper": 0.3}, lambda z: z if z >= 0 else 0.2 * z),
    ],
)
def test_params(name, params, formula):
    expected = torch.tensor([formula(z) for z in Z], dtype=torch.float32)
    torch.testing.assert_close(apply(make_activation(name, params)), expected)


def test_rrelu_random_slope_in_training_mean_slope_in_evaluation():
    module = make_activation("rrelu", {"lower": 0.1, "upper": 0.3})
    z = -torch.linspace(1.0, 2.0, 2000)
    with torch.random.fork_rng():
        torch.manual_seed(0)
        slopes = module.train()(z) / z
    assert slopes.min().item() >= 0.1
    assert slopes.max().item() <= 0.3
    assert slopes.std().item() == pytest.approx(0.2 / math.sqrt(12), rel=0.1)  # U(0.1, 0.3)
    torch.testing.assert_close(module.eval()(z) / z, torch.full_like(z, 0.2))
    positive = torch.linspace(0.0, 3.0, 50)
    torch.testing.assert_close(module.train()(positive), positive)


def test_prelu_learns_one_slope_per_unit():
    module = make_activation("prelu", num_features=3)
    assert module.weight.shape == (3,)
    torch.testing.assert_close(module.weight.detach(), torch.full((3,), 0.25))
    z = torch.tensor([[-1.0, 2.0, -3.0], [-0.5, -4.0, 1.0]])
    module(z).sum().backward()
    # d/da of a * z summed over the negative entries of each unit
    torch.testing.assert_close(module.weight.grad, torch.tensor([-1.5, -4.0, -3.0]))
    torch.optim.SGD(module.parameters(), lr=0.1).step()
    torch.testing.assert_close(module.weight.detach(), torch.tensor([0.4, 0.65, 0.55]))


def test_fresh_module_each_call():
    first, second = make_activation("prelu"), make_activation("prelu")
    assert first is not second
    assert first.weight is not second.weight
    assert isinstance(make_activation("identity"), nn.Identity)


@pytest.mark.parametrize(
    ("name", "params", "match"),
    [
        ("relu", {"alpha": 0.1}, r"'alpha' for activation 'relu' \(activation_params\); accepted"),
        ("sigmoid", {"inplace": True}, r"'inplace' for activation 'logistic'.*accepted: none"),
        ("identity", {"x": 1}, r"'x' for activation 'identity'.*accepted: none"),
        ("leaky_relu", {"negative_slope": 0.1}, r"'negative_slope'.*accepted: 'alpha'"),
        ("rrelu", {"alpha": 0.1}, r"accepted: 'lower', 'upper'"),
        ("prelu", {"num_features": 4}, r"'num_features'.*accepted: 'init'\."),
        ("rrelu", {"lower": 0.5, "upper": 0.1}, r"0 <= 'lower' <= 'upper'"),
        # Values of the wrong kind: named with the setting and the key, not torch's TypeError.
        ("leaky_relu", {"alpha": "x"}, r"activation_params\['alpha'\] of activation 'leaky_relu' "
         r"must be a finite real number; got 'x'"),
        ("elu", {"alpha": [1.0]}, r"activation_params\['alpha'\].*got \[1.0\]"),
        ("elu", {"alpha": float("nan")}, r"activation_params\['alpha'\].*finite"),
        ("prelu", {"init": True}, r"activation_params\['init'\]"),
        ("rrelu", {"upper": None}, r"activation_params\['upper'\]"),
    ],
)
def test_bad_params(name, params, match):
    with pytest.raises(ValueError, match=match):
        make_activation(name, params)


def test_unknown_name():
    with pytest.raises(UnknownComponentError, match=r"'rleu'.*'elu'.*'relu'.*Did you mean"):
        make_activation("rleu")


def test_registry_names_are_the_api():
    assert ACTIVATIONS.names() == sorted(
        ["relu", "leaky_relu", "rrelu", "prelu", "elu", "selu", "tanh", "logistic", "sigmoid",
         "softplus", "gelu", "silu", "swish", "mish", "identity"]
    )  # fmt: skip


@pytest.mark.parametrize("name", sorted(FORMULAS))
def test_entry_describes_the_module_it_builds(name):
    from skdnn._utils.module_spec import build_module, describe_module
    from skdnn.components.activations import activation_of

    component = ACTIVATIONS.resolve(name)
    module = make_activation(name)
    assert type(module) is component.module_type
    assert activation_of(module) is component
    rebuilt = build_module(describe_module(module))
    assert type(rebuilt) is type(module)
    torch.testing.assert_close(apply(rebuilt), apply(module))


def test_health_probes_and_fast_paths_are_where_the_chapter_puts_them():
    with_probe = {n for n in FORMULAS if ACTIVATIONS.resolve(n).health is not None}
    assert with_probe == {"relu", "tanh", "logistic"}
    fast = {n for n in FORMULAS if ACTIVATIONS.resolve(n).fast_backward is not None}
    assert fast == {"relu", "leaky_relu", "elu", "selu", "tanh", "logistic"}
    dead = ACTIVATIONS.resolve("relu").health(torch.tensor([[0.0, 1.0], [0.0, 2.0]]))
    assert dead.item() == 0.5  # the first unit never fires
