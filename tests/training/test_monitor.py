"""``monitor``: the figure that picks the best (restored) epoch and stops the fit."""

import numpy as np
import pytest
from sklearn.datasets import make_classification
from torch import nn

from skdnn import DNNClassifier
from skdnn.training.early_stopping import EarlyStopping


def test_accuracy_improves_upwards_and_losses_downwards():
    module = nn.Linear(1, 1)
    by_accuracy = EarlyStopping(enabled=True, patience=2, min_delta=0.0, monitor="val_accuracy")
    by_loss = EarlyStopping(enabled=True, patience=2, min_delta=0.0)
    for epoch, value in enumerate([0.5, 0.7, 0.6, 0.65], start=1):
        by_accuracy.update(epoch, value, module)
        by_loss.update(epoch, value, module)
    assert by_accuracy.best_epoch == 2 and by_accuracy.best_loss == 0.7
    assert by_loss.best_epoch == 1 and by_loss.best_loss == 0.5
    assert by_accuracy.monitored_name(False) == "accuracy"


def _data():
    return make_classification(n_samples=300, n_features=8, flip_y=0.2, random_state=0)


def test_restored_epoch_is_the_best_by_the_monitored_figure():
    X, y = _data()
    params = dict(hidden_layer_sizes=(64, 64), max_epochs=25, early_stopping=True,
                  patience=25, random_state=0, learning_rate=0.01)
    by_accuracy = DNNClassifier(monitor="val_accuracy", **params).fit(X, y)
    by_loss = DNNClassifier(**params).fit(X, y)
    accuracy = [r["val_accuracy"] for r in by_accuracy.history_]
    loss = [r["val_loss"] for r in by_loss.history_]
    assert by_accuracy.best_epoch_ == int(np.argmax(accuracy)) + 1
    assert by_loss.best_epoch_ == int(np.argmin(loss)) + 1
    # The same run (same seed): only the choice of the epoch differs.
    np.testing.assert_allclose(accuracy, [r["val_accuracy"] for r in by_loss.history_])


def test_unrecorded_figure_is_a_value_error_naming_the_recorded_ones():
    X, y = _data()
    with pytest.raises(ValueError, match=r"monitor='val_r2'.*val_accuracy"):
        DNNClassifier(monitor="val_r2", early_stopping=True, max_epochs=2).fit(X, y)


def test_a_regressor_picks_its_epoch_by_r2_upwards_or_rmse_downwards():
    from sklearn.datasets import make_regression

    from skdnn import DNNRegressor

    X, y = make_regression(n_samples=300, n_features=8, noise=30.0, random_state=0)
    params = dict(hidden_layer_sizes=(64, 64), max_epochs=25, early_stopping=True,
                  patience=25, random_state=0, learning_rate=0.01)
    by_r2 = DNNRegressor(monitor="val_r2", **params).fit(X, y)
    by_rmse = DNNRegressor(monitor="val_rmse", **params).fit(X, y)
    r2 = [r["val_r2"] for r in by_r2.history_]
    rmse = [r["val_rmse"] for r in by_rmse.history_]
    assert by_r2.best_epoch_ == int(np.argmax(r2)) + 1
    assert by_rmse.best_epoch_ == int(np.argmin(rmse)) + 1
    with pytest.raises(ValueError, match=r"monitor='val_accuracy'.*val_r2"):
        DNNRegressor(monitor="val_accuracy", max_epochs=2).fit(X, y)
