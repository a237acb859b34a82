import copy

import numpy as np
import pytest
import torch

from skdnn.components.momentum import MomentumSGD
from skdnn.components.optimizers import FTRL, OPTIMIZERS, build_optimizer
from skdnn.exceptions import UnknownComponentError

FUSED = ["sgd", "adagrad", "adam", "adamw"]
TORCH_CLASSES = {
    "sgd": torch.optim.SGD,
    "momentum": MomentumSGD,
    "nesterov": MomentumSGD,
    "adagrad": torch.optim.Adagrad,
    "rmsprop": torch.optim.RMSprop,
    "adam": torch.optim.Adam,
    "adamax": torch.optim.Adamax,
    "nadam": torch.optim.NAdam,
    "adamw": torch.optim.AdamW,
    "ftrl": FTRL,
}


def logistic_data(n_samples=200, n_features=20, n_informative=3, seed=0):
    """Binary labels from a sparse linear model (only the first few features matter)."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n_samples, n_features))
    coef = np.zeros(n_features)
    coef[:n_informative] = [2.0, -3.0, 1.5][:n_informative]
    y = (X @ coef + 0.3 * rng.normal(size=n_samples) > 0).astype(float)
    return X, y


def logistic_loss(weight, X, y):
    return torch.nn.functional.binary_cross_entropy_with_logits(X @ weight, y)


def train(optimizer, weight, X, y, steps):
    for _ in range(steps):
        optimizer.zero_grad()
        logistic_loss(weight, X, y).backward()
        optimizer.step()
    return logistic_loss(weight, X, y).item()


def test_registry_holds_the_api_names():
    assert OPTIMIZERS.names() == sorted(TORCH_CLASSES)


@pytest.mark.parametrize("name", sorted(TORCH_CLASSES))
def test_every_optimizer_builds_its_class_and_fits(name):
    X, y = map(torch.tensor, logistic_data())
    weight = torch.zeros(X.shape[1], dtype=torch.float64, requires_grad=True)
    optimizer = build_optimizer(name, [weight], learning_rate=0.5)
    assert type(optimizer) is TORCH_CLASSES[name]
    initial = logistic_loss(weight, X, y).item()
    assert train(optimizer, weight, X, y, steps=20) < 0.5 * initial


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("sgd", {"momentum": 0.0, "nesterov": False}),
        ("momentum", {"momentum": 0.8, "nesterov": False}),
        ("nesterov", {"momentum": 0.8, "nesterov": True}),
        ("adagrad", {"eps": 1e-5}),
        ("rmsprop", {"alpha": 0.7, "eps": 1e-5, "momentum": 0}),
        ("adam", {"betas": (0.85, 0.99), "eps": 1e-5}),
        ("adamax", {"betas": (0.85, 0.99), "eps": 1e-5}),
        ("nadam", {"betas": (0.85, 0.99), "eps": 1e-5}),
        ("adamw", {"betas": (0.85, 0.99), "eps": 1e-5}),
    ],
)
def test_keras_hyperparameters_map_to_torch_keywords(name, expected):
    optimizer = build_optimizer(
        name,
        [torch.nn.Parameter(torch.zeros(3))],
        learning_rate=0.02,
        momentum=0.8,
        beta_1=0.85,
        beta_2=0.99,
        rho=0.7,
        epsilon=1e-5,
    )
    group = optimizer.param_groups[0]
    assert group["lr"] == 0.02
    assert {key: group[key] for key in expected} == expected


@pytest.mark.parametrize("name", FUSED)
def test_fused_kernel_on_cpu_matches_the_reference_implementation(name):
    torch.manual_seed(0)
    fused = [torch.nn.Parameter(torch.randn(4, 3)), torch.nn.Parameter(torch.randn(4))]
    plain = [torch.nn.Parameter(p.detach().clone()) for p in fused]
    optimizer = build_optimizer(name, fused, learning_rate=0.05)
    assert optimizer.param_groups[0]["fused"] is True
    reference = type(optimizer)(plain)  # same settings, single-tensor implementation
    settings = {k: v for k, v in optimizer.param_groups[0].items() if k != "params"}
    reference.param_groups[0].update(settings, fused=None, foreach=False)
    for step in range(15):
        for a, b in zip(fused, plain, strict=True):
            a.grad = torch.full_like(a, 0.1 * step - 0.4) + a.detach() ** 2
            b.grad = a.grad.clone()
        optimizer.step()
        reference.step()
    for a, b in zip(fused, plain, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


def test_multi_tensor_path_without_a_fused_kernel():
    param = torch.nn.Parameter(torch.zeros(3))
    for name in ("rmsprop", "adamax", "nadam", "momentum", "nesterov"):
        group = build_optimizer(name, [param], learning_rate=0.1).param_groups[0]
        assert group["foreach"] is True
        assert not group.get("fused")
    # Not all floating point: no fused kernel, but still the multi-tensor path.
    counts = torch.zeros(3, dtype=torch.long)
    group = build_optimizer("adam", [param, counts], learning_rate=0.1).param_groups[0]
    assert not group["fused"] and group["foreach"] is True
    # differentiable=True rules out both fast paths.
    extra = {"differentiable": True}
    group = build_optimizer("adam", [param], learning_rate=0.1, optimizer_params=extra)
    assert not group.param_groups[0]["fused"] and not group.param_groups[0]["foreach"]
    # A device with neither: leave the choice to torch.
    meta = torch.device("meta")
    group = build_optimizer("adam", [param], learning_rate=0.1, device=meta).param_groups[0]
    assert not group["fused"] and not group["foreach"]


def test_optimizer_params_reach_the_optimizer():
    param = torch.nn.Parameter(torch.zeros(3))
    extra = {"weight_decay": 0.01, "amsgrad": True}
    group = build_optimizer("adam", [param], learning_rate=0.1, optimizer_params=extra)
    assert group.param_groups[0]["weight_decay"] == 0.01
    assert group.param_groups[0]["amsgrad"] is True
    extra = {"l1_regularization_strength": 0.1, "beta": 1.0, "learning_rate_power": -0.3}
    ftrl = build_optimizer("ftrl", [param], learning_rate=0.1, optimizer_params=extra)
    assert ftrl.param_groups[0]["l1_regularization_strength"] == 0.1
    assert ftrl.param_groups[0]["learning_rate_power"] == -0.3


@pytest.mark.parametrize(
    ("name", "key", "hint"),
    [
        ("adam", "lr", "learning_rate"),
        ("adam", "betas", "beta_1 and beta_2"),
        ("adam", "eps", "epsilon"),
        ("adam", "beta_1", "top-level"),
        ("rmsprop", "alpha", "rho"),
        ("momentum", "momentum", "momentum"),
        ("momentum", "nesterov", "optimizer='nesterov'"),
        ("sgd", "fused", "fastest implementation"),
        ("ftrl", "learning_rate", "top-level"),
    ],
)
def test_keywords_set_by_skdnn_are_rejected_with_a_hint(name, key, hint):
    with pytest.raises(ValueError, match=hint):
        build_optimizer(
            name,
            [torch.zeros(2, requires_grad=True)],
            learning_rate=0.1,
            optimizer_params={key: 1},
        )


def test_unknown_keywords_list_the_accepted_ones():
    with pytest.raises(ValueError, match=r"'momentm'.*accepted: .*'weight_decay'"):
        build_optimizer(
            "rmsprop",
            [torch.zeros(2, requires_grad=True)],
            learning_rate=0.1,
            optimizer_params={"momentm": 0.5},
        )
    with pytest.raises(ValueError, match="accepted: 'beta', 'initial_accumulator_value'"):
        build_optimizer(
            "ftrl",
            [torch.zeros(2, requires_grad=True)],
            learning_rate=0.1,
            optimizer_params={"weight_decay": 0.5},
        )


def test_unknown_optimizer_name():
    with pytest.raises(
        UnknownComponentError, match=r"'adma'\. Valid values are: 'adagrad', 'adam'"
    ):
        build_optimizer("adma", [torch.zeros(2, requires_grad=True)], learning_rate=0.1)


def test_parameter_groups_and_generators():
    first, second = torch.nn.Parameter(torch.zeros(2)), torch.nn.Parameter(torch.zeros(3))
    groups = [{"params": iter([first])}, {"params": second, "lr": 0.5}]
    optimizer = build_optimizer("adam", groups, learning_rate=0.1)
    assert [g["lr"] for g in optimizer.param_groups] == [0.1, 0.5]
    assert optimizer.param_groups[0]["params"] == [first]
    assert optimizer.param_groups[1]["fused"] is True
    optimizer = build_optimizer("nadam", (p for p in [first, second]), learning_rate=0.1)
    assert len(optimizer.param_groups[0]["params"]) == 2


def ftrl_reference(w0, X, y, steps, *, lr, power, initial, l1, l2, beta):
    """FTRL-Proximal per coordinate, as published (TensorFlow's l2 and power)."""
    w, z, n = w0.copy(), np.zeros_like(w0), np.full_like(w0, initial)
    trajectory = []
    for _ in range(steps):
        g = X.T @ (1 / (1 + np.exp(-X @ w)) - y) / len(y)
        sigma = ((n + g * g) ** -power - n**-power) / lr
        z += g - sigma * w
        n += g * g
        for i in range(len(w)):
            if abs(z[i]) <= l1:
                w[i] = 0.0
            else:
                w[i] = -(z[i] - np.sign(z[i]) * l1) / ((beta + n[i] ** -power) / lr + 2 * l2)
        trajectory.append(w.copy())
    return np.array(trajectory)


@pytest.mark.parametrize(
    "settings",
    [
        {"lr": 0.5, "power": -0.5, "initial": 0.1, "l1": 0.0, "l2": 0.0, "beta": 0.0},
        {"lr": 0.3, "power": -0.5, "initial": 0.1, "l1": 0.02, "l2": 0.01, "beta": 1.0},
        {"lr": 0.2, "power": -0.3, "initial": 0.5, "l1": 0.005, "l2": 0.0, "beta": 0.5},
        {"lr": 0.1, "power": 0.0, "initial": 0.0, "l1": 0.01, "l2": 0.1, "beta": 0.0},
    ],
)
def test_ftrl_follows_the_published_update(settings):
    X, y = logistic_data(n_features=6)
    w0 = np.random.default_rng(1).normal(size=X.shape[1])
    expected = ftrl_reference(w0, X, y, 25, **settings)
    weight = torch.tensor(w0, requires_grad=True)
    optimizer = FTRL(
        [weight],
        lr=settings["lr"],
        learning_rate_power=settings["power"],
        initial_accumulator_value=settings["initial"],
        l1_regularization_strength=settings["l1"],
        l2_regularization_strength=settings["l2"],
        beta=settings["beta"],
    )
    X_t, y_t = torch.tensor(X), torch.tensor(y)
    for step in range(25):
        optimizer.zero_grad()
        logistic_loss(weight, X_t, y_t).backward()
        optimizer.step()
        np.testing.assert_allclose(weight.detach().numpy(), expected[step], atol=1e-5, rtol=0)


def test_ftrl_with_l1_gives_exact_zeros_where_adam_and_sgd_do_not():
    X, y = map(torch.tensor, logistic_data(n_features=30))
    zeros, losses = {}, {}
    for name, extra in [("ftrl", {"l1_regularization_strength": 5.0}), ("adam", {}), ("sgd", {})]:
        weight = torch.zeros(X.shape[1], dtype=torch.float64, requires_grad=True)
        optimizer = build_optimizer(name, [weight], learning_rate=0.5, optimizer_params=extra)
        losses[name] = train(optimizer, weight, X, y, steps=100)
        zeros[name] = int((weight == 0).sum())
        if name == "ftrl":  # the informative features survive, most others are exactly 0
            assert (weight[:3] != 0).all()
    assert zeros["ftrl"] >= 25  # of the 27 uninformative features
    assert zeros["adam"] == zeros["sgd"] == 0
    assert losses["ftrl"] < 0.25


@pytest.mark.parametrize(
    "bad",
    [
        {"lr": 0.0},
        {"learning_rate_power": 0.5},
        {"initial_accumulator_value": -0.1},
        {"l1_regularization_strength": -1.0},
        {"l2_regularization_strength": -1.0},
        {"beta": -1.0},
    ],
)
def test_ftrl_rejects_invalid_settings(bad):
    with pytest.raises(ValueError, match=next(iter(bad))):
        FTRL([torch.zeros(2, requires_grad=True)], **bad)


def test_ftrl_state_round_trip_continues_the_trajectory():
    X, y = map(torch.tensor, logistic_data(n_features=5))
    first = torch.zeros(5, dtype=torch.float64, requires_grad=True)
    optimizer = FTRL([first], lr=0.3, l1_regularization_strength=0.01)
    train(optimizer, first, X, y, steps=10)
    second = first.detach().clone().requires_grad_()
    restored = FTRL([second], lr=0.3, l1_regularization_strength=0.01)
    restored.load_state_dict(copy.deepcopy(optimizer.state_dict()))
    train(optimizer, first, X, y, steps=5)
    train(restored, second, X, y, steps=5)
    torch.testing.assert_close(first, second, rtol=0, atol=0)


def test_ftrl_step_with_zero_rate_changes_nothing():
    X, y = map(torch.tensor, logistic_data(n_features=5))
    weight = torch.ones(5, dtype=torch.float64, requires_grad=True)
    optimizer = FTRL([weight], lr=0.3)
    train(optimizer, weight, X, y, steps=3)
    before = copy.deepcopy(optimizer.state_dict()), weight.detach().clone()
    optimizer.param_groups[0]["lr"] = 0.0  # e.g. the end of a cosine schedule
    train(optimizer, weight, X, y, steps=1)
    assert torch.equal(weight, before[1])
    assert torch.equal(optimizer.state[weight]["linear"], before[0]["state"][0]["linear"])


@pytest.mark.parametrize("l1", [0.0, 0.01])
def test_ftrl_without_initial_accumulator_zeroes_weights_that_get_no_gradient(l1):
    # A constant-zero feature (or a dead ReLU) gives its weights exact zero
    # gradients; with n = 0 the update is 0 / 0. McMahan et al.'s Algorithm 1
    # sets such weights to 0 (|z| = 0 <= l1), without NaN.
    X, y = logistic_data(n_features=6)
    X[:, [1, 4]] = 0.0
    w0 = np.random.default_rng(1).normal(size=X.shape[1])
    settings = {"lr": 0.5, "power": -0.5, "initial": 0.0, "l1": l1, "l2": 0.0, "beta": 0.0}
    expected = ftrl_reference(w0, X, y, 10, **settings)
    weight = torch.tensor(w0, requires_grad=True)
    optimizer = FTRL([weight], lr=0.5, initial_accumulator_value=0.0, l1_regularization_strength=l1)
    X_t, y_t = torch.tensor(X), torch.tensor(y)
    for step in range(10):
        optimizer.zero_grad()
        logistic_loss(weight, X_t, y_t).backward()
        optimizer.step()
        np.testing.assert_allclose(weight.detach().numpy(), expected[step], atol=1e-5, rtol=0)
    assert weight[1].item() == weight[4].item() == 0.0
    assert torch.isfinite(weight).all() and (weight[[0, 2]] != 0).all()


def test_ftrl_keeps_a_nan_gradient_visible():
    # The zero-gradient rule must not hide a real numerical failure.
    weight = torch.ones(3, requires_grad=True)
    optimizer = FTRL([weight], lr=0.5, initial_accumulator_value=0.0)
    weight.grad = torch.tensor([float("nan"), 0.0, 1.0])
    optimizer.step()
    assert torch.isnan(weight[0]) and weight[1].item() == 0.0 and torch.isfinite(weight[2])
