"""Smoke test of the benchmark code on tiny synthetic data (speed is not measured here)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from sklearn.utils import Bunch
from threadpoolctl import threadpool_limits

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


@pytest.fixture(scope="module")
def benchmarks():
    sys.path.insert(0, str(BENCHMARKS))
    try:
        import measure
        import regression
        import sections
        import systems

        yield Bunch(measure=measure, sections=sections, systems=systems, regression=regression)
    finally:
        sys.path.remove(str(BENCHMARKS))


@pytest.fixture(scope="module")
def data():
    rng = np.random.RandomState(0)
    X = rng.rand(160, 784).astype(np.float32)
    y = rng.randint(0, 10, 160)
    return Bunch(X_train=X[:120], y_train=y[:120], X_test=X[120:], y_test=y[120:])


def test_paired_ratios_and_rotation(benchmarks):
    measure = benchmarks.measure
    assert measure.rotated(["a", "b", "c"], 1) == ["b", "c", "a"]
    ratios = measure.paired_ratios({"ref": [2.0, 4.0, 3.0], "x": [1.0, 1.0, 3.0]}, "ref")
    assert ratios["x"] == {"median": 2.0, "min": 1.0, "max": 4.0}
    assert ratios["ref"]["median"] == 1.0


def test_fit_and_accuracy_sections_run(benchmarks, data):
    ceiling = {"samples_per_s": 1e9, "flops_per_sample": 1.6e6}
    result = benchmarks.sections.fit_throughput(
        data, rows_by_batch_size={32: 64}, rounds=1, ceiling=ceiling, systems=("torch", "skdnn")
    )
    skdnn = result["by_batch_size"]["32"]["skdnn"]
    assert skdnn["samples_per_s"] > 0 and len(skdnn["epoch_seconds"]) == 1
    race = benchmarks.sections.time_to_accuracy(
        data,
        contenders={"skdnn": {"system": "skdnn", "batch_size": 32, "max_epochs": 2},
                    "torch": {"system": "torch-fused", "batch_size": 32}},
        targets=(0.5,),
        budget_s=5.0,
        max_epochs=2,
    )
    assert set(race["contenders"]) == {"skdnn", "torch"}
    assert all(1 <= len(r["curve"]) <= 2 for r in race["contenders"].values())


def test_every_system_trains_and_predicts(benchmarks, data):
    for factory in benchmarks.systems.FIT_SYSTEMS.values():
        system = factory(data.X_train, data.y_train, batch_size=32)
        system.epoch()
        probabilities = system.predict_proba(data.X_test)
        assert probabilities.shape == (40, 10)
        np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-4)


@pytest.fixture(scope="module")
def tabular():
    sys.path.insert(0, str(BENCHMARKS))
    try:
        import tabular
        import tabular_data
        import tabular_regression
        import tabular_runner

        yield Bunch(classification=tabular, data=tabular_data, regression=tabular_regression,
                    runner=tabular_runner)
    finally:
        sys.path.remove(str(BENCHMARKS))


def test_tabular_datasets_load_offline_with_categoricals_and_missing_values(tabular):
    import pandas as pd

    data = tabular.data
    for task, at_least in (("classification", 10), ("regression", 6)):
        chosen = data.datasets(task)
        assert len(chosen) >= at_least
        assert data.datasets(task, "development") and data.datasets(task, "evaluation")
        for dataset in chosen.values():
            X, y = dataset.load()
            assert isinstance(X, pd.DataFrame) and len(X) == len(y) >= 150
            assert dataset.target not in X.columns and "rownames" not in X.columns
            assert y.notna().all()
            for column in X.columns:
                kind = X[column].dtype
                assert isinstance(kind, pd.CategoricalDtype) or kind == "float64"
            if task == "classification":
                assert 2 <= y.nunique() <= 10
    credit, _ = data.datasets("classification")["credit_data"].load()
    assert credit.isna().any().any()  # missing values are kept as NaN
    assert isinstance(credit["Home"].dtype, pd.CategoricalDtype)


def test_tabular_summary_geometric_means_and_error_floor(tabular):
    runs = {
        "a": {"ref": [{"error": 0.2}, {"error": 0.4}], "x": [{"error": 0.15}, {"error": 0.15}]},
        "b": {"ref": [{"error": 0.1}], "x": [{"error": 0.4}]},
        "c": {"ref": [{"error": 0.0}], "x": [{"error": 0.0}]},
    }
    summary = tabular.runner.summarize(runs, ["error"], "ref", "error", {"c": 0.05})
    assert summary["means"]["a"]["ref"]["error"] == pytest.approx(0.3)
    # ratios 0.5, 4 and 1 (both floored at 0.05 on c): geometric mean 4 ** (1/3) * 0.5 ** (1/3)
    assert summary["relative_to_reference"]["x"]["error_ratio"] == pytest.approx(2 ** (1 / 3))
    without_floor = tabular.runner.summarize(runs, ["error"], "ref", "error")
    assert without_floor["left_out_of_geometric_mean"] == ["c"]
    assert without_floor["relative_to_reference"]["x"]["n_datasets"] == 2


def test_tabular_quick_mode_runs(tabular, tmp_path):
    out = tmp_path / "tabular.json"
    systems = ["MLPClassifier", "skdnn defaults", "skdnn tabular", "HistGradientBoosting",
               "LogisticRegression"]
    threads = torch.get_num_threads()
    try:  # one thread: the shared CI cores are slowest when oversubscribed
        with threadpool_limits(1):
            result = tabular.classification.main(
                ["--quick", "--threads", "1", "--systems", *systems, "--out", str(out)]
            )
    finally:
        torch.set_num_threads(threads)
    assert set(result["runs"]) == {"breast_cancer", "titanic"}
    saved = json.loads(out.read_text())
    relative = saved["summary"]["relative_to_reference"]
    assert relative["MLPClassifier"]["error_ratio"] == pytest.approx(1.0)
    for system in systems:
        run = saved["runs"]["titanic"][system][0]
        assert 0.5 < run["accuracy"] <= 1 and run["log_loss"] > 0 and run["fit_seconds"] > 0


def test_tabular_regression_quick_mode_runs(tabular, tmp_path):
    with threadpool_limits(1):
        result = tabular.regression.main(["--quick", "--out", str(tmp_path / "regression.json")])
    assert set(result["runs"]) == {"diabetes", "concrete"}
    means = result["summary"]["means"]["concrete"]
    assert means["HistGradientBoosting"]["r2"] > 0.7
    assert means["Ridge"]["rmse"] > means["HistGradientBoosting"]["rmse"]


def test_regression_section_and_systems_run(benchmarks, data):
    regression = benchmarks.regression
    result = regression.regression_fit_throughput(data, rows_by_batch_size={32: 64}, rounds=1)
    assert set(result["by_batch_size"]["32"]) == {"n_rows", *regression.REGRESSION_SYSTEMS}
    y = regression.regression_target(data.X_train)
    assert abs(y.mean()) < 1e-5 and abs(y.std() - 1) < 1e-5
    for factory in regression.REGRESSION_SYSTEMS.values():
        system = factory(data.X_train, y, batch_size=32)
        system.epoch()
        predicted = system.predict(data.X_test)
        assert predicted.shape == (40,) and np.isfinite(predicted).all()
