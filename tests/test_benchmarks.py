"""Smoke test of the benchmark code on tiny synthetic data (speed is not measured here)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from sklearn.utils import Bunch

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


@pytest.fixture(scope="module")
def benchmarks():
    sys.path.insert(0, str(BENCHMARKS))
    try:
        import measure
        import sections
        import systems

        yield Bunch(measure=measure, sections=sections, systems=systems)
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
