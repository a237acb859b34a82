"""Target scaling, the fused squared-error gradient and the validation RMSE / R^2."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.metrics import r2_score, root_mean_squared_error

from skdnn.components.losses import regression_loss
from skdnn.training.regression import (
    OriginalUnitMetrics,
    SquaredErrorGradient,
    TargetScale,
    regression_objective,
)

RNG = np.random.default_rng(1)


def test_standardization_round_trip_multi_output():
    y = np.c_[RNG.normal(100.0, 20.0, 50), RNG.normal(-3e-4, 1e-5, 50), np.full(50, 7.25)]
    scale = TargetScale.fit(y)
    encoded = scale.encode(y)
    assert encoded.dtype == np.float32
    np.testing.assert_allclose(encoded[:, :2].mean(axis=0), 0.0, atol=1e-6)
    np.testing.assert_allclose(encoded[:, :2].std(axis=0), 1.0, rtol=1e-5)
    np.testing.assert_array_equal(encoded[:, 2], 0.0)  # constant column: shifted, scale 1
    assert scale.scale[2] == 1.0
    back = scale.decode(torch.from_numpy(encoded)).numpy()
    np.testing.assert_allclose(back, y, rtol=1e-6)


def test_weighted_scale_counts_a_row_of_weight_k_as_k_copies():
    y = RNG.normal(3.0, 2.0, size=(20, 2))
    weight = RNG.integers(0, 4, size=20)
    weighted = TargetScale.fit(y, weight=weight)
    repeated = TargetScale.fit(np.repeat(y, weight, axis=0))
    np.testing.assert_allclose(weighted.offset, repeated.offset, rtol=1e-12)
    np.testing.assert_allclose(weighted.scale, repeated.scale, rtol=1e-12)
    assert not np.allclose(weighted.offset, TargetScale.fit(y).offset)
    log_weighted = TargetScale.fit(np.abs(y), centered=False, weight=weight)
    np.testing.assert_allclose(log_weighted.scale, np.repeat(np.abs(y), weight, axis=0).mean(0))


def test_constant_column_with_rounding_noise_is_not_blown_up():
    y = np.full((30, 1), 0.1) * 3  # 0.30000000000000004: mean and std carry rounding noise
    scale = TargetScale.fit(y)
    assert scale.scale[0] == 1.0
    assert np.all(np.abs(scale.encode(y)) < 1e-6)


def test_log_link_scaling_divides_by_the_mean_only():
    y = RNG.poisson(4.0, size=(40, 2)).astype(float)
    y[:, 1] = 0.0
    scale = TargetScale.fit(y, centered=False)
    np.testing.assert_array_equal(scale.offset, 0.0)
    np.testing.assert_allclose(scale.scale, [y[:, 0].mean(), 1.0])
    assert scale.encode(y).min() >= 0
    np.testing.assert_allclose(scale.decode(torch.from_numpy(scale.encode(y))).numpy(), y,
                               rtol=1e-6)


def test_identity_scale_changes_nothing():
    y = RNG.normal(size=(5, 2))
    scale = TargetScale.identity(2)
    np.testing.assert_allclose(scale.encode(y), y.astype(np.float32))


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("n_outputs", [1, 3])
def test_fused_squared_error_gradient_equals_autograd(weighted, n_outputs):
    outputs = torch.randn(9, n_outputs, dtype=torch.float64, requires_grad=True)
    targets = torch.randn(9, n_outputs, dtype=torch.float64)
    weight = torch.rand(9, dtype=torch.float64) + 0.5 if weighted else None
    objective = regression_objective("squared_error", TargetScale.identity(n_outputs))
    objective.batch_loss(outputs, targets, weight).backward()
    losses, gradient = SquaredErrorGradient()(outputs.detach().clone(), targets, weight)
    torch.testing.assert_close(gradient, outputs.grad)
    expected_rows = ((outputs - targets) ** 2).mean(dim=1) * (1 if weight is None else weight)
    assert losses.shape == (9, 1)
    torch.testing.assert_close(losses[:, 0], expected_rows.detach())


def test_metrics_are_in_original_units_as_scikit_learn_computes_them():
    y = np.c_[RNG.normal(50.0, 10.0, 80), RNG.normal(0.0, 0.1, 80)]
    predicted = y + RNG.normal(scale=[3.0, 0.05], size=y.shape)
    scale = TargetScale.fit(y)
    metrics = OriginalUnitMetrics(regression_loss("squared_error"), scale)
    figures = metrics(torch.from_numpy(scale.encode(predicted)),
                      torch.from_numpy(scale.encode(y)))
    np.testing.assert_allclose(figures["rmse"], root_mean_squared_error(y, predicted), rtol=1e-5)
    np.testing.assert_allclose(figures["r2"], r2_score(y, predicted), rtol=1e-5)


def test_metrics_undo_the_log_link_and_handle_a_constant_column():
    y = np.c_[RNG.poisson(5.0, 60).astype(float), np.full(60, 2.0)]
    predicted = np.c_[y[:, 0] + RNG.uniform(-1, 1, 60), np.full(60, 2.5)]
    scale = TargetScale.fit(y, centered=False)
    metrics = OriginalUnitMetrics(regression_loss("poisson"), scale)
    log_means = torch.from_numpy(np.log(predicted / scale.scale))
    figures = metrics(log_means, torch.from_numpy(y / scale.scale))
    np.testing.assert_allclose(figures["rmse"], root_mean_squared_error(y, predicted), rtol=1e-6)
    np.testing.assert_allclose(figures["r2"], r2_score(y, predicted), rtol=1e-6)
    exact = metrics(torch.from_numpy(np.log(y / scale.scale)), torch.from_numpy(y / scale.scale))
    np.testing.assert_allclose(exact["r2"], 1.0)


def test_objective_carries_the_loss_settings():
    scale = TargetScale.identity(1)
    outputs, targets = torch.tensor([[3.0]]), torch.tensor([[0.0]])
    narrow = regression_objective("huber", scale, {"delta": 0.5})
    wide = regression_objective("huber", scale, {"delta": 10.0})
    assert narrow.loss(outputs, targets).item() == pytest.approx(0.5 * (3.0 - 0.25))
    assert wide.loss(outputs, targets).item() == pytest.approx(4.5)
    assert narrow.fused_gradient is None
    assert regression_objective("squared_error", scale).fused_gradient == "squared_error"
