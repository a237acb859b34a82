"""Accuracy, log-loss and fit time on real tabular classification data sets.

    python benchmarks/tabular.py [--quick] [--split development|evaluation]
                                 [--systems NAME ...] [--out benchmarks/results/NAME.json]

Every system is fitted on the same stratified 75/25 split per seed (3 seeds;
``--quick``: 2 small data sets, 1 seed). Systems without categorical support
get a ``ColumnTransformer`` in front (median imputation + standardization of
numeric columns, one-hot encoding of categoricals, missing categories as their
own column). The summary is the geometric mean over data sets of each system's
error (1 - accuracy), log-loss and fit time divided by MLPClassifier's.

To compare a new system, add a factory ``seed -> estimator`` to ``SYSTEMS``.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import pandas as pd
import torch
from sklearn.base import BaseEstimator
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, log_loss
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import make_pipeline
from tabular_runner import (
    Factory,
    command_line,
    markdown_table,
    numeric_imputer,
    one_hot_pipeline,
    ratio_table,
)

from skdnn import DNNClassifier
from skdnn.configs import TABULAR

REFERENCE = "MLPClassifier"
METRICS = ("accuracy", "error", "log_loss", "fit_seconds")
QUICK_DATASETS = ("breast_cancer", "titanic")


def _realmlp(seed: int) -> BaseEstimator:
    from pytabkit import RealMLP_TD_Classifier  # RealMLP does not accept NaN in numbers

    model = RealMLP_TD_Classifier(
        random_state=seed, device="cpu", n_threads=torch.get_num_threads(), verbosity=0
    )
    return make_pipeline(numeric_imputer(), model)


def _has_pytabkit() -> bool:
    try:
        import pytabkit  # noqa: F401
    except ImportError:
        return False
    return True


SYSTEMS: dict[str, Factory] = {
    "skdnn defaults": lambda seed: one_hot_pipeline(DNNClassifier(random_state=seed)),
    # The tabular configuration reads the raw DataFrame (categories, NaN) itself.
    "skdnn tabular": lambda seed: DNNClassifier(**TABULAR, random_state=seed),
    "skdnn tabular k=4": lambda seed: DNNClassifier(**TABULAR, n_ensemble=4, random_state=seed),
    "MLPClassifier": lambda seed: one_hot_pipeline(MLPClassifier(random_state=seed)),
    "HistGradientBoosting": lambda seed: HistGradientBoostingClassifier(random_state=seed),
    "LogisticRegression": lambda seed: one_hot_pipeline(LogisticRegression(max_iter=1000)),
}
if _has_pytabkit():
    SYSTEMS["RealMLP (pytabkit)"] = _realmlp


def score(model: BaseEstimator, X: pd.DataFrame, y: pd.Series) -> dict[str, float]:
    """Accuracy, error and log-loss of a fitted classifier on held-out data."""
    accuracy = accuracy_score(y, model.predict(X))
    proba = model.predict_proba(X)
    return {
        "accuracy": accuracy,
        "error": 1.0 - accuracy,
        "log_loss": log_loss(y, proba, labels=model.classes_),
    }


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    return command_line(
        argv, description=__doc__.splitlines()[0], task="classification", systems=SYSTEMS,
        reference=REFERENCE, quick_datasets=QUICK_DATASETS, score=score, metrics=METRICS,
        error="error", print_tables=print_tables,
    )


def print_tables(result: dict[str, Any]) -> None:
    """Print the per-data-set tables and the geometric means of ``result``."""
    print("\nError (1 - accuracy), mean over seeds:\n" + markdown_table(result, "error"))
    print("\nLog-loss:\n" + markdown_table(result, "log_loss"))
    print("\nFit seconds:\n" + markdown_table(result, "fit_seconds", "{:.2f}"))
    print(f"\nGeometric means relative to {REFERENCE}:\n" + ratio_table(result, METRICS))


if __name__ == "__main__":
    main()
