"""The network of the supervised estimators: a plain MLP built from the hyperparameters."""

from __future__ import annotations

from torch import nn

from skdnn._utils.random import Seeds, torch_generator
from skdnn.estimators._params import architecture, check_layer_sizes
from skdnn.network import MLPSpec, build_mlp


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
        )

    def _build_module(self, n_outputs: int, seeds: Seeds) -> nn.Sequential:
        self.network_spec_ = self._network_spec(n_outputs)
        return build_mlp(self.network_spec_, generator=torch_generator(seeds.init))
