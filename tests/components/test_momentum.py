import copy

import pytest
import torch

from skdnn.components.momentum import MomentumSGD
from skdnn.components.optimizers import build_optimizer

BETA = 0.9
STEPS = 30


def quadratic():
    """A badly conditioned quadratic J(theta) = 0.5 theta' A theta - b' theta (float64)."""
    generator = torch.Generator().manual_seed(0)
    basis, _ = torch.linalg.qr(torch.randn(5, 5, generator=generator, dtype=torch.float64))
    A = basis @ torch.diag(torch.tensor([0.5, 1.0, 2.0, 4.0, 8.0], dtype=torch.float64)) @ basis.T
    b = torch.randn(5, generator=generator, dtype=torch.float64)
    theta0 = torch.randn(5, generator=generator, dtype=torch.float64)
    return A, b, theta0


def gradient(A, b, theta):
    return A @ theta - b


def rising_rate(step):
    return 0.01 * (1 + step)  # 0.01 to 0.3, as in the warm-up of 1cycle


def run(optimizer, param, A, b, rates):
    trajectory = []
    for step in range(len(rates)):
        for group in optimizer.param_groups:
            group["lr"] = rates[step]
        param.grad = gradient(A, b, param.detach())
        optimizer.step()
        trajectory.append(param.detach().clone())
    return trajectory


@pytest.mark.parametrize("foreach", [True, False])
def test_momentum_follows_eq_11_4_under_a_rising_rate(foreach):
    A, b, theta0 = quadratic()
    rates = [rising_rate(t) for t in range(STEPS)]
    theta, m = theta0.clone(), torch.zeros(5, dtype=torch.float64)
    expected = []
    for eta in rates:
        m = BETA * m - eta * gradient(A, b, theta)  # Eq. 11-4
        theta = theta + m
        expected.append(theta)
    param = theta0.clone().requires_grad_()
    optimizer = build_optimizer("momentum", [param], learning_rate=rates[0], momentum=BETA)
    optimizer.param_groups[0]["foreach"] = foreach
    for got, want in zip(run(optimizer, param, A, b, rates), expected, strict=True):
        torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("foreach", [True, False])
def test_nesterov_follows_eq_11_5_under_a_rising_rate(foreach):
    # Eq. 11-5 as printed: the gradient at theta + beta * m. The optimizer stores
    # that look-ahead point (Keras' form), so it is what the weights must equal.
    A, b, theta0 = quadratic()
    rates = [rising_rate(t) for t in range(STEPS)]
    theta, m = theta0.clone(), torch.zeros(5, dtype=torch.float64)
    expected = []
    for eta in rates:
        m = BETA * m - eta * gradient(A, b, theta + BETA * m)
        theta = theta + m
        expected.append(theta + BETA * m)
    param = theta0.clone().requires_grad_()
    optimizer = build_optimizer("nesterov", [param], learning_rate=rates[0], momentum=BETA)
    optimizer.param_groups[0]["foreach"] = foreach
    for got, want in zip(run(optimizer, param, A, b, rates), expected, strict=True):
        torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("name", ["momentum", "nesterov"])
def test_torch_sgd_takes_another_path_under_a_rising_rate(name):
    # Why skdnn has its own class: torch's buffer of summed gradients is rescaled
    # by every new rate, the chapter's velocity is not.
    A, b, theta0 = quadratic()
    rates = [rising_rate(t) for t in range(STEPS)]
    ours, theirs = theta0.clone().requires_grad_(), theta0.clone().requires_grad_()
    chapter = build_optimizer(name, [ours], learning_rate=rates[0], momentum=BETA)
    torch_sgd = torch.optim.SGD([theirs], lr=rates[0], momentum=BETA, nesterov=name == "nesterov")
    gap = (run(chapter, ours, A, b, rates)[-1] - run(torch_sgd, theirs, A, b, rates)[-1]).norm()
    assert gap > 0.1


@pytest.mark.parametrize("nesterov", [False, True])
@pytest.mark.parametrize("foreach", [True, False])
@pytest.mark.parametrize(
    "extra",
    [{}, {"weight_decay": 0.05}, {"maximize": True}, {"weight_decay": 0.1, "maximize": True}],
)
def test_agrees_with_torch_sgd_under_a_constant_rate(nesterov, foreach, extra):
    A, b, theta0 = quadratic()
    if extra.get("maximize"):
        A, b = -A, -b  # ascend -J: the same path as descending J
    rates = [0.05] * STEPS
    ours = [theta0.clone().requires_grad_()]
    theirs = [theta0.clone().requires_grad_()]
    chapter = MomentumSGD(ours, lr=0.05, momentum=BETA, nesterov=nesterov, foreach=foreach, **extra)
    torch_sgd = torch.optim.SGD(theirs, lr=0.05, momentum=BETA, nesterov=nesterov, **extra)
    for got, want in zip(
        run(chapter, ours[0], A, b, rates), run(torch_sgd, theirs[0], A, b, rates), strict=True
    ):
        torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-10)


def test_each_hyperparameter_changes_the_step():
    A, b, theta0 = quadratic()
    rates = [0.05] * 5
    finals = {}
    for key, settings in {
        "base": {},
        "momentum": {"momentum": 0.5},
        "nesterov": {"nesterov": True},
        "weight_decay": {"weight_decay": 0.5},
        "maximize": {"maximize": True},
    }.items():
        param = theta0.clone().requires_grad_()
        optimizer = MomentumSGD([param], lr=0.05, **{"momentum": BETA, **settings})
        finals[key] = run(optimizer, param, A, b, rates)[-1]
    for key in ("momentum", "nesterov", "weight_decay", "maximize"):
        assert (finals[key] - finals["base"]).abs().max() > 1e-3, key


def test_multi_tensor_path_handles_mixed_dtypes_and_missing_gradients():
    single = torch.nn.Parameter(torch.randn(3, 2))
    double = torch.nn.Parameter(torch.randn(4, dtype=torch.float64))
    idle = torch.nn.Parameter(torch.randn(2))
    copies = [torch.nn.Parameter(p.detach().clone()) for p in (single, double, idle)]
    fast = MomentumSGD([single, double, idle], lr=0.1, nesterov=True, foreach=True)
    slow = MomentumSGD(copies, lr=0.1, nesterov=True, foreach=False)
    for step in range(4):
        for a, b in zip((single, double), copies[:2], strict=True):
            a.grad = torch.full_like(a, 0.3 * step - 0.5) + a.detach()
            b.grad = a.grad.clone()
        fast.step()
        slow.step()
    for a, b in zip((single, double, idle), copies, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-7)
    assert idle not in fast.state


def test_state_round_trip_continues_the_trajectory():
    A, b, theta0 = quadratic()
    rates = [rising_rate(t) for t in range(10)]
    first = theta0.clone().requires_grad_()
    optimizer = MomentumSGD([first], lr=0.01, nesterov=True)
    run(optimizer, first, A, b, rates[:5])
    second = first.detach().clone().requires_grad_()
    restored = MomentumSGD([second], lr=0.01, nesterov=True)
    restored.load_state_dict(copy.deepcopy(optimizer.state_dict()))
    torch.testing.assert_close(
        run(optimizer, first, A, b, rates[5:])[-1], run(restored, second, A, b, rates[5:])[-1]
    )


@pytest.mark.parametrize("nesterov", [False, True])
def test_torch_sgd_state_of_earlier_files_is_converted(nesterov):
    A, b, theta0 = quadratic()
    rates = [0.05] * 10
    theirs = theta0.clone().requires_grad_()
    torch_sgd = torch.optim.SGD([theirs], lr=0.05, momentum=BETA, nesterov=nesterov)
    run(torch_sgd, theirs, A, b, rates[:5])
    ours = theirs.detach().clone().requires_grad_()
    chapter = MomentumSGD([ours], lr=0.05, momentum=BETA, nesterov=nesterov)
    chapter.load_state_dict(copy.deepcopy(torch_sgd.state_dict()))
    assert set(chapter.state[ours]) == {"velocity"}
    torch.testing.assert_close(
        run(chapter, ours, A, b, rates[5:])[-1], run(torch_sgd, theirs, A, b, rates[5:])[-1]
    )


@pytest.mark.parametrize(
    ("bad", "match"),
    [({"lr": 0.0}, "lr > 0"), ({"momentum": 1.0}, r"\[0, 1\)"), ({"weight_decay": -1}, "weight")],
)
def test_invalid_settings_are_rejected(bad, match):
    with pytest.raises(ValueError, match=match):
        MomentumSGD([torch.zeros(2, requires_grad=True)], **bad)


def test_sparse_gradients_are_rejected():
    param = torch.nn.Parameter(torch.zeros(3))
    optimizer = MomentumSGD([param])
    param.grad = torch.zeros(3).to_sparse()
    with pytest.raises(RuntimeError, match="sparse"):
        optimizer.step()
