"""The network of the supervised estimators: a plain MLP built from the hyperparameters."""

from __future__ import annotations

from typing import Any

import numpy as np
from torch import nn

from skdnn._utils.random import Seeds, torch_generator
from skdnn.estimators._params import architecture, check_layer_sizes
from skdnn.network import MLPSpec
from skdnn.network_ensemble import EnsembleSpec, build_network


class MLPNetworkMixin:
    """``_build_module`` of ``DNNClassifier`` and ``DNNRegressor``: one MLP, seeded.

    The output width comes from the task (classes or target columns); every
    other field of the :class:`~skdnn.network.MLPSpec` from the estimator's
    hyperparameters. The spec is kept as ``network_spec_``.
    """

    def _network_spec(self, n_outputs: int) -> MLPSpec:
        return MLPSpec(
            n_features=self.n_features_in_,
            hidden_layer_sizes=check_layer_sizes(self.hidden_layer_sizes),
            n_outputs=n_outputs,
            **architecture(self),
            table=self._table_spec(),
        )

    def _table_spec(self) -> dict[str, Any] | None:
        """Arguments of the network's table input layer, or None when it needs none.

        The layer is there when a hyperparameter asks for it (``input_scaling``,
        ``numeric_embedding``) or the training data is a raw table (categorical
        columns, missing values: then ``input_scaling="auto"`` scales the numeric
        columns too); otherwise the network is a plain MLP.
        """
        if not hasattr(self, "categorical_features"):  # builds on another network's inputs
            return None
        if self.numeric_embedding is None and self.numeric_embedding_params:
            raise ValueError(
                f"numeric_embedding_params={self.numeric_embedding_params!r} was given with "
                "numeric_embedding=None, so it would be ignored: set numeric_embedding "
                "('periodic' or 'piecewise_linear') or drop numeric_embedding_params."
            )
        categorical = self.__dict__.get("is_categorical_")
        categorical = np.zeros(self.n_features_in_, bool) if categorical is None else categorical
        missing = self.__dict__.get("_missing_features", np.zeros(self.n_features_in_, bool))
        missing = missing & ~categorical
        raw_table = bool(categorical.any() or missing.any())
        scaling = self.input_scaling
        if scaling == "auto":
            scaling = "robust_smooth_clip" if raw_table else None
        if not (scaling or self.numeric_embedding or raw_table):
            return None
        return {
            "n_features": self.n_features_in_,
            "categorical": np.flatnonzero(categorical).tolist(),
            "cardinalities": [len(c) for c in self.__dict__.get("categories_", [])],
            "missing_indicators": np.flatnonzero(missing).tolist(),
            "scaling": scaling,
            "embedding": self.numeric_embedding,
            "embedding_params": dict(self.numeric_embedding_params or {}),
            "categorical_encoding": self.categorical_encoding,
        }

    #: How the ensemble members' outputs combine (``n_ensemble > 1``): the mean of
    #: their class probabilities; regressors combine by their loss's link.
    _member_combination = "probabilities"

    def _ensemble_spec(self) -> EnsembleSpec:
        """The members of the network (``n_ensemble``, ``ensemble_type``)."""
        return EnsembleSpec(self.n_ensemble, self.ensemble_type, self._member_combination)

    def _build_module(self, n_outputs: int, seeds: Seeds) -> nn.Sequential:
        self.network_spec_ = self._network_spec(n_outputs)
        return build_network(
            self.network_spec_, self._ensemble_spec(), generator=torch_generator(seeds.init)
        )
