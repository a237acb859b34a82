"""The loop shared by the tabular benchmarks: data sets x seeds x systems, then summaries.

A *system* is a factory ``(seed) -> estimator``; every estimator is fitted on
the raw DataFrame (categoricals as ``category`` dtype, NaN kept), so each
system brings its own preprocessing (see :func:`one_hot_pipeline`). For each
seed the data set is split once (stratified for classification) and all
systems see the same split. Fit time is the wall time of ``fit``.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from sklearn.base import BaseEstimator
from sklearn.compose import ColumnTransformer, make_column_selector
from sklearn.impute import SimpleImputer
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from tabular_data import TabularDataset, datasets, describe

Factory = Callable[[int], BaseEstimator]
Scorer = Callable[[BaseEstimator, pd.DataFrame, pd.Series], dict[str, float]]

TEST_SIZE = 0.25


def one_hot_preprocessor() -> ColumnTransformer:
    """Numeric columns: median imputation and standardization; categoricals: one-hot.

    Missing categories become their own one-hot column; categories unseen in
    training encode as all zeros.
    """
    numeric = make_pipeline(SimpleImputer(strategy="median"), StandardScaler())
    categorical = make_pipeline(
        SimpleImputer(strategy="constant", fill_value="__missing__"),
        OneHotEncoder(handle_unknown="ignore", sparse_output=False),
    )
    return ColumnTransformer(
        [
            ("numeric", numeric, make_column_selector(dtype_include="number")),
            ("categorical", categorical, make_column_selector(dtype_include="category")),
        ]
    )


def one_hot_pipeline(model: BaseEstimator) -> Pipeline:
    """``model`` behind :func:`one_hot_preprocessor`, as one estimator."""
    return make_pipeline(one_hot_preprocessor(), model)


def numeric_imputer() -> ColumnTransformer:
    """Median-impute numeric columns, pass categoricals through, keep a DataFrame."""
    return ColumnTransformer(
        [("numeric", SimpleImputer(strategy="median"),
          make_column_selector(dtype_include="number"))],
        remainder="passthrough",
        verbose_feature_names_out=False,
    ).set_output(transform="pandas")


def _as_categorical_strings(X: pd.DataFrame) -> pd.DataFrame:
    """Category columns with string categories (some estimators need uniform types)."""
    X = X.copy()
    for column in X.columns:
        if isinstance(X[column].dtype, pd.CategoricalDtype):
            X[column] = X[column].astype(str).where(X[column].notna()).astype("category")
    return X


def load_capped(dataset: TabularDataset, max_rows: int | None) -> tuple[pd.DataFrame, pd.Series]:
    """Load ``dataset``; above ``max_rows`` rows keep a fixed (stratified) random subsample."""
    X, y = dataset.load()
    X = _as_categorical_strings(X)
    if max_rows is not None and len(X) > max_rows:
        stratify = y if dataset.task == "classification" else None
        X, _, y, _ = train_test_split(
            X, y, train_size=max_rows, random_state=0, stratify=stratify
        )
        X, y = X.reset_index(drop=True), y.reset_index(drop=True)
    return X, y


def run_one(
    dataset: TabularDataset,
    data: tuple[pd.DataFrame, pd.Series],
    seed: int,
    systems: Mapping[str, Factory],
    score: Scorer,
) -> dict[str, dict[str, float]]:
    """Fit every system on one seeded split of ``data``; metrics and fit time per system."""
    X, y = data
    stratify = y if dataset.task == "classification" else None
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=TEST_SIZE, random_state=seed, stratify=stratify
    )
    results = {}
    for name, factory in systems.items():
        model = factory(seed)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            start = time.perf_counter()
            model.fit(X_train, y_train)
            fit_seconds = time.perf_counter() - start
            metrics = score(model, X_test, y_test)
        results[name] = {**metrics, "fit_seconds": fit_seconds}
    return results


def geometric_mean(values: Sequence[float]) -> float:
    """Geometric mean of positive values (nan if empty)."""
    if not values:
        return math.nan
    return float(np.exp(np.mean(np.log(values))))


def summarize(
    per_dataset: Mapping[str, Mapping[str, list[Mapping[str, float]]]],
    metrics: Sequence[str],
    reference: str,
    error: str,
    error_floors: Mapping[str, float] | None = None,
) -> dict[str, Any]:
    """Mean over seeds per data set and system; geometric means relative to ``reference``.

    ``error`` names the metric whose ratio to the reference's is averaged
    geometrically (an error: lower is better). Where ``error_floors`` gives a
    data set a floor, mean errors below it count as the floor (for a
    classification error: half a misclassified test sample), so that a perfect
    score on a small test set gives a finite ratio. Data sets where the
    reference's error is still 0 are left out of that mean and listed.
    """
    floors = error_floors or {}
    means: dict[str, dict[str, dict[str, float]]] = {}
    for dataset, by_system in per_dataset.items():
        means[dataset] = {
            system: {m: float(np.mean([run[m] for run in runs])) for m in metrics}
            for system, runs in by_system.items()
        }
    systems = sorted({s for by_system in means.values() for s in by_system})
    relative: dict[str, dict[str, float | int]] = {}
    def floored(dataset: str, metric: str, value: float) -> float:
        return max(value, floors.get(dataset, 0.0)) if metric == error else value

    skipped = [d for d, by in means.items()
               if floored(d, error, by.get(reference, {}).get(error, 0.0)) <= 0.0]
    for system in systems:
        ratios = {"error": [], "log_loss": [], "fit_seconds": []}
        for dataset, by_system in means.items():
            if dataset in skipped or system not in by_system:
                continue
            for key, metric in (("error", error), ("log_loss", "log_loss"),
                                ("fit_seconds", "fit_seconds")):
                if metric in by_system[system]:
                    ratios[key].append(
                        max(floored(dataset, metric, by_system[system][metric]), 1e-12)
                        / floored(dataset, metric, by_system[reference][metric])
                    )
        relative[system] = {
            f"{key}_ratio": geometric_mean(values) for key, values in ratios.items() if values
        }
        relative[system]["n_datasets"] = len(ratios["error"])
    return {"means": means, "relative_to_reference": relative, "reference": reference,
            "error_metric": error, "error_floors": dict(floors),
            "left_out_of_geometric_mean": skipped}


def run_benchmark(
    datasets: Mapping[str, TabularDataset],
    systems: Mapping[str, Factory],
    *,
    seeds: Sequence[int],
    score: Scorer,
    metrics: Sequence[str],
    reference: str,
    error: str,
    max_rows: int | None = None,
    out: Path | None = None,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Run every system on every data set and seed; write JSON after each data set.

    Seeds are the outer loop, so that a run stopped early has every data set at
    least once; the summary averages whatever seeds finished.
    """
    result: dict[str, Any] = {
        "machine": {"python": platform.python_version(), "platform": platform.platform(),
                    "torch_threads": torch.get_num_threads()},
        "seeds": list(seeds),
        "test_size": TEST_SIZE,
        "max_rows": max_rows,
        "systems": list(systems),
        "datasets": {},
        "runs": {},
    }
    data = {}
    for name, dataset in datasets.items():
        data[name] = load_capped(dataset, max_rows)
        result["datasets"][name] = {**describe(dataset), "rows_used": len(data[name][0])}
    floors = error_floors(result)
    for seed in seeds:
        for name, dataset in datasets.items():
            runs = result["runs"].setdefault(name, {system: [] for system in systems})
            for system, metrics_of_run in run_one(dataset, data[name], seed, systems,
                                                  score).items():
                runs[system].append(metrics_of_run)
                shown = ", ".join(f"{k}={v:.4g}" for k, v in metrics_of_run.items())
                log(f"{name} seed={seed} {system}: {shown}")
            result["summary"] = summarize(result["runs"], metrics, reference, error, floors)
            if out is not None:
                out.parent.mkdir(parents=True, exist_ok=True)
                out.write_text(json.dumps(result, indent=1))
    return result


def error_floors(result: Mapping[str, Any]) -> dict[str, float]:
    """Half a misclassified test sample per classification data set of ``result``."""
    return {
        name: 0.5 / math.ceil(result["test_size"] * info.get("rows_used", info["rows"]))
        for name, info in result["datasets"].items() if "classes" in info
    }


def resummarize(path: Path, metrics: Sequence[str]) -> dict[str, Any]:
    """Recompute the summary of a saved result (after a change in the summary), write it back."""
    result = json.loads(path.read_text())
    previous = result["summary"]
    result["summary"] = summarize(result["runs"], metrics, previous["reference"],
                                  previous["error_metric"], error_floors(result))
    path.write_text(json.dumps(result, indent=1))
    return result


def by_split(result: Mapping[str, Any], metrics: Sequence[str]) -> dict[str, Any]:
    """The summary recomputed on the development and the evaluation data sets separately."""
    summary = result["summary"]
    parts = {}
    for split in ("development", "evaluation"):
        names = [n for n, info in result["datasets"].items() if info["split"] == split]
        if names:
            parts[split] = summarize(
                {n: result["runs"][n] for n in names}, metrics,
                summary["reference"], summary["error_metric"], summary.get("error_floors"),
            )["relative_to_reference"]
    return parts


def markdown_table(result: Mapping[str, Any], metric: str, fmt: str = "{:.3f}") -> str:
    """Per-data-set means of ``metric`` (rows) by system (columns), then the ratios."""
    summary = result["summary"]
    systems = result["systems"]
    lines = ["| data set | split | rows | " + " | ".join(systems) + " |",
             "|---|---|---|" + "---|" * len(systems)]
    for name, by_system in summary["means"].items():
        info = result["datasets"][name]
        cells = [fmt.format(by_system[s][metric]) if s in by_system else "-" for s in systems]
        rows = info.get("rows_used", info["rows"])
        lines.append(f"| {name} | {info['split'][:3]} | {rows} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def ratio_table(result: Mapping[str, Any], metrics: Sequence[str]) -> str:
    """Geometric-mean ratios to the reference, overall and per split."""
    parts = {"all": result["summary"]["relative_to_reference"], **by_split(result, metrics)}
    keys = [k for k in ("error_ratio", "log_loss_ratio", "fit_seconds_ratio")
            if any(k in v for part in parts.values() for v in part.values())]
    lines = ["| system | " + " | ".join(f"{p}: {k}" for p in parts for k in keys) + " |",
             "|---|" + "---|" * (len(parts) * len(keys))]
    for system in result["systems"]:
        cells = [
            f"{parts[p][system][k]:.3f}" if system in parts[p] and k in parts[p][system] else "-"
            for p in parts for k in keys
        ]
        lines.append(f"| {system} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def command_line(
    argv: Sequence[str] | None,
    *,
    description: str,
    task: str,
    systems: Mapping[str, Callable[[], BaseEstimator]],
    reference: str,
    quick_datasets: Sequence[str],
    score: Callable[[BaseEstimator, pd.DataFrame, pd.Series], dict[str, float]],
    metrics: Sequence[str],
    error: str,
    print_tables: Callable[[dict[str, Any]], None],
) -> dict[str, Any]:
    """Parse the benchmark options, run (or resummarize) and print the tables.

    The classification and regression benchmarks differ only in the keyword
    arguments: their task, systems, reference system, score and metrics.
    """
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--quick", action="store_true", help="2 small data sets, 1 seed")
    parser.add_argument("--split", choices=("development", "evaluation"))
    parser.add_argument("--datasets", nargs="+", help="only these data sets")
    parser.add_argument("--systems", nargs="+", choices=list(systems), help="only these systems")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--max-rows", type=int, help="subsample larger data sets to this size")
    parser.add_argument("--threads", type=int, help="torch threads (default: torch's own)")
    parser.add_argument("--out", type=Path, help="write the results as JSON here")
    parser.add_argument("--resummarize", type=Path, metavar="JSON",
                        help="recompute and print the summary of a saved result; no fitting")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)

    chosen = datasets(task, args.split)
    names = quick_datasets if args.quick else args.datasets
    if names:
        unknown = sorted(set(names) - set(chosen))
        if unknown:
            parser.error(f"unknown data sets {unknown}; choose from {sorted(chosen)}")
        chosen = {name: chosen[name] for name in names}
    run_systems = {name: systems[name] for name in (args.systems or systems)}
    if reference not in run_systems:
        run_systems = {reference: systems[reference], **run_systems}
    if args.resummarize:
        result = resummarize(args.resummarize, metrics)
    else:
        result = run_benchmark(
            chosen, run_systems, seeds=range(1 if args.quick else args.seeds), score=score,
            metrics=metrics, reference=reference, error=error, max_rows=args.max_rows,
            out=args.out,
        )
    print_tables(result)
    return result
