"""Fast optimizers and learning-rate schedules
===========================================

Every optimizer (as in Table 11-2 of the chapter) and every schedule, compared on
one data set.

Part 1 trains the same network with every optimizer name of ``DNNClassifier``
(sgd, momentum, nesterov, adagrad, rmsprop, adam, adamax, nadam, adamw, ftrl),
each at a customary learning rate, and reports the first epoch whose
validation accuracy reaches a target, and the final accuracy.

Part 2 trains it with SGD + momentum under each schedule (power,
exponential, piecewise, performance, 1cycle) and plots the learning rate of
every optimizer step and the validation accuracy per epoch. ``history_``
records the rate of every step (``lr_steps``), so the table reports the rate
of the last step, the true final rate (1cycle ends at ``eta0 / 1000``), not
the rate at the start of the last epoch.

Runs on scikit-learn's digits, or on Fashion-MNIST when it is installed.

Run ``python examples/optimizers_and_schedules.py [--quick] [--out DIR]``.
"""

from __future__ import annotations

import math
import sys

import _common
import matplotlib.pyplot as plt
import numpy as np

from skdnn import DNNClassifier
from skdnn.plotting import compare_learning_curves

LEARNING_RATES = {
    "sgd": 0.05, "momentum": 0.01, "nesterov": 0.01, "adagrad": 0.05, "rmsprop": 1e-3,
    "adam": 1e-3, "adamax": 2e-3, "nadam": 1e-3, "adamw": 1e-3, "ftrl": 0.1,
}


def _epochs_to(history, target):
    for record in history:
        if record.get("val_accuracy") is not None and record["val_accuracy"] >= target:
            return int(record["epoch"])
    return None


def _rates_per_step(clf) -> np.ndarray:
    """The rate of each optimizer step of ``clf``'s fit, from ``history_``.

    An epoch records ``lr_steps`` when its rate changed from step to step,
    otherwise its one rate ``lr`` held for all its ``steps``.
    """
    return np.concatenate([record.get("lr_steps") or [record["lr"]] * record["steps"]
                           for record in clf.history_])


def main(argv=None) -> dict:
    args = _common.parse_args(__doc__, argv,
                              target=(float, None, "validation accuracy to reach"))
    quick = args.quick
    data = _common.load_data(args.data)
    args.target = args.target or (0.6 if quick else 0.95 if data.small else 0.85)
    X, y = _common.subset(data.X_train, data.y_train, n=1000 if quick else 20_000,
                          seed=args.seed)
    X_val, y_val = _common.subset(data.X_test, data.y_test, n=500 if quick else 5000,
                                  seed=args.seed)
    epochs = 3 if quick else 20
    batch_size = 64 if quick else 32
    base = dict(hidden_layer_sizes=(64, 64) if quick else (100,) * 3,
                kernel_initializer="he_normal", early_stopping=False, max_epochs=epochs,
                batch_size=batch_size, random_state=args.seed)

    opt_rows, opt_models = [], {}
    for name, rate in LEARNING_RATES.items():
        clf, seconds = _common.timed_fit(DNNClassifier(**base, optimizer=name,
                                                       learning_rate=rate),
                                         X, y, validation_data=(X_val, y_val))
        opt_models[name] = clf
        opt_rows.append({"optimizer": name, "learning_rate": rate,
                         f"epochs_to_{args.target:g}": _epochs_to(clf.history_, args.target),
                         "final_val_accuracy": float(clf.history_[-1]["val_accuracy"]),
                         "final_loss": float(clf.history_[-1]["loss"]), "fit_s": seconds})
    _common.print_table("Optimizers (same network, same data)", opt_rows)

    steps = math.ceil(len(y) / batch_size)
    schedules = {
        "constant": (None, None),
        "power": ("power", {"s": 2 * steps, "c": 1.0}),
        "exponential": ("exponential", {"s": epochs * steps}),
        "piecewise": ("piecewise", {"boundaries": [max(1, epochs // 3), max(2, 2 * epochs // 3)],
                                    "values": [0.02, 0.005, 0.001]}),
        "performance": ("performance", {"factor": 0.5, "patience": 1}),
        "1cycle": ("1cycle", {"max_lr": 0.05}),
    }
    sched_rows, sched_models, step_rates = [], {}, {}
    for name, (schedule, params) in schedules.items():
        clf = DNNClassifier(**base, optimizer="momentum", learning_rate=0.01,
                            lr_schedule=schedule, lr_schedule_params=params)
        clf.fit(X, y, validation_data=(X_val, y_val))
        sched_models[name] = clf
        rates = _rates_per_step(clf)
        step_rates[name] = rates
        sched_rows.append({"schedule": name,
                           "first_lr": float(rates[0]),
                           "max_lr": float(rates.max()),
                           "last_step_lr": float(rates[-1]),
                           "final_val_accuracy": float(clf.history_[-1]["val_accuracy"])})
    _common.print_table("Learning-rate schedules (SGD + momentum 0.9, eta0 = 0.01; "
                        "rates of the first and the last optimizer step)", sched_rows)

    # One legend per figure, outside the axes, so that it hides no line.
    figures = []
    fig, axes = plt.subplots(1, 2, figsize=(14, 4), layout="constrained")
    compare_learning_curves(opt_models, ax=axes[0], metric="val_accuracy")
    compare_learning_curves(opt_models, ax=axes[1], metric="loss")
    axes[1].set_yscale("log")
    for ax in axes:
        ax.get_legend().remove()
    fig.legend(*axes[1].get_legend_handles_labels(), loc="outside right upper",
               fontsize="small")
    figures.append(_common.save(fig, args.out, "optimizers.png"))
    fig, axes = plt.subplots(1, 2, figsize=(14, 4), layout="constrained")
    for name, rates in step_rates.items():
        axes[0].plot(1 + np.arange(len(rates)) / steps, rates, label=name)
    axes[0].set(yscale="log", xlabel="Epoch", ylabel="Learning rate",
                title="Learning rate of every step")
    compare_learning_curves(sched_models, ax=axes[1], metric="val_accuracy")
    axes[1].get_legend().remove()
    fig.legend(*axes[0].get_legend_handles_labels(), loc="outside right upper",
               fontsize="small")
    figures.append(_common.save(fig, args.out, "schedules.png"))
    return {"optimizers": opt_rows, "schedules": sched_rows, "figures": figures}


if __name__ == "__main__":
    main(sys.argv[1:])
