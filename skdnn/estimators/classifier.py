"""DNNClassifier: a deep feed-forward classifier with the chapter's techniques."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import torch
from sklearn.base import ClassifierMixin
from sklearn.utils.validation import check_is_fitted

from skdnn.estimators._base import BaseDNN
from skdnn.estimators._data import check_features
from skdnn.estimators._network import MLPNetworkMixin
from skdnn.estimators._param_lists import CLASSIFIER_HYPERPARAMETERS
from skdnn.estimators._params import (
    Hyperparameter,
    store_parameters,
)
from skdnn.estimators._sklearn_compat import _fit_context
from skdnn.estimators._tasks import ClassificationTask
from skdnn.estimators._tools import (
    EnsembleProbabilitiesMixin,
    ModelToolsMixin,
    MonteCarloProbabilitiesMixin,
)


class DNNClassifier(
    ClassifierMixin,
    MonteCarloProbabilitiesMixin,
    EnsembleProbabilitiesMixin,
    ModelToolsMixin,
    MLPNetworkMixin,
    BaseDNN,
):
    """Deep feed-forward neural network classifier on PyTorch.

    Every technique of the "Training Deep Neural Networks" chapter is a
    hyperparameter: initialization, non-saturating activations, batch or layer
    normalization, gradient clipping, fast optimizers, learning-rate schedules,
    l1/l2, dropout (also Monte-Carlo dropout), max-norm and early stopping.

    Parameters
    ----------
    <hyperparameters>

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        Class labels.
    n_features_in_ : int
        Number of input features.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Feature names, when ``X`` had string column names.
    model_ : torch.nn.Sequential
        The trained network (emits logits).
    history_ : list of dict
        One record per epoch: ``epoch``, ``loss``, ``accuracy`` (training,
        from the epoch's own steps), ``val_loss``, ``val_accuracy``, ``lr`` (at
        the epoch's start), ``steps``, ``lr_steps`` (each step's rate, when the
        schedule changed it within the epoch), ``time``, and per hidden layer
        ``grad_norms`` (the L2 norm of its kernel's gradient at the epoch's last
        batch) and ``unhealthy_fraction``.
    n_epochs_ : int
        Epochs trained in total.
    best_epoch_ : int
        Epoch with the lowest monitored loss.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from skdnn import DNNClassifier
    >>> X, y = load_digits(return_X_y=True)
    >>> clf = DNNClassifier(hidden_layer_sizes=(64,), max_epochs=5, random_state=0)
    >>> clf.fit(X / 16, y).score(X / 16, y) > 0.8
    True
    """

    _hyperparameters: ClassVar[tuple[Hyperparameter, ...]] = CLASSIFIER_HYPERPARAMETERS

    def __init__(
        self,
        hidden_layer_sizes=(100, 100, 100, 100, 100),
        *,
        activation="elu",
        activation_params=None,
        kernel_initializer="auto",
        initializer_params=None,
        normalization=None,
        normalization_position="before",
        batch_norm_momentum=0.99,
        input_normalization=False,
        input_scaling="auto",
        numeric_embedding=None,
        numeric_embedding_params=None,
        categorical_features="from_dtype",
        categorical_encoding="auto",
        dropout=0.0,
        input_dropout=0.0,
        dropout_type="auto",
        mc_samples=0,
        n_ensemble=1,
        ensemble_type="batch",
        l1=0.0,
        l2=0.0,
        max_norm=None,
        max_norm_output=False,
        clip_value=None,
        clip_norm=None,
        early_stopping=True,
        validation_fraction=0.1,
        patience=10,
        monitor="val_loss",
        min_delta=1e-4,
        restore_best_weights=True,
        augment=None,
        optimizer="adam",
        learning_rate=1e-3,
        momentum=0.9,
        beta_1=0.9,
        beta_2=0.999,
        rho=0.9,
        epsilon=1e-7,
        optimizer_params=None,
        lr_schedule=None,
        lr_schedule_params=None,
        batch_size=32,
        max_epochs=100,
        shuffle=True,
        class_weight=None,
        label_smoothing=0.0,
        device="auto",
        mixed_precision=None,
        random_state=None,
        warm_start=False,
        verbose=0,
        checkpoint_dir=None,
        checkpoint_every=1,
    ):
        store_parameters(self, locals())

    # ------------------------------------------------------------------ fitting
    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, *, validation_data=None, sample_weight=None) -> DNNClassifier:
        """Train the network on ``(X, y)``.

        Parameters
        ----------
        X : array-like or sparse matrix of shape (n_samples, n_features)
            Training inputs (pandas DataFrames keep their column names).
        y : array-like of shape (n_samples,)
            Class labels of any type scikit-learn accepts.
        validation_data : tuple (X_val, y_val), default=None
            Data for early stopping and the validation metrics; without it a
            stratified ``validation_fraction`` of ``X`` is held out.
        sample_weight : array-like of shape (n_samples,), default=None
            Per-row loss weights.

        Returns
        -------
        self : DNNClassifier
            The fitted estimator.
        """
        return self._fit(
            X,
            y,
            validation_data=validation_data,
            sample_weight=sample_weight,
            continues=self._continues(),
            epochs=self.max_epochs,
            hold_out=True,
        )

    def partial_fit(self, X, y, classes=None, sample_weight=None) -> DNNClassifier:
        """Train for one epoch on ``(X, y)``, continuing from the current state.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training inputs.
        y : array-like of shape (n_samples,)
            Class labels.
        classes : array-like, default=None
            All classes that will ever appear; needed on the first call when a
            batch does not contain every class (defaults to the labels of ``y``).
        sample_weight : array-like of shape (n_samples,), default=None
            Per-row loss weights.

        Returns
        -------
        self : DNNClassifier
            The updated estimator.
        """
        first_call = not self.__sklearn_is_fitted__()
        if first_call:
            self._validate_params()
        _check_partial_fit_classes(self, classes, first_call)
        return self._fit(
            X,
            y,
            sample_weight=sample_weight,
            continues=not first_call,
            epochs=1,
            hold_out=False,
            task=ClassificationTask(classes, self.label_smoothing),
        )

    def _task(self) -> ClassificationTask:
        return ClassificationTask(label_smoothing=self.label_smoothing)

    # ------------------------------------------------------------------ prediction
    def predict_proba(self, X) -> np.ndarray:
        """Class probabilities for ``X`` (Monte-Carlo averaged when ``mc_samples > 0``).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Inputs.

        Returns
        -------
        ndarray of shape (n_samples, n_classes)
            Probabilities in the order of ``classes_``.
        """
        if self.mc_samples > 0:
            return self.predict_proba_mc(X)[0]
        return torch.softmax(self._logits(X), dim=1).numpy()

    def predict_log_proba(self, X) -> np.ndarray:
        """Logarithm of :meth:`predict_proba`.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Inputs.

        Returns
        -------
        ndarray of shape (n_samples, n_classes)
            Log-probabilities in the order of ``classes_``.
        """
        if self.mc_samples > 0:
            with np.errstate(divide="ignore"):
                return np.log(self.predict_proba(X))
        return torch.log_softmax(self._logits(X), dim=1).numpy()

    def _logits(self, X) -> torch.Tensor:
        """Validated ``X`` through the fitted network: float64 logits on the CPU."""
        check_is_fitted(self)
        return self._forward(check_features(self, X, reset=False, keep_sparse=True)).double()

    def predict(self, X) -> np.ndarray:
        """Most probable class of each row of ``X``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Inputs.

        Returns
        -------
        ndarray of shape (n_samples,)
            Labels from ``classes_``.
        """
        probabilities = torch.from_numpy(self.predict_proba(X))
        return self._task().decode(self, probabilities)

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        # NaN is imputed by the table input layer (not by the transfer subclasses).
        tags.input_tags.allow_nan = hasattr(self, "categorical_features")
        return tags


def _check_partial_fit_classes(estimator: DNNClassifier, classes: Any, first_call: bool) -> None:
    """``partial_fit``'s rules for ``classes`` and ``class_weight`` (as ``SGDClassifier``'s)."""
    if estimator.class_weight == "balanced":
        raise ValueError(
            "class_weight='balanced' is not supported by partial_fit: each call sees only "
            "part of the data, so it cannot balance the classes. Pass class_weight as a "
            "dict, computed for instance by sklearn.utils.class_weight.compute_class_weight "
            "on all labels."
        )
    if (
        not first_call
        and classes is not None
        and not np.array_equal(np.unique(np.asarray(classes)), estimator.classes_)
    ):
        raise ValueError(
            f"classes={np.asarray(classes).tolist()} is not the same as on the first call "
            f"to partial_fit ({estimator.classes_.tolist()})."
        )
