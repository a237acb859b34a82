"""Tests of skdnn.plotting on synthetic histories, and on one small real fit."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from skdnn import plotting  # noqa: E402
from skdnn.plotting import (  # noqa: E402
    compare_learning_curves,
    plot_activation_health,
    plot_gradient_norms,
    plot_learning_curves,
    plot_lr_finder,
)

PLOTS = Path("/tmp/skdnn_plots")


def make_history(n_epochs=12, n_layers=4, validation=True, seed=0):
    """A plausible history: loss falls, val_loss bottoms out at epoch 8."""
    rng = np.random.default_rng(seed)
    history = []
    for epoch in range(1, n_epochs + 1):
        record = {"epoch": epoch, "loss": 2.0 / epoch, "lr": 0.01, "time": 0.1,
                  # Vanishing gradients: each layer down is ten times smaller.
                  "grad_norms": [10.0 ** (k - n_layers) * (1 + rng.random())
                                 for k in range(n_layers)],
                  "unhealthy_fraction": [min(1.0, 0.05 * k * epoch / n_epochs)
                                         for k in range(n_layers)]}
        if validation:
            record["val_loss"] = (0.5 + 0.01 * (epoch - 8) ** 2) * (1 + 0.2 * seed)
            record["val_accuracy"] = 0.9 - 0.002 * (epoch - 8) ** 2 * (1 + seed)
        history.append(record)
    return history


class Fitted:
    """Stands for an estimator: only ``history_`` matters."""

    def __init__(self, history):
        self.history_ = history


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def save(ax, name):
    figure = np.ravel(ax)[0].figure
    PLOTS.mkdir(parents=True, exist_ok=True)
    figure.savefig(PLOTS / f"{name}.png", dpi=80)


def labels(ax):
    return [line.get_label() for line in ax.get_lines()]


def vertical_lines(ax):
    return [line for line in ax.get_lines() if np.ptp(line.get_xdata()) == 0]


def test_module_imports_without_matplotlib():
    code = ("import sys\nsys.modules['matplotlib'] = sys.modules['matplotlib.pyplot'] = None\n"
            "import skdnn.plotting as p\n"
            "try:\n    p.plot_gradient_norms([{'grad_norms': [1.0]}])\n"
            "except ImportError as e:\n    print(e)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "pip install 'skdnn[plot]'" in out.stdout


def test_plotting_imports_no_estimators():
    source = Path(plotting.__file__).read_text()
    assert "skdnn" not in "".join(line for line in source.splitlines() if "import" in line)


def test_learning_curves_two_panels_and_best_epoch():
    axes = plot_learning_curves(make_history())
    assert len(axes) == 2
    loss_ax, acc_ax = axes
    assert labels(loss_ax) == ["Training loss", "Validation loss", "best epoch (8)"]
    assert labels(acc_ax) == ["Validation accuracy", "best epoch (8)"]
    for ax in axes:
        (marker,) = vertical_lines(ax)
        assert marker.get_xdata()[0] == 8
        assert ax.get_xlabel() == "Epoch" and ax.get_title() and ax.get_legend() is not None
    save(axes, "learning_curves")


def test_learning_curves_on_given_ax_plots_losses_only():
    _, ax = plt.subplots()
    assert plot_learning_curves(Fitted(make_history()), ax=ax) is ax
    assert labels(ax) == ["Training loss", "Validation loss", "best epoch (8)"]


def test_learning_curves_without_validation():
    loss_ax, acc_ax = plot_learning_curves(make_history(validation=False))
    assert labels(loss_ax) == ["Training loss"]
    assert not vertical_lines(loss_ax) and not acc_ax.get_lines()
    assert "no validation accuracy" in acc_ax.texts[0].get_text()
    save(loss_ax, "learning_curves_no_validation")


@pytest.mark.parametrize("function", [plot_learning_curves, plot_gradient_norms,
                                      plot_activation_health])
def test_empty_history_raises(function):
    with pytest.raises(ValueError, match="empty"):
        function([])
    with pytest.raises(ValueError, match="empty"):
        function(Fitted([]))


@pytest.mark.parametrize("function, key", [(plot_learning_curves, "loss"),
                                           (plot_gradient_norms, "grad_norms"),
                                           (plot_activation_health, "unhealthy_fraction")])
def test_nothing_plottable_raises(function, key):
    with pytest.raises(ValueError, match=key):
        function([{"epoch": 1, "lr": 0.1}])


def test_not_a_history_raises():
    with pytest.raises(TypeError, match="history_"):
        plot_gradient_norms(object())


@pytest.mark.parametrize("log", [True, False])
def test_gradient_norms(log):
    ax = plot_gradient_norms(make_history(n_layers=5), log=log)
    assert labels(ax) == ["layer 1 (bottom)", "layer 2", "layer 3", "layer 4", "layer 5"]
    assert ax.get_yscale() == ("log" if log else "linear")
    assert ax.get_title() and ax.get_ylabel() and ax.get_xlabel() == "Epoch"
    if log:
        save(ax, "gradient_norms")


def test_gradient_norms_of_varying_depth_are_padded():
    history = [{"epoch": 1, "grad_norms": [1.0]}, {"epoch": 2, "grad_norms": [1.0, 2.0]}]
    ax = plot_gradient_norms(history)
    assert len(ax.get_lines()) == 2
    assert np.isnan(ax.get_lines()[1].get_ydata()[0])


def test_activation_health():
    ax = plot_activation_health(make_history(n_layers=3))
    assert labels(ax) == ["layer 1 (bottom)", "layer 2", "layer 3"]
    assert ax.get_ylim()[0] < 0 and ax.get_ylim()[1] > 1
    save(ax, "activation_health")


def test_lr_finder():
    rates = np.geomspace(1e-6, 10, 100)
    losses = 2.3 - np.tanh(np.linspace(0, 3, 80)) + np.linspace(0, 1, 80) ** 6
    ax = plot_lr_finder(rates, losses, suggestion=1e-3)
    assert ax.get_xscale() == "log"
    assert labels(ax) == ["smoothed loss", "suggestion (0.001)"]
    assert len(ax.get_lines()[0].get_xdata()) == 80  # truncated to the losses swept
    assert vertical_lines(ax)[0].get_xdata()[0] == 1e-3
    save(ax, "lr_finder")
    assert labels(plot_lr_finder(rates, losses)) == ["smoothed loss"]
    for bad in ([], np.ones(101)):
        with pytest.raises(ValueError, match="losses"):
            plot_lr_finder(rates, bad)


def test_compare_learning_curves():
    runs = {"sgd": make_history(seed=0), "adam": Fitted(make_history(seed=1)),
            "nadam": make_history(seed=2)}
    ax = compare_learning_curves(runs)
    assert labels(ax) == ["sgd", "adam", "nadam"]
    assert ax.get_ylabel() == "Validation loss"
    save(ax, "compare_learning_curves")
    ax = compare_learning_curves(runs, metric="val_accuracy")
    assert ax.get_ylabel() == "Validation accuracy"


def test_compare_learning_curves_missing_metric():
    runs = {"plain": make_history(validation=False), "batch norm": make_history()}
    with pytest.warns(UserWarning, match="plain"):
        ax = compare_learning_curves(runs)
    assert labels(ax) == ["batch norm"]
    with pytest.raises(ValueError, match="val_loss"):
        compare_learning_curves({"plain": make_history(validation=False)})
    with pytest.raises(ValueError, match="per layer"):
        compare_learning_curves(runs, metric="grad_norms")
    for bad in ({}, {"run": []}):
        with pytest.raises(ValueError):
            compare_learning_curves(bad)


def test_real_fit(digits):
    from skdnn import DNNClassifier

    X, y, _, _ = digits
    clf = DNNClassifier((32, 32, 32), activation="relu", max_epochs=4, random_state=0)
    clf.fit(X[:500], y[:500])
    axes = plot_learning_curves(clf)
    assert len(axes) == 2 and len(axes[1].get_lines()) == 2  # accuracy + best epoch
    save(axes, "real_learning_curves")
    ax = plot_gradient_norms(clf)
    assert len(ax.get_lines()) == len(clf.history_[0]["grad_norms"])
    save(ax, "real_gradient_norms")
    ax = plot_activation_health(clf)
    assert len(ax.get_lines()) == len(clf.history_[0]["unhealthy_fraction"])
    save(ax, "real_activation_health")
