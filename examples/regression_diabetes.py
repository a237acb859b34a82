"""Regression on the diabetes data
=================================

The chapter's techniques on a regression task: losses, target scaling, and
Monte-Carlo dropout as an uncertainty.

scikit-learn's bundled diabetes data (442 patients, 10 standardized features,
a disease-progression score from 25 to 346) is split 75/25. A 3x64 ELU network
with early stopping is trained with each loss of ``DNNRegressor``, once
without target scaling, and compared with ``MLPRegressor`` and a ridge
regression. The disease score is positive, so the Poisson loss (log link)
applies too. Then a network with dropout predicts with ``return_std=True``:
the test rows are sorted by the Monte-Carlo standard deviation, and the
absolute error of each quarter is shown, together with how often the truth
falls within two standard deviations of the mean.

Run ``python examples/regression_diabetes.py [--quick] [--out DIR]``.
"""

from __future__ import annotations

import sys
import warnings

import _common
import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_diabetes
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import RidgeCV
from sklearn.metrics import r2_score, root_mean_squared_error
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skdnn import DNNRegressor


def main(argv=None) -> dict:
    args = _common.parse_args(__doc__, argv)
    quick = args.quick
    X, y = load_diabetes(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(
        X.astype(np.float32), y, test_size=0.25, random_state=args.seed
    )
    print(f"data: diabetes, {len(y_train)} training and {len(y_test)} test rows, "
          f"target from {y.min():.0f} to {y.max():.0f}", flush=True)
    settings = dict(hidden_layer_sizes=(32, 32) if quick else (64, 64, 64),
                    max_epochs=15 if quick else 300, patience=20, batch_size=32,
                    random_state=args.seed)
    contenders = {
        "squared_error": DNNRegressor(**settings),
        "absolute_error": DNNRegressor(loss="absolute_error", **settings),
        "huber (delta=1)": DNNRegressor(loss="huber", huber_delta=1.0, **settings),
        "poisson (log link)": DNNRegressor(loss="poisson", **settings),
        "squared_error, no target scaling": DNNRegressor(target_scaling=False, **settings),
        "MLPRegressor (defaults)": MLPRegressor(max_iter=30 if quick else 200,
                                                random_state=args.seed),
        "RidgeCV": RidgeCV(alphas=np.logspace(-3, 3, 13)),
    }
    rows = []
    for name, model in contenders.items():
        pipeline = make_pipeline(StandardScaler(), model)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            _, seconds = _common.timed_fit(pipeline, X_train, y_train)
        predicted = pipeline.predict(X_test)
        rows.append({"model": name,
                     "test_rmse": float(root_mean_squared_error(y_test, predicted)),
                     "test_r2": float(r2_score(y_test, predicted)),
                     "epochs": getattr(model, "n_epochs_", None),
                     "fit_s": seconds})
    _common.print_table("Test RMSE and R^2 (target in its original units)", rows)

    mc = make_pipeline(StandardScaler(), DNNRegressor(dropout=0.2, mc_samples=50, **settings))
    mc.fit(X_train, y_train)
    mean, std = mc[-1].predict(mc[0].transform(X_test), return_std=True)
    error = np.abs(mean - y_test)
    quarters = np.array_split(np.argsort(std), 4)
    quarter_rows = [{"std_quarter": f"Q{i + 1}" + (" (most confident)" if i == 0 else
                                                   " (least confident)" if i == 3 else ""),
                     "mean_std": float(std[q].mean()),
                     "mean_absolute_error": float(error[q].mean())}
                    for i, q in enumerate(quarters)]
    _common.print_table("Absolute error by Monte-Carlo dropout spread", quarter_rows)
    within = float(np.mean(error <= 2 * std))
    print(f"truth within mean +- 2 std: {within:.0%} of the test rows (the spread covers the "
          "model's uncertainty, not the noise of the score itself)")

    fig, ax = plt.subplots(figsize=(5.5, 5))
    ax.errorbar(y_test, mean, yerr=2 * std, fmt="o", markersize=3, alpha=0.6,
                elinewidth=0.8, label="MC mean +- 2 std")
    low, high = float(y.min()), float(y.max())
    ax.plot([low, high], [low, high], color="black", linewidth=1, label="perfect")
    ax.set(xlabel="true score", ylabel="predicted score",
           title="Diabetes: Monte-Carlo dropout predictions")
    ax.legend(loc="upper left")
    figure = _common.save(fig, args.out, "regression_diabetes_mc_dropout.png")
    return {"rows": rows, "quarters": quarter_rows, "coverage_2_std": within,
            "figures": [figure]}


if __name__ == "__main__":
    main(sys.argv[1:])
