"""DNNRegressor in scikit-learn workflows: pipelines, searches, weights, persistence, tools."""

from __future__ import annotations

import os
import pickle

import matplotlib
import numpy as np
import pytest
from numpy.testing import assert_allclose
from sklearn.base import clone
from sklearn.compose import TransformedTargetRegressor
from sklearn.model_selection import RandomizedSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skdnn import DNNRegressor

matplotlib.use("Agg")

FAST = dict(hidden_layer_sizes=(16,), device="cpu", random_state=0, learning_rate=1e-2)


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(240, 5)).astype(np.float32)
    y = 3.0 * X[:, 0] - X[:, 1] ** 2 + rng.normal(scale=0.3, size=240) + 10.0
    return X, y


def test_pipeline_and_transformed_target(data):
    X, y = data
    pipe = make_pipeline(StandardScaler(), DNNRegressor(max_epochs=30, **FAST))
    assert pipe.fit(X, y).score(X, y) > 0.8
    log_target = TransformedTargetRegressor(
        regressor=DNNRegressor(max_epochs=30, **FAST), func=np.log, inverse_func=np.exp
    )
    log_target.fit(X, y)
    assert log_target.regressor_.target_offset_[0] == pytest.approx(np.log(y).mean())
    assert log_target.score(X, y) > 0.7


def test_randomized_search_in_parallel(data):
    X, y = data
    search = RandomizedSearchCV(
        DNNRegressor(max_epochs=5, **FAST),
        {"learning_rate": [3e-3, 1e-2], "loss": ["squared_error", "huber"]},
        n_iter=3, cv=2, n_jobs=2, random_state=0,
    )
    search.fit(X, y)
    assert search.best_estimator_.n_epochs_ >= 1
    assert np.isfinite(search.cv_results_["mean_test_score"]).all()


def test_sample_weight_equivalence_full_batch(data):
    X, y = data
    weights = np.random.default_rng(1).integers(0, 4, size=len(y))
    params = dict(FAST, batch_size=10_000, max_epochs=20, early_stopping=False)
    weighted = DNNRegressor(**params).fit(X, y, sample_weight=weights)
    repeated = DNNRegressor(**params).fit(np.repeat(X, weights, axis=0), np.repeat(y, weights))
    unweighted = DNNRegressor(**params).fit(X, y)
    assert_allclose(weighted.predict(X), repeated.predict(X), rtol=1e-4)
    assert not np.allclose(weighted.predict(X), unweighted.predict(X), rtol=1e-3)


def test_warm_start_and_partial_fit_continue(data):
    X, y = data
    reg = DNNRegressor(max_epochs=3, early_stopping=False, warm_start=True, **FAST).fit(X, y)
    first = reg.history_[-1]["loss"]
    reg.fit(X, y)
    assert reg.n_epochs_ == 6 and reg.history_[-1]["loss"] < first
    online = DNNRegressor(**FAST)
    for _ in range(3):
        online.partial_fit(X, y)
    assert online.n_epochs_ == 3
    assert_allclose(online.target_offset_, [y.mean()])


def test_checkpoints_and_exact_resume(data, tmp_path):
    X, y = data
    params = dict(FAST, dropout=0.2, lr_schedule="1cycle", max_epochs=4)
    full = DNNRegressor(checkpoint_dir=tmp_path, **params).fit(X, y)
    assert "epoch-0002.skdnn" in os.listdir(tmp_path)
    resumed = DNNRegressor.load(tmp_path / "epoch-0002.skdnn")
    resumed.set_params(warm_start=True, max_epochs=2, checkpoint_dir=None)
    resumed.fit(X, y)
    assert resumed.n_epochs_ == 4
    assert np.array_equal(resumed.predict(X), full.predict(X))


def test_save_load_and_pickle_round_trip(data, tmp_path):
    X, y = data
    reg = DNNRegressor(loss="huber", huber_delta=0.5, max_epochs=3, **FAST).fit(X, np.c_[y])
    reg.save(tmp_path / "reg.skdnn")
    loaded = DNNRegressor.load(tmp_path / "reg.skdnn")
    assert np.array_equal(loaded.predict(X), reg.predict(X))
    assert loaded.predict(X).shape == (240, 1)
    assert loaded.get_params() == reg.get_params()
    assert_allclose(loaded.target_scale_, reg.target_scale_)
    restored = pickle.loads(pickle.dumps(reg))
    assert np.array_equal(restored.predict(X), reg.predict(X))


def test_clone_keeps_parameters(data):
    reg = DNNRegressor(loss="poisson", target_scaling=False, **FAST)
    assert clone(reg).get_params() == reg.get_params()


def test_progress_plots_summary_and_lr_finder(data, capsys):
    from skdnn.plotting import plot_learning_curves

    X, y = data
    reg = DNNRegressor(max_epochs=3, verbose=2, **FAST).fit(X, y)
    header, *epochs = capsys.readouterr().out.splitlines()
    assert "val_rmse" in header.split() and "val_r2" in header.split()
    assert [line.split()[0] for line in epochs[:3]] == ["1/3", "2/3", "3/3"]
    assert len(plot_learning_curves(reg)) == 2
    assert "Linear" in reg.summary()
    result = DNNRegressor(**FAST).find_learning_rate(X, y, n_steps=30)
    assert len(result.losses) >= 2 and 0 < result.suggestion < 10


def test_search_on_a_dask_cluster_matches_the_local_one(data):
    import warnings

    distributed = pytest.importorskip("distributed")
    from joblib import parallel_config

    X, y = data

    def search():
        return RandomizedSearchCV(
            DNNRegressor(max_epochs=3, early_stopping=False, **FAST),
            {"learning_rate": [3e-3, 1e-2, 3e-2], "loss": ["squared_error", "absolute_error"]},
            n_iter=3, cv=2, refit=False, random_state=0,
        )

    expected = search().fit(X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # dask's notes about ports and event loops
        with (
            distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=False,
                                     protocol="tcp", host="127.0.0.1",
                                     dashboard_address=None) as cluster,
            distributed.Client(cluster),
            parallel_config(backend="dask"),
        ):
            on_dask = search().set_params(n_jobs=-1).fit(X, y)
    np.testing.assert_allclose(
        on_dask.cv_results_["mean_test_score"], expected.cv_results_["mean_test_score"]
    )
