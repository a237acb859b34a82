import pytest
import torch

from skdnn.components.regularizers import Regularization, zero_small_weights


def make_kernels(seed=0):
    generator = torch.Generator().manual_seed(seed)
    shapes = [(4, 3), (2, 4)]
    return [
        torch.nn.Parameter(torch.randn(shape, generator=generator, dtype=torch.float64))
        for shape in shapes
    ]


def with_gradients(parameters, scale, seed=1):
    generator = torch.Generator().manual_seed(seed)
    for parameter in parameters:
        parameter.grad = scale * torch.randn(
            parameter.shape, generator=generator, dtype=parameter.dtype
        )
    return parameters


@pytest.mark.parametrize(("l1", "l2"), [(0.01, 0.0), (0.0, 0.003), (0.02, 0.5)])
def test_penalty_is_the_weighted_sum_of_norms_and_its_gradient(l1, l2):
    kernels = make_kernels()
    penalty = Regularization(kernels, l1=l1, l2=l2).penalty()
    expected = sum(l1 * k.abs().sum().item() + l2 * (k**2).sum().item() for k in kernels)
    assert penalty.item() == pytest.approx(expected, rel=1e-12)
    penalty.backward()
    for kernel in kernels:
        torch.testing.assert_close(kernel.grad, l1 * kernel.sign() + 2 * l2 * kernel)


def test_no_penalty_without_factors_or_kernels():
    assert Regularization(make_kernels()).penalty() is None
    assert Regularization([], l2=0.1).penalty() is None


def test_max_norm_bounds_long_rows_and_leaves_short_ones_alone():
    kernel = torch.nn.Parameter(
        torch.tensor([[0.3, 0.4, 0.0], [3.0, 4.0, 0.0], [0.0, -10.0, 0.0], [0.6, 0.8, 0.0]])
    )  # row norms 0.5, 5, 10, 1
    before = kernel.detach().clone()
    Regularization([kernel], max_norm=1.0).constrain()
    norms = torch.linalg.vector_norm(kernel.detach(), dim=1)
    assert (norms <= 1.0).all()
    assert norms[1:3].tolist() == pytest.approx([1.0, 1.0], abs=1e-6)
    assert torch.equal(kernel[0], before[0]) and torch.equal(kernel[3], before[3])
    # Rescaled rows keep their direction.
    torch.testing.assert_close(kernel[1], before[1] / 5, rtol=1e-6, atol=1e-7)
    torch.testing.assert_close(kernel[2], before[2] / 10, rtol=1e-6, atol=1e-7)


def test_constrain_without_max_norm_is_a_no_op():
    kernels = make_kernels()
    before = [k.detach().clone() for k in kernels]
    Regularization(kernels, l2=1.0).constrain()
    assert all(torch.equal(k, b) for k, b in zip(kernels, before, strict=True))


def test_clip_value_bounds_every_gradient_element():
    parameters = with_gradients(make_kernels(), scale=3.0)
    before = [p.grad.clone() for p in parameters]
    Regularization([], clip_value=0.5).clip(iter(parameters))
    for parameter, grad in zip(parameters, before, strict=True):
        assert parameter.grad.abs().max().item() <= 0.5
        torch.testing.assert_close(parameter.grad, grad.clamp(-0.5, 0.5))


def global_norm(parameters):
    return torch.linalg.vector_norm(torch.cat([p.grad.flatten() for p in parameters])).item()


def test_clip_norm_bounds_the_global_norm_and_keeps_the_direction():
    parameters = with_gradients(make_kernels(), scale=3.0)
    before = [p.grad.clone() for p in parameters]
    norm = global_norm(parameters)
    assert norm > 1.0
    Regularization([], clip_norm=1.0).clip(parameters)
    assert global_norm(parameters) == pytest.approx(1.0, rel=1e-5)
    for parameter, grad in zip(parameters, before, strict=True):
        torch.testing.assert_close(parameter.grad, grad / norm, rtol=1e-5, atol=1e-8)


def test_small_gradients_are_not_clipped_and_missing_ones_are_skipped():
    parameters = with_gradients(make_kernels(), scale=1e-3)
    before = [p.grad.clone() for p in parameters]
    no_grad = torch.nn.Parameter(torch.zeros(3))
    Regularization([], clip_value=1.0, clip_norm=1.0).clip([*parameters, no_grad])
    assert all(torch.equal(p.grad, g) for p, g in zip(parameters, before, strict=True))
    assert no_grad.grad is None


def test_clip_by_value_then_by_norm():
    parameter = torch.nn.Parameter(torch.zeros(4, dtype=torch.float64))
    parameter.grad = torch.tensor([10.0, -10.0, 0.5, 0.0], dtype=torch.float64)
    Regularization([], clip_value=1.0, clip_norm=1.0).clip([parameter])
    clipped = torch.tensor([1.0, -1.0, 0.5, 0.0], dtype=torch.float64)
    torch.testing.assert_close(parameter.grad, clipped / 1.5, rtol=1e-5, atol=1e-8)


def test_active():
    kernels = make_kernels()
    assert not Regularization(kernels).active
    for setting in ("l1", "l2", "max_norm", "clip_value", "clip_norm"):
        assert Regularization(kernels, **{setting: 0.1}).active


@pytest.mark.parametrize(
    ("setting", "value"),
    [("l1", -0.1), ("l2", float("nan")), ("max_norm", 0.0), ("clip_value", -1.0), ("clip_norm", 0)],
)
def test_invalid_settings(setting, value):
    with pytest.raises(ValueError, match=setting):
        Regularization([], **{setting: value})


def test_zero_small_weights_zeroes_linear_weights_below_the_threshold():
    module = torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.ReLU(), torch.nn.Linear(2, 2))
    with torch.no_grad():
        module[0].weight.copy_(torch.tensor([[0.01, -0.5, 0.02], [0.3, -0.04, 1.0]]))
        module[2].weight.copy_(torch.tensor([[0.0, 0.06], [-0.2, 0.049]]))
        module[0].bias.fill_(0.001)
    fraction = zero_small_weights(module, threshold=0.05)
    assert fraction == pytest.approx(5 / 10)  # 0.01, 0.02, -0.04, 0.0, 0.049
    expected = [
        torch.tensor([[0.0, -0.5, 0.0], [0.3, 0.0, 1.0]]),
        torch.tensor([[0, 0.06], [-0.2, 0]]),
    ]
    assert torch.equal(module[0].weight, expected[0])
    assert torch.equal(module[2].weight, expected[1])
    assert module[0].bias.tolist() == pytest.approx([0.001, 0.001])  # biases untouched
    assert zero_small_weights(module, threshold=0.0) == 0.0
    assert zero_small_weights(torch.nn.ReLU(), threshold=1.0) == 0.0
    with pytest.raises(ValueError, match="threshold"):
        zero_small_weights(module, threshold=-1.0)
