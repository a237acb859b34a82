"""Figures of a training run: learning curves, gradient norms, unit health, learning rates.

Each function takes a history (``history_``, a list of per-epoch dicts) or any object
with a ``history_``, draws on ``ax`` (a new figure when None) and returns the axes. It
plots whatever was recorded and raises ValueError when nothing is plottable (an empty
history, keys never recorded) or an argument is not what it should be; an estimator
that is not fitted raises scikit-learn's NotFittedError. matplotlib is imported only
when a function is called: ``pip install 'skdnn[plot]'``.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from sklearn.utils.validation import check_is_fitted

__all__ = ["compare_learning_curves", "plot_activation_health", "plot_gradient_norms",
           "plot_learning_curves", "plot_lr_finder", "plot_lr_schedule"]

_LABELS = {"loss": "Training loss", "val_loss": "Validation loss", "lr": "Learning rate",
           "accuracy": "Training accuracy", "val_accuracy": "Validation accuracy",
           "r2": "Training R²", "val_r2": "Validation R²", "time": "Seconds per epoch"}
#: The score panel of the learning curves: the first of these recorded (classifiers
#: record accuracy, regressors R²).
_SCORES = (("Accuracy", ("accuracy", "val_accuracy")), ("R²", ("r2", "val_r2")))


def _pyplot() -> Any:
    """Import ``matplotlib.pyplot`` or explain how to install it."""
    try:
        import matplotlib.pyplot as plt
    except ImportError as exc:
        msg = "matplotlib is required for skdnn.plotting: pip install 'skdnn[plot]'"
        raise ImportError(msg) from exc
    return plt


def _records(history: Any) -> list[Mapping[str, Any]]:
    """The list of epoch records of a history or of an object with ``history_``.

    An estimator that is not fitted raises scikit-learn's ``NotFittedError``;
    anything else that is not a list of dicts, a ``ValueError`` saying so.
    """
    if isinstance(history, type):
        raise ValueError(f"Pass a fitted {history.__name__} (or its history_), not the class.")
    if hasattr(history, "get_params") and not hasattr(history, "history_"):
        check_is_fitted(history)  # NotFittedError before fit
    records = getattr(history, "history_", history)
    if isinstance(records, (str, bytes, Mapping)) or not isinstance(records, Sequence):
        raise ValueError("Expected a history (list of per-epoch dicts) or a fitted estimator "
                         f"with a history_ attribute, got {type(history).__name__}.")
    if len(records) == 0:
        raise ValueError("The history is empty: there is nothing to plot.")
    bad = next((i for i, record in enumerate(records) if not isinstance(record, Mapping)), None)
    if bad is not None:
        raise ValueError(f"A history is a list of per-epoch dicts; record {bad} is a "
                         f"{type(records[bad]).__name__}.")
    return list(records)


def _series(records: list[Mapping[str, Any]], key: str) -> tuple[np.ndarray, np.ndarray]:
    """Epochs and values of a scalar ``key`` over the records that hold it."""
    kept = [(r.get("epoch", i + 1), r[key]) for i, r in enumerate(records) if key in r]
    if any(np.ndim(value) != 0 for _, value in kept):
        raise ValueError(f"{key!r} holds one value per layer, not a scalar per epoch.")
    epochs, values = zip(*kept, strict=True) if kept else ((), ())
    return np.asarray(epochs), _floats(values, f"the history's {key!r}")


def _floats(values: Any, name: str) -> np.ndarray:
    """``values`` as a float array, or a ``ValueError`` naming ``name``."""
    try:
        return np.asarray(values, dtype=float)
    except (TypeError, ValueError) as error:
        raise ValueError(f"{name} must hold numbers: {error}") from None


def _layers(records: list[Mapping[str, Any]], key: str) -> tuple[np.ndarray, np.ndarray]:
    """Epochs and an (epochs, layers) array of a per-layer ``key``, NaN where absent."""
    kept = [(r.get("epoch", i + 1), r[key]) for i, r in enumerate(records)
            if np.size(r.get(key, ()))]
    if not kept:
        raise ValueError(f"No epoch of the history recorded {key!r}: nothing to plot.")
    table = np.full((len(kept), max(len(values) for _, values in kept)), np.nan)
    for row, (_, values) in enumerate(kept):
        table[row, : len(values)] = _floats(values, f"the history's {key!r}")
    if not np.isfinite(table).any():
        raise ValueError(f"No epoch of the history has a finite {key!r}: nothing to plot.")
    return np.array([e for e, _ in kept]), table


def _axes(ax: Any) -> Any:  # ``ax``, or the axes of a new figure when None
    if ax is None:
        return _pyplot().subplots(figsize=(7, 4.5), layout="constrained")[1]
    if not (hasattr(ax, "plot") and hasattr(ax, "set")):
        raise ValueError(f"ax must be a matplotlib Axes or None, got {type(ax).__name__}.")
    return ax


def _by_epoch(ax: Any, heading: str, ylabel: str, **legend: Any) -> None:
    """Titles, whole-number epochs on the x-axis, a grid and a legend."""
    ax.set(title=heading, xlabel="Epoch", ylabel=ylabel)
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.grid(True, alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(**legend)


def _per_layer(history: Any, key: str, ax: Any, title: str, ylabel: str) -> Any:
    """One line per hidden layer of ``key``, coloured from the bottom (dark) up."""
    epochs, table = _layers(_records(history), key)
    ax, n_layers = _axes(ax), table.shape[1]
    colors = _pyplot().cm.viridis(np.linspace(0.0, 0.9, n_layers))
    for layer in range(n_layers):
        ax.plot(epochs, table[:, layer], marker=".", color=colors[layer],
                label=f"layer {layer + 1}" + (" (bottom)" if layer == 0 and n_layers > 1 else ""))
    _by_epoch(ax, title, ylabel, title="Hidden layer", ncols=1 + (n_layers - 1) // 12,
              fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return ax


def plot_learning_curves(history: Any, ax: Any = None) -> Any:
    """Plot training and validation loss, and the training and validation score, per epoch.

    Parameters
    ----------
    history : list of dict or estimator
        A ``history_`` list, or a fitted estimator that has one.
    ax : matplotlib Axes, optional
        Where to draw the losses only. When None, a new figure with two panels:
        losses, and the score: accuracy (``accuracy`` and ``val_accuracy``,
        whichever were recorded) or, for a regressor, R² (``val_r2``).

    Returns
    -------
    matplotlib Axes or ndarray of two Axes
        ``ax`` when given, else the array ``[loss_ax, score_ax]``. The best
        epoch (lowest ``val_loss``) is marked by a dashed vertical line.
    """
    records = _records(history)
    losses = {key: _series(records, key) for key in ("loss", "val_loss")}
    if not any(np.isfinite(values).any() for _, values in losses.values()):
        raise ValueError("The history holds no finite 'loss' or 'val_loss': nothing to plot.")
    axes = _axes(ax) if ax is not None else _pyplot().subplots(
        1, 2, figsize=(11, 4), sharex=True, layout="constrained")[1]
    panels = [ax] if ax is not None else list(axes)
    for key, (epochs, values) in losses.items():
        if len(values):
            panels[0].plot(epochs, values, marker=".", label=_LABELS[key])
    score, keys = next(
        ((name, keys) for name, keys in _SCORES if any(key in r for r in records for key in keys)),
        _SCORES[0],
    )
    if len(panels) == 2:
        drawn = False
        for key in keys:  # the colours of the matching losses
            epochs, values = _series(records, key)
            if len(values):
                panels[1].plot(epochs, values, marker=".", label=_LABELS[key],
                               color="C1" if key.startswith("val_") else "C0")
                drawn = True
        if not drawn:
            panels[1].text(0.5, 0.5, "no accuracy recorded", ha="center",
                           va="center", transform=panels[1].transAxes, color="grey")
    val_epochs, val_losses = losses["val_loss"]
    titles = [("Loss", "Loss"), (score, score)]
    for panel, (title, ylabel) in zip(panels, titles, strict=False):
        if len(val_losses):
            best = val_epochs[np.nanargmin(val_losses)]
            panel.axvline(best, color="grey", linestyle="--", label=f"best epoch ({best})")
        _by_epoch(panel, title, ylabel)
    return axes


def plot_gradient_norms(history: Any, ax: Any = None, log: bool = True) -> Any:
    """Plot each hidden layer's kernel-gradient norm per epoch.

    Norms falling by orders of magnitude towards the bottom layers show
    vanishing gradients; norms growing without bound show exploding ones.

    Parameters
    ----------
    history : list of dict or estimator
        A ``history_`` list, or a fitted estimator that has one.
    ax : matplotlib Axes, optional
        Where to draw; a new figure when None.
    log : bool, default=True
        Whether the y-axis is logarithmic.

    Returns
    -------
    matplotlib Axes
        The axes drawn on.
    """
    ax = _per_layer(history, "grad_norms", ax, "Gradient norm per hidden layer",
                    "L2 norm of kernel gradient (last batch)")
    if log:
        ax.set_yscale("log")
    return ax


def plot_activation_health(history: Any, ax: Any = None) -> Any:
    """Plot each hidden layer's fraction of dead (ReLU) or saturated units per epoch.

    Parameters
    ----------
    history : list of dict or estimator
        A ``history_`` list, or a fitted estimator that has one.
    ax : matplotlib Axes, optional
        Where to draw; a new figure when None.

    Returns
    -------
    matplotlib Axes
        The axes drawn on.
    """
    ax = _per_layer(history, "unhealthy_fraction", ax, "Activation health per hidden layer",
                    "Fraction of dead or saturated units")
    ax.set_ylim(-0.03, 1.03)
    return ax


def plot_lr_finder(learning_rates: Any, losses: Any, suggestion: float | None = None,
                   ax: Any = None) -> Any:
    """Plot the loss of a learning-rate sweep against the rate (log x-axis).

    Parameters
    ----------
    learning_rates : array-like of shape (n_steps,)
        Rate of each step; only the first ``len(losses)`` are used when the
        sweep stopped early on divergence.
    losses : array-like of shape (n_done,)
        Smoothed loss after each step.
    suggestion : float, optional
        A rate to mark with a vertical line.
    ax : matplotlib Axes, optional
        Where to draw; a new figure when None.

    Returns
    -------
    matplotlib Axes
        The axes drawn on.
    """
    rates, losses = _floats(learning_rates, "learning_rates"), _floats(losses, "losses")
    if rates.ndim != 1 or losses.ndim != 1:
        raise ValueError("learning_rates and losses must be 1-D, one value per step; got "
                         f"shapes {rates.shape} and {losses.shape}.")
    if not len(rates) or not (rates > 0).all():
        raise ValueError("learning_rates must be positive rates (the x-axis is logarithmic), "
                         "at least one.")
    if not 0 < len(losses) <= len(rates):
        raise ValueError(f"Need 1 to {len(rates)} losses (one per rate), got {len(losses)}.")
    if not np.isfinite(losses).any():
        raise ValueError("No loss of the sweep is finite: nothing to plot.")
    if suggestion is not None and not (np.ndim(suggestion) == 0 and np.isreal(suggestion)
                                       and not isinstance(suggestion, str)):
        raise ValueError(f"suggestion must be a learning rate or None, got {suggestion!r}.")
    ax = _axes(ax)
    ax.plot(rates[: len(losses)], losses, label="smoothed loss")
    if suggestion is not None:
        ax.axvline(suggestion, color="C3", linestyle="--", label=f"suggestion ({suggestion:.3g})")
    ax.set_xscale("log")
    ax.set(title="Learning-rate finder", xlabel="Learning rate", ylabel="Training loss")
    ax.grid(True, alpha=0.3)
    ax.legend()
    return ax


def _step_rates(records: list[Mapping[str, Any]]) -> tuple[np.ndarray, np.ndarray]:
    """Epoch positions and rates of every optimizer step the records describe.

    An epoch's ``lr_steps`` holds the rate of each of its steps; without it the
    epoch ran ``steps`` steps at ``lr`` (one point at ``lr`` when ``steps`` is
    not recorded either). Step ``i`` of ``n`` in epoch ``e`` ends at
    ``e - 1 + (i + 1) / n``, so the last step of an epoch lies on the epoch's
    number, as in the learning curves.
    """
    positions, rates = [], []
    for index, record in enumerate(records):
        epoch = record.get("epoch", index + 1)
        if record.get("lr_steps") is not None:
            values = np.asarray(record["lr_steps"], dtype=float).ravel()
        elif "lr" in record:
            values = np.full(max(int(record.get("steps", 1)), 1), float(record["lr"]))
        else:
            continue
        if len(values):
            positions.append(epoch - 1 + np.arange(1, len(values) + 1) / len(values))
            rates.append(values)
    if not rates:
        raise ValueError("No epoch of the history recorded 'lr' or 'lr_steps': nothing to plot.")
    return np.concatenate(positions), np.concatenate(rates)


def plot_lr_schedule(history: Any, ax: Any = None, log: bool = False) -> Any:
    """Plot the learning rate of every optimizer step of a run (its schedule).

    A per-step schedule (``"1cycle"``, ``"exponential"``, ``"power"``,
    ``"cosine"``) shows as the curve it is rather than one point per epoch: the
    history's ``lr_steps`` hold each step's rate. Each rate is drawn as a step
    that holds until the next optimizer step; the x-axis counts epochs, as in
    :func:`plot_learning_curves`.

    Parameters
    ----------
    history : list of dict or estimator
        A ``history_`` list, or a fitted estimator that has one.
    ax : matplotlib Axes, optional
        Where to draw; a new figure when None.
    log : bool, default=False
        Whether the y-axis is logarithmic (for exponential decay, say).

    Returns
    -------
    matplotlib Axes
        The axes drawn on.
    """
    positions, rates = _step_rates(_records(history))
    start = np.floor(positions[0] - 1e-9)  # where the first step begins
    ax = _axes(ax)
    ax.plot(np.r_[start, positions], np.r_[rates[0], rates], drawstyle="steps-pre",
            label="learning rate")
    if log:
        ax.set_yscale("log")
    ax.set(title="Learning-rate schedule", xlabel="Epoch", ylabel="Learning rate")
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.grid(True, alpha=0.3)
    return ax


def compare_learning_curves(histories: Mapping[str, Any], ax: Any = None,
                            metric: str = "val_loss") -> Any:
    """Plot one scalar metric per epoch for several named runs (optimizers, say).

    Parameters
    ----------
    histories : mapping of str to (list of dict or estimator)
        Run name to its history, or to a fitted estimator that has one.
    ax : matplotlib Axes, optional
        Where to draw; a new figure when None.
    metric : str, default="val_loss"
        A scalar key of the records: "loss", "val_loss", "accuracy", "val_accuracy",
        "lr", "time".

    Returns
    -------
    matplotlib Axes
        The axes drawn on.
    """
    if not isinstance(histories, Mapping) or not histories:
        raise ValueError("histories must be a non-empty mapping of run name to history.")
    curves = {name: _series(_records(history), metric) for name, history in histories.items()}
    missing = [name for name, (_, values) in curves.items() if not len(values)]
    if len(missing) == len(curves):
        raise ValueError(f"No run recorded {metric!r}: nothing to plot.")
    if missing:
        warnings.warn(f"Runs without {metric!r} are left out: {missing}.", stacklevel=2)
    ax = _axes(ax)
    for name, (epochs, values) in curves.items():
        if len(values):
            ax.plot(epochs, values, marker=".", label=str(name))
    label = _LABELS.get(metric, metric)
    _by_epoch(ax, f"{label} by run", label)
    return ax
