"""Tests of skdnn.plotting on synthetic histories, and on one small real fit."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from sklearn.exceptions import NotFittedError  # noqa: E402

from skdnn import DNNClassifier, plotting  # noqa: E402
from skdnn.plotting import (  # noqa: E402
    compare_learning_curves,
    plot_activation_health,
    plot_gradient_norms,
    plot_learning_curves,
    plot_lr_finder,
    plot_lr_schedule,
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
        record["accuracy"] = 0.8 + 0.01 * epoch
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
    assert labels(acc_ax) == ["Training accuracy", "Validation accuracy", "best epoch (8)"]
    np.testing.assert_allclose(acc_ax.get_lines()[0].get_ydata(), 0.8 + 0.01 * np.arange(1, 13))
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
    assert labels(acc_ax) == ["Training accuracy"] and not vertical_lines(loss_ax)
    save(loss_ax, "learning_curves_no_validation")


def test_learning_curves_without_any_accuracy():
    history = [{"epoch": e, "loss": 1.0 / e} for e in (1, 2, 3)]  # an autoencoder's, say
    loss_ax, acc_ax = plot_learning_curves(history)
    assert labels(loss_ax) == ["Training loss"] and not acc_ax.get_lines()
    assert "no accuracy recorded" in acc_ax.texts[0].get_text()


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


@pytest.mark.parametrize("function, key", [(plot_learning_curves, "loss"),
                                           (plot_gradient_norms, "grad_norms"),
                                           (plot_activation_health, "unhealthy_fraction")])
def test_a_history_of_only_nan_raises(function, key):
    value = [float("nan")] * 2 if key != "loss" else float("nan")
    with pytest.raises(ValueError, match=f"finite {key!r}|finite 'loss'"):
        function([{"epoch": 1, key: value}, {"epoch": 2, key: value}])


def test_a_sweep_of_only_nan_raises():
    with pytest.raises(ValueError, match="No loss of the sweep is finite"):
        plot_lr_finder([1e-4, 1e-3], [np.nan, np.inf])


def test_an_autoencoders_layers_are_drawn_at_their_place():
    from sklearn.datasets import load_digits

    from skdnn import StackedAutoencoder

    X = load_digits().data[:200] / 16
    sae = StackedAutoencoder((8, 4), activation="relu", max_epochs=2, fine_tune_epochs=1,
                             device="cpu", random_state=0).fit(X)
    stages = [record["stage"] for record in sae.history_]
    assert stages == ["layer1", "layer1", "layer2", "layer2", "fine_tune"]
    layer1, layer2 = plot_activation_health(sae).get_lines()[:2]
    health = [record["unhealthy_fraction"] for record in sae.history_]
    np.testing.assert_array_equal(layer1.get_ydata(), [h[0] for h in health])
    np.testing.assert_array_equal(layer2.get_ydata(), [h[1] for h in health])
    assert np.isnan(layer2.get_ydata()[:2]).all() and np.isnan(layer1.get_ydata()[2:4]).all()
    assert np.isfinite(layer2.get_ydata()[2:]).all()


def test_not_a_history_raises():
    with pytest.raises(ValueError, match="history_"):
        plot_gradient_norms(object())
    with pytest.raises(ValueError, match="record 1 is a int"):
        plot_learning_curves([{"loss": 1.0}, 2])
    with pytest.raises(ValueError, match="not the class"):
        plot_learning_curves(DNNClassifier)
    with pytest.raises(ValueError, match="'loss' must hold numbers"):
        plot_learning_curves([{"loss": "x"}])


@pytest.mark.parametrize("function", [plot_learning_curves, plot_gradient_norms,
                                      plot_activation_health, plot_lr_schedule])
def test_unfitted_estimator_raises_not_fitted(function):
    with pytest.raises(NotFittedError):
        function(DNNClassifier())
    with pytest.raises(NotFittedError):
        compare_learning_curves({"run": DNNClassifier()})


def test_wrong_arguments_raise_value_errors():
    history = [{"epoch": 1, "loss": 1.0, "lr": 0.1}]
    with pytest.raises(ValueError, match="ax must be a matplotlib Axes"):
        plot_learning_curves(history, ax="left")
    with pytest.raises(ValueError, match="ax must be a matplotlib Axes"):
        plot_lr_schedule(history, ax=3)
    with pytest.raises(ValueError, match="learning_rates must hold numbers"):
        plot_lr_finder(["a", "b"], [1.0, 2.0])
    with pytest.raises(ValueError, match="1-D"):
        plot_lr_finder(np.ones((2, 2)), [1.0, 2.0])
    with pytest.raises(ValueError, match="positive"):
        plot_lr_finder([-1e-3, 1e-2], [1.0, 2.0])
    with pytest.raises(ValueError, match="positive"):
        plot_lr_finder([], [])
    with pytest.raises(ValueError, match="suggestion must be a learning rate"):
        plot_lr_finder([1e-3, 1e-2], [1.0, 2.0], suggestion="best")


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


def one_cycle_history(n_epochs=4, steps=5):
    """Per-step rates rising then falling, one constant epoch without lr_steps at the end."""
    rates = np.r_[np.linspace(0.01, 0.1, n_epochs * steps // 2),
                  np.linspace(0.1, 0.001, n_epochs * steps - n_epochs * steps // 2)]
    history = [{"epoch": e + 1, "lr": rates[e * steps], "steps": steps,
                "lr_steps": rates[e * steps:(e + 1) * steps].tolist()} for e in range(n_epochs)]
    history.append({"epoch": n_epochs + 1, "lr": 0.001, "steps": steps})
    return history, np.r_[rates, np.full(steps, 0.001)]


def test_lr_schedule_draws_every_step():
    history, rates = one_cycle_history()
    ax = plot_lr_schedule(Fitted(history))
    (line,) = ax.get_lines()
    # The first point repeats the first rate at the start of epoch 1, so that it is drawn.
    np.testing.assert_allclose(line.get_ydata(), np.r_[rates[0], rates])
    x = line.get_xdata()
    np.testing.assert_allclose(x[[0, 1, 5, -1]], [0.0, 0.2, 1.0, 5.0])  # steps end at epochs
    assert line.get_drawstyle() == "steps-pre" and ax.get_yscale() == "linear"
    assert ax.get_xlabel() == "Epoch" and ax.get_ylabel() == "Learning rate"
    save(ax, "lr_schedule")
    assert plot_lr_schedule(history, log=True).get_yscale() == "log"


def test_lr_schedule_of_a_history_with_one_rate_per_epoch():
    # Records without step counts (an older history): one point per epoch.
    history = [{"epoch": e, "lr": 0.1 / e} for e in (11, 12, 13)]  # a continued fit
    (line,) = plot_lr_schedule(history).get_lines()
    np.testing.assert_allclose(line.get_xdata(), [10, 11, 12, 13])
    np.testing.assert_allclose(line.get_ydata(), [0.1 / 11, 0.1 / 11, 0.1 / 12, 0.1 / 13])


def test_lr_schedule_without_rates_raises():
    with pytest.raises(ValueError, match="empty"):
        plot_lr_schedule([])
    with pytest.raises(ValueError, match="'lr'"):
        plot_lr_schedule([{"epoch": 1, "loss": 1.0}])


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
    assert labels(axes[1]) == ["Training accuracy", "Validation accuracy",
                               f"best epoch ({clf.best_epoch_})"]
    save(axes, "real_learning_curves")
    ax = plot_gradient_norms(clf)
    assert len(ax.get_lines()) == len(clf.history_[0]["grad_norms"])
    save(ax, "real_gradient_norms")
    ax = plot_activation_health(clf)
    assert len(ax.get_lines()) == len(clf.history_[0]["unhealthy_fraction"])
    save(ax, "real_activation_health")


def test_learning_curves_of_a_regressor_show_validation_r2():
    history = [{k: v for k, v in r.items() if "accuracy" not in k} for r in make_history()]
    for record in history:
        record["val_r2"] = 1.0 - record["val_loss"]
    _, score_ax = plot_learning_curves(history)
    assert labels(score_ax) == ["Validation R²", "best epoch (8)"]
    assert score_ax.get_title() == "R²"
    np.testing.assert_allclose(score_ax.get_lines()[0].get_ydata(),
                               [1.0 - r["val_loss"] for r in history])


def test_real_one_cycle_schedule(digits):
    # The drawn rates are those 1cycle sets step by step: a replay of the
    # schedule on a bare optimizer gives them again.
    import torch

    from skdnn import DNNClassifier
    from skdnn.components.schedule_adapter import LRScheduleAdapter

    X, y, _, _ = digits
    clf = DNNClassifier((16,), max_epochs=4, batch_size=100, early_stopping=False,
                        lr_schedule="1cycle", lr_schedule_params={"max_lr": 0.05},
                        random_state=0).fit(X[:500], y[:500])
    assert [r["steps"] for r in clf.history_] == [5] * 4
    optimizer = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=clf.learning_rate)
    replay = LRScheduleAdapter(optimizer, "1cycle", {"max_lr": 0.05}, steps_per_epoch=5,
                               total_steps=20)
    expected = []
    for _ in range(20):
        expected.append(optimizer.param_groups[0]["lr"])
        replay.step()
    (line,) = plot_lr_schedule(clf).get_lines()
    np.testing.assert_allclose(line.get_ydata()[1:], expected, rtol=1e-12)
    assert 0.04 < max(expected) <= 0.05  # the peak, up to where the steps fall
    save(line.axes, "real_lr_schedule")
