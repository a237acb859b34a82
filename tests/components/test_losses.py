"""Each regression loss against its formula, computed by hand in NumPy."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from skdnn.components.losses import REGRESSION_LOSSES, regression_loss
from skdnn.exceptions import UnknownComponentError

RNG = np.random.default_rng(0)
OUTPUTS = RNG.normal(size=(7, 3))
TARGETS = RNG.normal(scale=2.0, size=(7, 3))
COUNTS = RNG.poisson(3.0, size=(7, 3)).astype(np.float64)
WEIGHTS = RNG.uniform(0.2, 2.0, size=7)


def _huber(d: np.ndarray, delta: float) -> np.ndarray:
    small = np.abs(d) <= delta
    return np.where(small, 0.5 * d**2, delta * (np.abs(d) - 0.5 * delta))


#: name, settings, element-wise formula of (outputs, targets), targets used
FORMULAS = [
    ("squared_error", {}, lambda o, y: (o - y) ** 2, TARGETS),
    ("absolute_error", {}, lambda o, y: np.abs(o - y), TARGETS),
    ("huber", {"delta": 0.7}, lambda o, y: _huber(o - y, 0.7), TARGETS),
    ("huber", {}, lambda o, y: _huber(o - y, 1.0), TARGETS),
    ("poisson", {}, lambda o, y: np.exp(o) - y * o, COUNTS),
]


def _loss(name, settings, outputs, targets, reduction):
    function = REGRESSION_LOSSES.build(name, settings)
    return function(torch.from_numpy(outputs), torch.from_numpy(targets), reduction=reduction)


@pytest.mark.parametrize(("name", "settings", "formula", "targets"), FORMULAS)
def test_loss_matches_its_formula(name, settings, formula, targets):
    elementwise = formula(OUTPUTS, targets)
    mean = _loss(name, settings, OUTPUTS, targets, "mean")
    per_row = _loss(name, settings, OUTPUTS, targets, "none")
    np.testing.assert_allclose(mean.item(), elementwise.mean(), rtol=1e-12)
    assert per_row.shape == (7,)
    np.testing.assert_allclose(per_row.numpy(), elementwise.mean(axis=1), rtol=1e-12)


@pytest.mark.parametrize(("name", "settings", "formula", "targets"), FORMULAS)
def test_sample_weights_weight_each_row(name, settings, formula, targets):
    """The objective's weighted loss is the mean of weight times each row's loss."""
    from skdnn.training.objectives import Objective

    objective = Objective(name, REGRESSION_LOSSES.build(name, settings))
    weighted = objective.batch_loss(
        torch.from_numpy(OUTPUTS), torch.from_numpy(targets), torch.from_numpy(WEIGHTS)
    )
    expected = np.mean(WEIGHTS * formula(OUTPUTS, targets).mean(axis=1))
    np.testing.assert_allclose(weighted.item(), expected, rtol=1e-12)


def test_huber_delta_moves_the_switch_to_linear():
    d = np.array([[0.5], [3.0]])
    zero = np.zeros_like(d)
    wide = _loss("huber", {"delta": 5.0}, d, zero, "none").numpy()
    narrow = _loss("huber", {"delta": 0.25}, d, zero, "none").numpy()
    np.testing.assert_allclose(wide, [0.125, 4.5])  # both quadratic
    np.testing.assert_allclose(narrow, [0.25 * (0.5 - 0.125), 0.25 * (3.0 - 0.125)])


def test_entries_say_link_targets_and_fast_gradient():
    assert regression_loss("squared_error").fused_gradient == "squared_error"
    assert all(
        regression_loss(n).fused_gradient is None for n in ("absolute_error", "huber", "poisson")
    )
    poisson = regression_loss("poisson")
    assert poisson.link == "log" and poisson.non_negative_targets
    assert not poisson.centered_scaling
    outputs = torch.tensor([[0.0, np.log(3.0)]])
    np.testing.assert_allclose(poisson.inverse_link(outputs).numpy(), [[1.0, 3.0]], rtol=1e-6)
    same = regression_loss("huber").inverse_link(outputs)
    assert same is outputs


def test_unknown_loss_and_bad_settings_are_clear():
    with pytest.raises(UnknownComponentError, match="Did you mean 'squared_error'"):
        regression_loss("squared_eror")
    with pytest.raises(ValueError, match="huber_delta must be positive"):
        REGRESSION_LOSSES.build("huber", {"delta": 0.0})
    with pytest.raises(ValueError, match="Unknown parameter"):
        REGRESSION_LOSSES.build("squared_error", {"delta": 1.0})
    with pytest.raises(ValueError, match="reduction"):
        _loss("squared_error", {}, OUTPUTS, TARGETS, "sum")
