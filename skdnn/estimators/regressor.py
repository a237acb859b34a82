"""DNNRegressor: a deep feed-forward regressor with the chapter's techniques."""

from __future__ import annotations

import warnings
from typing import Any, ClassVar

import numpy as np
import torch
from sklearn.base import RegressorMixin
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted

from skdnn.components.losses import regression_loss
from skdnn.estimators._base import BaseDNN
from skdnn.estimators._data import as_dense_features, check_features
from skdnn.estimators._network import MLPNetworkMixin
from skdnn.estimators._param_lists import REGRESSOR_HYPERPARAMETERS
from skdnn.estimators._params import (
    Hyperparameter,
    store_parameters,
)
from skdnn.estimators._sklearn_compat import _fit_context
from skdnn.estimators._tasks import RegressionTask
from skdnn.estimators._tools import EnsembleMembersMixin, ModelToolsMixin
from skdnn.exceptions import SkdnnWarning
from skdnn.training.mc_dropout import dropout_layers, mc_dropout_moments


class DNNRegressor(
    RegressorMixin, EnsembleMembersMixin, ModelToolsMixin, MLPNetworkMixin, BaseDNN
):
    """Deep feed-forward neural network regressor on PyTorch.

    The hidden layers take every technique of ``DNNClassifier`` (initialization,
    activations, normalization, clipping, optimizers, schedules, l1/l2,
    dropout, max-norm, early stopping); the output layer has one linear unit
    per target. Targets are standardized internally by default and
    predictions returned in the original units. ``predict(X, return_std=True)``
    adds the Monte-Carlo dropout standard deviation.

    Parameters
    ----------
    <hyperparameters>

    Attributes
    ----------
    n_outputs_ : int
        Number of targets (columns of ``y``).
    outputs_2d_ : bool
        Whether ``y`` was 2-D at fit; predictions take the same shape
        (``(n, 1)`` for a one-column 2-D ``y``).
    target_offset_, target_scale_ : ndarray of shape (n_outputs_,)
        The network is trained on ``(y - target_offset_) / target_scale_``
        (0 and 1 with ``target_scaling=False``; offset 0 and the mean as scale
        for the Poisson loss).
    n_features_in_ : int
        Number of input features.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Feature names, when ``X`` had string column names.
    model_ : torch.nn.Sequential
        The trained network (emits scaled values; log-means for ``"poisson"``).
    history_ : list of dict
        One record per epoch: ``epoch``, ``loss``, ``val_loss`` (scaled units),
        ``val_rmse`` and ``val_r2`` (original units, averaged over outputs),
        ``lr``, ``steps``, ``lr_steps`` (as for ``DNNClassifier``), ``time``, and
        per hidden layer ``grad_norms`` and ``unhealthy_fraction``.
    n_epochs_ : int
        Epochs trained in total.
    best_epoch_ : int
        Epoch with the lowest monitored loss.

    See Also
    --------
    DNNClassifier : The same network for classification.
    TransferDNNRegressor : A regressor on the lower layers of a pretrained model.

    Examples
    --------
    >>> from sklearn.datasets import load_diabetes
    >>> from sklearn.preprocessing import scale
    >>> from skdnn import DNNRegressor
    >>> X, y = load_diabetes(return_X_y=True)
    >>> reg = DNNRegressor((32, 32), max_epochs=50, random_state=0)
    >>> reg.fit(scale(X), y).score(scale(X), y) > 0.4
    True
    """

    _hyperparameters: ClassVar[tuple[Hyperparameter, ...]] = REGRESSOR_HYPERPARAMETERS

    def __init__(
        self,
        hidden_layer_sizes=(100, 100, 100, 100, 100),
        *,
        loss="squared_error",
        huber_delta=1.0,
        target_scaling=True,
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
    def fit(self, X, y, *, validation_data=None, sample_weight=None) -> DNNRegressor:
        """Train the network on ``(X, y)``.

        Parameters
        ----------
        X : array-like or sparse matrix of shape (n_samples, n_features)
            Training inputs (pandas DataFrames keep their column names).
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            Finite numeric targets (non-negative for ``loss="poisson"``).
        validation_data : tuple (X_val, y_val), default=None
            Data for early stopping and the validation metrics; without it a
            random ``validation_fraction`` of ``X`` is held out.
        sample_weight : array-like of shape (n_samples,), default=None
            Per-row loss weights.

        Returns
        -------
        self : DNNRegressor
            The fitted estimator.
        """
        return self._fit(
            X, y, validation_data=validation_data, sample_weight=sample_weight,
            continues=self._continues(), epochs=self.max_epochs, hold_out=True,
        )

    def partial_fit(self, X, y, sample_weight=None) -> DNNRegressor:
        """Train for one epoch on ``(X, y)``, continuing from the current state.

        The first call learns the number of outputs and the target scale from
        its ``y``; later calls reuse them.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training inputs.
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            Targets.
        sample_weight : array-like of shape (n_samples,), default=None
            Per-row loss weights.

        Returns
        -------
        self : DNNRegressor
            The updated estimator.
        """
        first_call = not self.__sklearn_is_fitted__()
        if first_call:
            self._validate_params()
        return self._fit(
            X, y, sample_weight=sample_weight, continues=not first_call, epochs=1,
            hold_out=False,
        )

    @property
    def _member_combination(self) -> str:
        """Ensemble members combine as the mean of their predicted means (see the loss's link)."""
        return "log_mean_exp" if regression_loss(self.loss).link == "log" else "mean"

    def _task(self) -> RegressionTask:
        params = {"delta": self.huber_delta} if self.loss == "huber" else {}
        return RegressionTask(self.loss, params, self.target_scaling)

    # ------------------------------------------------------------------ prediction
    def predict(self, X, return_std: bool = False):
        """Predicted targets for ``X``, optionally with their Monte-Carlo dropout spread.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Inputs.
        return_std : bool, default=False
            Also return the standard deviation of the predictions over
            Monte-Carlo dropout passes (``mc_samples`` of them, 100 when it is
            0); the mean over the same passes is returned as the prediction.
            Needs dropout in the network (``dropout`` or ``input_dropout``).
            With ``n_ensemble > 1`` the standard deviation across the ensemble
            members instead, beside their mean (no dropout needed).

        Returns
        -------
        y_pred : ndarray of shape (n_samples,) or (n_samples, n_outputs)
            Predictions in the original units (the Monte-Carlo mean when
            ``mc_samples > 0`` or ``return_std``), shaped as the fitted ``y``.
        y_std : ndarray, same shape as ``y_pred``
            Only with ``return_std=True``.

        Raises
        ------
        ValueError
            With ``return_std=True`` for a network without dropout: every pass
            would be the same and the spread zero, which would read as certainty.
        """
        check_is_fitted(self)
        features = check_features(self, X, reset=False, keep_sparse=True)
        task = self._task()
        if not (return_std or self.mc_samples > 0):  # sparse rows made dense chunk by chunk
            return task.decode(self, self._forward(features))
        features = as_dense_features(features)
        if return_std and self.n_ensemble > 1:  # the spread of the ensemble members
            mean, std = self._member_moments(features, task.values)
        else:
            mean, std = self._mc_dropout(features, task, self.mc_samples or 100, require=return_std)
        if not self.outputs_2d_:
            mean, std = mean[:, 0], std[:, 0]
        return (mean, std) if return_std else mean

    def _mc_dropout(self, X: np.ndarray, task: RegressionTask, n_passes: int, *, require: bool):
        if require and not dropout_layers(self.model_):
            raise ValueError(
                "predict(X, return_std=True) draws Monte-Carlo dropout passes, but this "
                "network has no dropout (dropout=0 and input_dropout=0): every pass would be "
                "identical and the standard deviation 0. Fit with dropout > 0 for an "
                "uncertainty."
            )
        if not dropout_layers(self.model_):
            warnings.warn(
                "mc_samples > 0 averages Monte-Carlo dropout passes, but this network has no "
                "dropout (dropout=0 and input_dropout=0): every pass is identical.",
                SkdnnWarning,
                stacklevel=3,
            )
        device = next(self.model_.parameters()).device
        seed = int(check_random_state(self.random_state).randint(2**31 - 1))
        mean, std = mc_dropout_moments(
            self.model_, torch.from_numpy(X).to(device), n_passes, seed,
            transform=lambda outputs: task.values(self, outputs),
        )
        return mean.numpy(), std.numpy()

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        tags.target_tags.multi_output = True
        # NaN is imputed by the table input layer (not by the transfer subclasses).
        tags.input_tags.allow_nan = hasattr(self, "categorical_features")
        return tags
