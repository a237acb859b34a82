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
from sklearn.utils.validation import validate_data

from skdnn.estimators._data import as_dense_features, row_weights
from skdnn.training.objectives import CROSS_ENTROPY, Objective


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

    def learn(self, estimator: Any, y: np.ndarray) -> dict[str, Any]:
        """Fitted attributes of the target encoding, learned from ``y`` (first fit)."""

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
    """

    objective = CROSS_ENTROPY
    stratify = True

    def __init__(self, classes: Any = None) -> None:
        self.classes = classes

    def validate(self, estimator: Any, X: Any, y: Any, *, reset: bool) -> tuple[Any, Any]:
        """Validate ``X`` and a 1-D binary or multiclass ``y``."""
        X, y = validate_data(
            estimator, X, y, reset=reset, dtype=np.float32, accept_sparse=("csr", "csc", "coo")
        )
        kind = type_of_target(y, input_name="y")
        check_classification_targets(y)
        if kind not in ("binary", "multiclass"):
            raise ValueError(
                f"{type(estimator).__name__} supports binary and multiclass targets; "
                f"got a {kind!r} target."
            )
        return as_dense_features(X), y

    def learn(self, estimator: Any, y: np.ndarray) -> dict[str, Any]:
        """``classes_``: the sorted labels (at least two)."""
        labels = y if self.classes is None else np.asarray(self.classes)
        classes = np.unique(labels)
        owner = type(estimator).__name__
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
        unknown = np.setdiff1d(np.unique(y), classes)
        if unknown.size:
            raise ValueError(
                f"y contains labels not seen in the first fit: {unknown.tolist()}; "
                f"known classes are {classes.tolist()}."
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
