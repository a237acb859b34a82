"""Tools on a network beyond fit/predict: LR finder, summary, sparsification."""

from __future__ import annotations

from sklearn.utils.validation import check_is_fitted

from skdnn.components.regularizers import zero_small_weights
from skdnn.estimators._lr_finder import LRFinderResult, find_learning_rate
from skdnn.training.summary import summarize


class ModelToolsMixin:
    """Learning-rate finder, ``summary()`` and ``zero_small_weights()`` for an estimator."""

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
        y : array-like of shape (n_samples,)
            Class labels.
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
