"""What differs between learning problems: targets, output layer, loss, predictions.

A task is the estimator-side half of a problem: it validates and encodes the
target, says how wide the output layer is, weights the rows, decodes network
outputs into predictions and hands the training loop its
:class:`~skdnn.training.objectives.Objective` (loss, fused gradient for the
fast step, validation metrics). The fit pipeline of
:class:`~skdnn.estimators._base.BaseDNN` only talks to the task, so a new
problem (regression: squared-error, absolute, Huber or Poisson losses,
multi-output targets, standardized targets, validation RMSE and R^2) is a new
class here with a new :class:`Objective`, and an estimator whose ``_task``
returns it.
"""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np
import torch
from sklearn.utils.class_weight import compute_sample_weight
from sklearn.utils.multiclass import check_classification_targets, type_of_target

from skdnn.components.losses import regression_loss
from skdnn.estimators._data import check_features_and_target, row_weights
from skdnn.training.objectives import Objective, cross_entropy_objective
from skdnn.training.regression import TargetScale, regression_objective


class Task(Protocol):
    """What the fit pipeline asks of a learning problem.

    Fitted state (``classes_`` for classification, the target scale for a
    standardized regression) lives on the estimator: :meth:`learn` returns it
    as attributes to set, the other methods read it from ``estimator``.
    """

    #: Loss, fused-gradient key and validation metrics of the training loop.
    objective: Objective
    #: Whether the validation split is stratified by the encoded target.
    stratify: bool

    def validate(self, estimator: Any, X: Any, y: Any, *, reset: bool) -> tuple[Any, Any]:
        """Validated ``(X, y)``: float32 features and a target of the right kind."""

    def learn(
        self, estimator: Any, y: np.ndarray, weight: np.ndarray | None = None
    ) -> dict[str, Any]:
        """Fitted attributes of the target encoding, learned from ``y`` and its row weights."""

    def encode(self, estimator: Any, y: np.ndarray) -> np.ndarray:
        """``y`` as the loss's targets (class indices, standardized values...)."""

    def n_outputs(self, estimator: Any) -> int:
        """Width of the output layer."""

    def weights(self, estimator: Any, X: np.ndarray, y: np.ndarray, sample_weight: Any):
        """Per-row loss weights (mean 1) or None."""

    def decode(self, estimator: Any, outputs: torch.Tensor) -> np.ndarray:
        """Predictions from the network's outputs (float64, on the CPU)."""


class ClassificationTask:
    """Single-label classification: labels -> class indices, logits -> labels.

    Parameters
    ----------
    classes : array-like or None, default=None
        All classes, when known before the data (``partial_fit(classes=...)``);
        otherwise the labels of the first fit's ``y``.
    label_smoothing : float, default=0.0
        Label smoothing of the cross-entropy objective.
    """

    stratify = True

    def __init__(self, classes: Any = None, label_smoothing: float = 0.0) -> None:
        self.classes = classes
        self.objective = cross_entropy_objective(label_smoothing)

    def validate(self, estimator: Any, X: Any, y: Any, *, reset: bool) -> tuple[Any, Any]:
        """Validate ``X`` and a 1-D binary or multiclass ``y``."""
        X, y = check_features_and_target(estimator, X, y, reset=reset)
        kind = type_of_target(y, input_name="y")
        check_classification_targets(y)
        if kind not in ("binary", "multiclass"):
            raise ValueError(
                f"{type(estimator).__name__} supports binary and multiclass targets; "
                f"got a {kind!r} target."
            )
        return X, y

    def learn(
        self, estimator: Any, y: np.ndarray, weight: np.ndarray | None = None
    ) -> dict[str, Any]:
        """``classes_``: the sorted labels (at least two); the weights do not matter."""
        labels = y if self.classes is None else np.asarray(self.classes)
        classes = np.unique(labels)
        owner = type(estimator).__name__
        unlisted = [] if self.classes is None else _unknown_labels(y, classes)
        if unlisted:
            raise ValueError(
                f"y has labels that are not in classes={classes.tolist()}: {unlisted}. "
                "partial_fit's classes= must list every label the model will ever see."
            )
        if len(classes) < 2:
            raise ValueError(
                f"{owner} needs samples of at least 2 classes in the data, but the data "
                f"contains only one class: {classes[0]!r}."
                if len(classes)
                else f"{owner} got an empty target."
            )
        return {"classes_": classes}

    def encode(self, estimator: Any, y: np.ndarray) -> np.ndarray:
        """Indices of ``y`` in ``classes_``; unknown labels raise a ``ValueError``."""
        classes = estimator.classes_
        unknown = _unknown_labels(y, classes)
        if unknown:
            raise ValueError(
                f"y has labels that are not among the classes the model learns: "
                f"{unknown}; its classes are {classes.tolist()} (the labels of the "
                "training y, or partial_fit's classes=). A classifier can only be trained and "
                "validated on those."
            )
        return np.searchsorted(classes, y).astype(np.int64)

    def n_outputs(self, estimator: Any) -> int:
        """One logit per class."""
        return len(estimator.classes_)

    def weights(self, estimator: Any, X: np.ndarray, y: np.ndarray, sample_weight: Any):
        """``sample_weight`` times the ``class_weight`` of each row's class, mean 1."""
        class_weight = estimator.class_weight
        per_class = None if class_weight is None else compute_sample_weight(class_weight, y)
        return row_weights(X, sample_weight, per_class)

    def decode(self, estimator: Any, outputs: torch.Tensor) -> np.ndarray:
        """The label of the largest logit (or probability) of each row."""
        return estimator.classes_[np.asarray(outputs.argmax(dim=1))]


class RegressionTask:
    """Regression with one or more outputs: numeric targets -> scaled values, outputs -> values.

    The target scale (``target_offset_``, ``target_scale_``), the number of
    outputs and whether ``y`` was 2-D are learned on the first fit and kept
    on the estimator; the objective's validation RMSE and R^2 use them to
    report in the original units.

    Parameters
    ----------
    loss : str
        Name in :data:`~skdnn.components.losses.REGRESSION_LOSSES`.
    loss_params : dict
        Settings of the loss (``{"delta": huber_delta}`` for Huber).
    target_scaling : bool
        Whether to scale the targets (see :class:`~skdnn.training.regression.TargetScale`).
    """

    stratify = False

    def __init__(self, loss: str, loss_params: dict[str, Any], target_scaling: bool) -> None:
        self.loss = regression_loss(loss)
        self.loss_params = loss_params
        self.target_scaling = target_scaling
        self._target_scale: TargetScale | None = None

    @property
    def objective(self) -> Objective:
        """The loss and validation figures, once the target scale is known (after ``encode``)."""
        if self._target_scale is None:
            raise RuntimeError("RegressionTask.objective is known once a target was encoded.")
        return regression_objective(self.loss.name, self._target_scale, self.loss_params)

    def validate(self, estimator: Any, X: Any, y: Any, *, reset: bool) -> tuple[Any, Any]:
        """Validate ``X`` and a finite numeric 1-D or 2-D ``y`` (non-negative for Poisson)."""
        X, y = check_features_and_target(
            estimator, X, y, reset=reset, multi_output=True, y_numeric=True
        )
        owner = type(estimator).__name__
        if y.dtype.kind not in "biuf":
            example = np.ravel(y)[:1].tolist()
            raise ValueError(
                f"{owner} needs numeric targets; y has dtype {y.dtype} (for example "
                f"{example}). Convert it to numbers, or use a classifier for labels."
            )
        y = y.astype(np.float64, copy=False)
        if self.loss.non_negative_targets and (y < 0).any():
            raise ValueError(
                f'loss="{self.loss.name}" needs non-negative targets; y has values down to '
                f"{y.min():g}."
            )
        return X, y

    def learn(
        self, estimator: Any, y: np.ndarray, weight: np.ndarray | None = None
    ) -> dict[str, Any]:
        """Number of outputs, the target's dimensions and its (weighted) scale."""
        if len(y) == 0:
            raise ValueError(f"{type(estimator).__name__} got an empty target.")
        columns = _columns(y)
        scale = (
            TargetScale.fit(columns, centered=self.loss.centered_scaling, weight=weight)
            if self.target_scaling
            else TargetScale.identity(columns.shape[1])
        )
        return {
            "n_outputs_": columns.shape[1],
            "outputs_2d_": y.ndim == 2,
            "target_offset_": scale.offset,
            "target_scale_": scale.scale,
        }

    def encode(self, estimator: Any, y: np.ndarray) -> np.ndarray:
        """``y`` as float32 scaled values of shape (n, n_outputs)."""
        self._target_scale = _fitted_scale(estimator)
        columns = _columns(y)
        if columns.shape[1] != estimator.n_outputs_:
            raise ValueError(
                f"y has {columns.shape[1]} output(s), but {type(estimator).__name__} was fitted "
                f"with {estimator.n_outputs_}."
            )
        return self._target_scale.encode(columns)

    def n_outputs(self, estimator: Any) -> int:
        """One linear output per target column."""
        return estimator.n_outputs_

    def weights(self, estimator: Any, X: np.ndarray, y: np.ndarray, sample_weight: Any):
        """``sample_weight`` normalised to mean 1, or None."""
        return row_weights(X, sample_weight, None)

    def decode(self, estimator: Any, outputs: torch.Tensor) -> np.ndarray:
        """Predictions in the original units, shaped as the fitted ``y``."""
        values = self.values(estimator, outputs).numpy()
        return values if estimator.outputs_2d_ else values[:, 0]

    def values(self, estimator: Any, outputs: torch.Tensor) -> torch.Tensor:
        """Network outputs -> float64 predictions of shape (n, n_outputs), in original units."""
        return _fitted_scale(estimator).decode(self.loss.inverse_link(outputs.double()))


def _columns(y: np.ndarray) -> np.ndarray:
    return y.reshape(-1, 1) if y.ndim == 1 else y


def _fitted_scale(estimator: Any) -> TargetScale:
    return TargetScale(estimator.target_offset_, estimator.target_scale_)


def _unknown_labels(y: np.ndarray, classes: np.ndarray) -> list:
    """The labels of ``y`` that are not in ``classes``, sorted."""
    return np.setdiff1d(np.unique(y), classes).tolist()
