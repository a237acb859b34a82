"""RMSE, R^2 and fit time on real tabular regression data sets.

    python benchmarks/tabular_regression.py [--quick] [--split development|evaluation]
                                            [--systems NAME ...] [--out PATH.json]

Same method as ``tabular.py``: one random 75/25 split per seed (3 seeds;
``--quick``: 2 small data sets, 1 seed), a ``ColumnTransformer`` (median
imputation + standardization, one-hot categoricals) in front of systems
without categorical support, and the geometric mean over data sets of each
system's RMSE and fit time divided by MLPRegressor's. Targets are used in
their own units: ``MLPRegressor`` as it comes does not scale them, so the
variant with a ``TransformedTargetRegressor`` shows what standardized
targets are worth.

To compare a new system, add a factory ``seed -> estimator`` to ``SYSTEMS``.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.compose import TransformedTargetRegressor
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.linear_model import Ridge
from sklearn.metrics import mean_squared_error, r2_score
from sklearn.neural_network import MLPRegressor
from sklearn.preprocessing import StandardScaler
from tabular_runner import (
    Factory,
    command_line,
    markdown_table,
    one_hot_pipeline,
    ratio_table,
)

from skdnn import DNNRegressor
from skdnn.configs import TABULAR_REGRESSION

REFERENCE = "MLPRegressor"
METRICS = ("rmse", "r2", "fit_seconds")
QUICK_DATASETS = ("diabetes", "concrete")


def _mlp_scaled_target(seed: int) -> BaseEstimator:
    model = TransformedTargetRegressor(
        MLPRegressor(random_state=seed), transformer=StandardScaler()
    )
    return one_hot_pipeline(model)


SYSTEMS: dict[str, Factory] = {
    "skdnn defaults": lambda seed: one_hot_pipeline(DNNRegressor(random_state=seed)),
    # The tabular configuration (skdnn.configs.TABULAR_REGRESSION) on the raw DataFrame.
    "skdnn tabular": lambda seed: DNNRegressor(**TABULAR_REGRESSION, random_state=seed),
    "MLPRegressor": lambda seed: one_hot_pipeline(MLPRegressor(random_state=seed)),
    "MLPRegressor (scaled y)": _mlp_scaled_target,
    "HistGradientBoosting": lambda seed: HistGradientBoostingRegressor(random_state=seed),
    "Ridge": lambda seed: one_hot_pipeline(Ridge()),
}


def score(model: BaseEstimator, X: pd.DataFrame, y: pd.Series) -> dict[str, float]:
    """RMSE and R^2 of a fitted regressor on held-out data."""
    predicted = model.predict(X)
    return {
        "rmse": float(np.sqrt(mean_squared_error(y, predicted))),
        "r2": float(r2_score(y, predicted)),
    }


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    return command_line(
        argv, description=__doc__.splitlines()[0], task="regression", systems=SYSTEMS,
        reference=REFERENCE, quick_datasets=QUICK_DATASETS, score=score, metrics=METRICS,
        error="rmse", print_tables=print_tables,
    )


def print_tables(result: dict[str, Any]) -> None:
    """Print the per-data-set tables and the geometric means of ``result``."""
    print("\nRMSE, mean over seeds:\n" + markdown_table(result, "rmse", "{:.4g}"))
    print("\nR^2:\n" + markdown_table(result, "r2"))
    print("\nFit seconds:\n" + markdown_table(result, "fit_seconds", "{:.2f}"))
    print(f"\nGeometric means relative to {REFERENCE}:\n" + ratio_table(result, METRICS))


if __name__ == "__main__":
    main()
