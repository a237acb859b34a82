"""Tools on a network beyond fit/predict: MC dropout, ensemble members, LR finder, summary..."""

from __future__ import annotations

import warnings
from numbers import Integral

import numpy as np
import torch
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted

from skdnn.components.regularizers import zero_small_weights
from skdnn.estimators._data import check_features, shared_tensor
from skdnn.estimators._lr_finder import LRFinderResult, find_learning_rate
from skdnn.exceptions import SkdnnWarning
from skdnn.network_ensemble import member_outputs, n_members
from skdnn.training.mc_dropout import dropout_layers, mc_dropout_probabilities
from skdnn.training.summary import summarize


class ModelToolsMixin:
    """LR finder, ``summary()`` and ``zero_small_weights()`` (classifiers and regressors)."""

    def find_learning_rate(
        self, X, y, *, min_lr: float = 1e-6, max_lr: float = 10.0, n_steps: int = 300
    ) -> LRFinderResult:
        """Sweep the learning rate exponentially to find a good one.

        Trains a fresh copy of this network one batch per rate, from ``min_lr``
        to ``max_lr``, recording the smoothed loss; stops when the loss explodes.
        This estimator is left untouched (and unfitted if it was).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training inputs.
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            Targets: class labels for a classifier, values for a regressor.
        min_lr, max_lr : float, default=1e-6, 10.0
            Range of the sweep.
        n_steps : int, default=300
            Number of steps (one batch each).

        Returns
        -------
        LRFinderResult
            ``learning_rates``, ``losses``, ``suggestion`` and ``plot(ax=None)``.
        """
        return find_learning_rate(self, X, y, min_lr=min_lr, max_lr=max_lr, n_steps=n_steps)

    def summary(self) -> str:
        """A table of layers, output shapes and trainable / non-trainable parameters.

        Returns
        -------
        str
            The table, ready to print. Batch-norm running statistics and frozen
            layers count as non-trainable.
        """
        check_is_fitted(self)
        return summarize(self.model_, self.n_features_in_)

    def zero_small_weights(self, threshold: float) -> float:
        """Set every kernel weight with ``abs(w) < threshold`` to exactly 0.

        The simplest road to a sparse model: train (ideally with ``l1``), then
        zero out the tiny weights.

        Parameters
        ----------
        threshold : float
            Magnitude under which a weight is zeroed.

        Returns
        -------
        float
            Fraction of kernel weights that are now zero.
        """
        check_is_fitted(self)
        return zero_small_weights(self.model_, threshold)


class MonteCarloProbabilitiesMixin:
    """``predict_proba_mc``: class probabilities averaged over Monte-Carlo dropout passes."""

    def predict_proba_mc(
        self, X, n_passes: int | None = None, *, n_samples: int | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Monte-Carlo dropout probabilities and their spread.

        Averages ``n_passes`` forward passes in which only the dropout layers
        are stochastic (batch norm keeps its running statistics). Deterministic
        for an integer ``random_state``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Inputs.
        n_passes : int, default=None
            Number of passes; defaults to ``mc_samples`` (or 100 when that is 0).
        n_samples : int, default=None
            Deprecated name of ``n_passes`` (scikit-learn's ``n_samples`` means
            rows); passing it warns with a ``FutureWarning``.

        Returns
        -------
        mean : ndarray of shape (n_rows, n_classes)
            Averaged class probabilities.
        std : ndarray of shape (n_rows, n_classes)
            Standard deviation of each probability across the passes.
        """
        if n_samples is not None:
            warnings.warn(
                "predict_proba_mc(n_samples=...) is deprecated: pass n_passes instead.",
                FutureWarning,
                stacklevel=2,
            )
            n_passes = n_passes or n_samples
        if n_passes is not None and not (
            isinstance(n_passes, Integral) and not isinstance(n_passes, bool) and n_passes >= 1
        ):
            raise ValueError(f"n_passes must be an int >= 1 or None; got {n_passes!r}.")
        check_is_fitted(self)
        X = check_features(self, X, reset=False)
        n_passes = n_passes or self.mc_samples or 100
        if not dropout_layers(self.model_):
            warnings.warn(
                "Monte-Carlo dropout needs dropout layers (dropout > 0 or input_dropout > 0); "
                "every pass is identical.",
                SkdnnWarning,
                stacklevel=2,
            )
        device = next(self.model_.parameters()).device
        seed = int(check_random_state(self.random_state).randint(2**31 - 1))
        mean, std = mc_dropout_probabilities(
            self.model_, shared_tensor(X).to(device), n_passes, seed
        )
        return mean.numpy(), std.numpy()


class EnsembleMembersMixin:
    """The outputs of each ensemble member (``n_ensemble > 1``), beside their mean."""

    def _member_outputs(self, X: np.ndarray, batch_size: int = 8192) -> torch.Tensor:
        """``X`` (validated, as ``check_features`` returns it) through every member.

        Returns float64 outputs ``(n, k, n_outputs)`` on the CPU.

        Raises
        ------
        ValueError
            If the network has one member (``n_ensemble=1``).
        """
        module = self.model_.eval()
        if n_members(module) == 1:
            raise ValueError(
                "This estimator was fitted with n_ensemble=1: it has no ensemble members. "
                "Fit it with n_ensemble > 1 for the members' spread (or use Monte-Carlo "
                "dropout)."
            )
        device = next(module.parameters()).device
        inputs = shared_tensor(X)
        with torch.inference_mode(), member_outputs(module):
            chunks = torch.split(inputs, batch_size)
            return torch.cat([module(chunk.to(device)).double().cpu() for chunk in chunks])


    def _member_moments(self, X, values) -> tuple[np.ndarray, np.ndarray]:
        """Mean and (population) standard deviation over the members of ``values(self, outputs)``.

        ``values`` maps the members' outputs ``(n, k, n_outputs)`` to predictions
        in the original units, of the same shape; ``X`` is validated.
        """
        predictions = values(self, self._member_outputs(X))
        return predictions.mean(dim=1).numpy(), predictions.std(dim=1, correction=0).numpy()


class EnsembleProbabilitiesMixin(EnsembleMembersMixin):
    """``predict_proba_members``: each ensemble member's class probabilities."""

    def predict_proba_members(self, X) -> np.ndarray:
        """Class probabilities of each ensemble member (``n_ensemble > 1``).

        ``predict_proba`` is their mean over the members (without Monte-Carlo
        dropout); their spread across the members (``.std(axis=1)``) is the
        ensemble's uncertainty, as ``predict_proba_mc``'s is dropout's.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Inputs.

        Returns
        -------
        ndarray of shape (n_samples, n_ensemble, n_classes)
            Probabilities in the order of ``classes_``.

        Raises
        ------
        ValueError
            If the estimator was fitted with ``n_ensemble=1``.
        """
        check_is_fitted(self)
        features = check_features(self, X, reset=False)
        return torch.softmax(self._member_outputs(features), dim=2).numpy()
