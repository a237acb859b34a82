"""DNNRegressor: targets and shapes, losses, target scaling, MC-dropout spread, errors."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from numpy.testing import assert_allclose
from sklearn.metrics import r2_score, root_mean_squared_error
from sklearn.utils import check_random_state

from skdnn import DNNRegressor
from skdnn._utils.random import isolated_torch_rng
from skdnn.exceptions import SkdnnWarning
from skdnn.training.mc_dropout import dropout_layers
from skdnn.training.steps import AutogradStep, MLPStep, make_step

FAST = dict(hidden_layer_sizes=(16, 16), device="cpu", random_state=0, learning_rate=1e-2)


def make_data(n_rows=300, n_outputs=None, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n_rows, 4)).astype(np.float32)
    signal = np.sin(X[:, 0]) + X[:, 1] * X[:, 2] + 0.5 * X[:, 3]
    y = 150.0 + 40.0 * signal + rng.normal(scale=4.0, size=n_rows)
    if n_outputs is not None:
        y = np.column_stack([y * (k + 1) - 30 * k for k in range(n_outputs)])
    return X, y


@pytest.fixture(scope="module")
def data():
    return make_data()


@pytest.fixture(scope="module")
def fitted(data):
    X, y = data
    return DNNRegressor(max_epochs=40, **FAST).fit(X, y)


def test_learns_and_scores_r2(fitted):
    X_test, y_test = make_data(200, seed=1)
    predicted = fitted.predict(X_test)
    assert predicted.shape == (200,) and predicted.dtype == np.float64
    assert fitted.score(X_test, y_test) == pytest.approx(r2_score(y_test, predicted))
    assert fitted.score(X_test, y_test) > 0.8


@pytest.mark.parametrize("n_outputs", [1, 3])
def test_2d_targets_keep_their_shape(n_outputs):
    X, y = make_data(n_outputs=n_outputs)
    reg = DNNRegressor(max_epochs=30, **FAST).fit(X, y)
    assert reg.n_outputs_ == n_outputs and reg.outputs_2d_
    assert reg.model_.output.linear.out_features == n_outputs
    predicted = reg.predict(X)
    assert predicted.shape == (300, n_outputs)
    assert r2_score(y, predicted) > 0.8
    assert reg.score(X, y) == pytest.approx(r2_score(y, predicted))


def test_target_scaling_is_learned_on_the_training_targets(fitted, data):
    _, y = data
    assert_allclose(fitted.target_offset_, [y.mean()])
    assert_allclose(fitted.target_scale_, [y.std()])


def test_scaling_makes_the_fit_equivariant_to_the_target_units(data):
    # Standardized targets are the same numbers for y and a * y + b: the same
    # network is trained, and its predictions map back with the same a and b.
    X, y = data
    base = DNNRegressor(max_epochs=10, **FAST).fit(X, y)
    moved = DNNRegressor(max_epochs=10, **FAST).fit(X, 1000.0 * y - 5e4)
    assert_allclose(moved.predict(X), 1000.0 * base.predict(X) - 5e4, rtol=1e-5)
    raw = DNNRegressor(max_epochs=10, target_scaling=False, **FAST).fit(X, y)
    assert_allclose(raw.target_offset_, [0.0]) and assert_allclose(raw.target_scale_, [1.0])
    assert raw.score(X, y) < base.score(X, y)  # 40 units of spread around 150: far harder


def test_constant_target_column_is_guarded():
    X, y = make_data(n_outputs=2)
    y[:, 1] = 42.0
    reg = DNNRegressor(max_epochs=20, **FAST).fit(X, y)
    assert reg.target_scale_[1] == 1.0
    assert_allclose(reg.predict(X)[:, 1], 42.0, atol=0.5)


def _constant_fit(y, **params):
    """A network on an all-zero input: it can only learn a constant, the loss's minimizer."""
    X = np.zeros((len(y), 1), dtype=np.float32)
    settings = dict(hidden_layer_sizes=(4,), batch_size=len(y), learning_rate=0.05,
                    max_epochs=400, early_stopping=False, device="cpu", random_state=0)
    return DNNRegressor(**{**settings, **params}).fit(X, y).predict(X[:1])[0]


def test_each_loss_predicts_its_own_minimizer():
    y = np.random.default_rng(0).exponential(10.0, size=201)  # skewed: mean far above median
    assert _constant_fit(y) == pytest.approx(y.mean(), rel=0.02)
    assert _constant_fit(y, loss="absolute_error") == pytest.approx(np.median(y), rel=0.05)
    assert _constant_fit(y, loss="poisson") == pytest.approx(y.mean(), rel=0.02)
    # Huber: the mean for a delta wider than the data, close to the median for a tiny one.
    assert _constant_fit(y, loss="huber", huber_delta=100.0) == pytest.approx(y.mean(), rel=0.02)
    small = _constant_fit(y, loss="huber", huber_delta=0.01)
    assert abs(small - np.median(y)) < 0.1 * abs(y.mean() - np.median(y))


def test_poisson_predictions_are_positive_and_scaled_by_the_mean():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(400, 3)).astype(np.float32)
    y = rng.poisson(np.exp(1.0 + X[:, 0]))
    reg = DNNRegressor(loss="poisson", max_epochs=30, **FAST).fit(X, y)
    assert_allclose(reg.target_offset_, [0.0])
    assert_allclose(reg.target_scale_, [y.mean()])
    predicted = reg.predict(X)
    assert (predicted > 0).all()
    assert np.corrcoef(np.log(predicted), X[:, 0])[0, 1] > 0.9


def test_history_reports_validation_rmse_and_r2_in_original_units(data):
    X, y = data
    X_val, y_val = make_data(120, seed=2)
    reg = DNNRegressor(max_epochs=15, **FAST).fit(X, y, validation_data=(X_val, y_val))
    record = reg.history_[reg.best_epoch_ - 1]  # the weights kept are the best epoch's
    predicted = reg.predict(X_val)
    assert record["val_rmse"] == pytest.approx(root_mean_squared_error(y_val, predicted),
                                               rel=1e-4)
    assert record["val_r2"] == pytest.approx(r2_score(y_val, predicted), rel=1e-4)
    assert record["val_loss"] == pytest.approx(
        np.mean(((predicted - y_val) / reg.target_scale_[0]) ** 2), rel=1e-4)


def test_early_stopping_watches_the_validation_loss():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 4)).astype(np.float32)
    y = rng.normal(size=200)  # nothing to learn: the validation loss soon stops improving
    reg = DNNRegressor(hidden_layer_sizes=(64, 64), learning_rate=1e-2, patience=3,
                       max_epochs=200, device="cpu", random_state=0).fit(X, y)
    assert reg.n_epochs_ < 200
    losses = [r["val_loss"] for r in reg.history_]
    assert reg.best_epoch_ == 1 + int(np.argmin(losses))
    assert reg.n_epochs_ - reg.best_epoch_ >= 3


def test_mc_dropout_std_equals_passes_computed_by_hand(data):
    X, y = data
    reg = DNNRegressor(dropout=0.3, normalization="batch", mc_samples=25, max_epochs=5,
                       **FAST).fit(X, y)
    mean, std = reg.predict(X[:50], return_std=True)
    module = reg.model_.eval()
    seed = int(check_random_state(reg.random_state).randint(2**31 - 1))
    for layer in dropout_layers(module):
        layer.train()  # batch norm stays in eval mode: running statistics
    with torch.no_grad(), isolated_torch_rng(seed, torch.device("cpu")):
        passes = np.stack([
            module(torch.from_numpy(X[:50])).double().numpy()[:, 0] * reg.target_scale_[0]
            + reg.target_offset_[0]
            for _ in range(25)
        ])
    module.eval()
    assert_allclose(mean, passes.mean(axis=0), rtol=1e-6)
    assert_allclose(std, passes.std(axis=0), rtol=1e-5, atol=1e-8)
    assert (std > 0).all()
    assert_allclose(reg.predict(X[:50]), mean)  # mc_samples > 0: predict is the MC mean
    _, again_std = reg.predict(X[:50], return_std=True)
    assert np.array_equal(again_std, std)  # seeded by random_state


def test_mc_dropout_std_keeps_the_shape_of_2d_targets():
    X, y = make_data(n_outputs=2)
    reg = DNNRegressor(dropout=0.2, max_epochs=3, **FAST).fit(X, y)
    mean, std = reg.predict(X[:7], return_std=True)
    assert mean.shape == std.shape == (7, 2)
    assert_allclose(mean, reg.predict(X[:7]), rtol=0.2)  # 100 passes near the plain net


def test_return_std_without_dropout_is_an_error(fitted, data):
    X, _ = data
    with pytest.raises(ValueError, match="no dropout"):
        fitted.predict(X, return_std=True)


def test_mc_samples_without_dropout_warns(data):
    X, y = data
    reg = DNNRegressor(mc_samples=5, max_epochs=2, **FAST).fit(X, y)
    with pytest.warns(SkdnnWarning, match="dropout"):
        predicted = reg.predict(X)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert_allclose(predicted, reg.set_params(mc_samples=0).predict(X), atol=1e-3)


@pytest.mark.parametrize(
    ("y", "match"),
    [
        (np.r_[np.nan, np.ones(9)], "NaN"),
        (np.r_[np.inf, np.ones(9)], "infinity"),
        (np.array(list("abcdefghij")), "numeric targets"),
        (np.ones((10, 2, 2)), "dim 3"),
        (np.ones((10, 0)), r"shape=\(10, 0\)"),
    ],
)
def test_bad_targets_are_value_errors(y, match):
    X = np.ones((10, 3), dtype=np.float32)
    with pytest.raises(ValueError, match=match):
        DNNRegressor(**FAST).fit(X, y)


def test_negative_targets_with_poisson_are_refused():
    X = np.ones((10, 3), dtype=np.float32)
    with pytest.raises(ValueError, match="non-negative targets"):
        DNNRegressor(loss="poisson", **FAST).fit(X, np.r_[-1.0, np.ones(9)])


def test_bad_loss_settings(data):
    X, y = data
    with pytest.raises(ValueError, match="Did you mean 'huber'"):
        DNNRegressor(loss="hubber", **FAST).fit(X, y)
    with pytest.raises(ValueError, match="huber_delta"):
        DNNRegressor(loss="huber", huber_delta=0.0, **FAST).fit(X, y)


def test_later_targets_must_have_the_fitted_columns(data):
    X, y = data
    reg = DNNRegressor(max_epochs=1, **FAST).partial_fit(X, np.c_[y, y])
    with pytest.raises(ValueError, match="2"):
        reg.partial_fit(X, y)


@pytest.mark.parametrize(("params", "expected"), [
    ({}, MLPStep),
    ({"loss": "huber"}, AutogradStep),
    ({"dropout": 0.1}, AutogradStep),
    ({"l2": 1e-3}, AutogradStep),
])
def test_fast_step_covers_squared_error_on_plain_networks(data, params, expected, monkeypatch):
    import skdnn.training.loop as loop

    X, y = data
    built = []

    def spy(module, setup):
        step = make_step(module, setup)
        built.append(type(step))
        return step

    monkeypatch.setattr(loop, "make_step", spy)
    DNNRegressor(max_epochs=1, **{**FAST, **params}).fit(X, y)
    assert built and set(built) == {expected}


def test_fast_step_trains_the_model_autograd_trains(data, monkeypatch):
    import skdnn.training.loop as loop
    import skdnn.training.steps as steps

    X, y = data
    fast = DNNRegressor(max_epochs=3, activation="relu", **FAST).fit(X, y)
    monkeypatch.setattr(loop, "make_step", lambda module, setup: steps.AutogradStep(
        module, steps.optimizer_update(setup.optimizer), setup))
    slow = DNNRegressor(max_epochs=3, activation="relu", **FAST).fit(X, y)
    assert_allclose(fast.predict(X), slow.predict(X), rtol=1e-3, atol=1e-2)
    assert [r["loss"] for r in fast.history_] == pytest.approx(
        [r["loss"] for r in slow.history_], rel=1e-4)


def test_prediction_uses_the_folded_inference_network(data):
    X, y = data
    reg = DNNRegressor(normalization="batch", max_epochs=3, **FAST).fit(X, y)
    with torch.no_grad():
        plain = reg.model_.eval()(torch.from_numpy(X)).double().numpy()[:, 0]
    expected = plain * reg.target_scale_[0] + reg.target_offset_[0]
    assert_allclose(reg.predict(X), expected, atol=1e-6 * reg.target_scale_[0] * 100)
    assert reg._inference_cache.is_current(reg.model_)
