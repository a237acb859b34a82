"""What the transfer estimators share: building on, freezing and unfreezing pretrained layers.

:class:`TransferLayersMixin` goes before a supervised estimator
(``DNNClassifier``, ``DNNRegressor``) in the bases of a transfer estimator: it
builds the network from the lower layers of ``pretrained`` and a new top (the
estimator's ``_network_spec`` sized by its task), freezes the reused layers,
caches their outputs and unfreezes them on schedule, through the hooks of the
fit pipeline. The task (classes or targets) is the estimator's own, so layers
move freely between classification and regression.
"""

from __future__ import annotations

import warnings
from collections import OrderedDict
from dataclasses import replace
from typing import Any

import numpy as np
from torch import nn

from skdnn._utils.random import torch_generator
from skdnn.estimators._pretrained import (
    SharedPretrainedMixin,
    check_reads_numbers,
    source_layers,
)
from skdnn.exceptions import SkdnnWarning
from skdnn.network import INPUT_BLOCK, OUTPUT_BLOCK, hidden_block_name, hidden_blocks
from skdnn.network_ensemble import build_network
from skdnn.training.freezing import (
    FreezingCallback,
    FrozenPrefixSequential,
    freeze_prefix,
    trainable_parameters,
)


class TransferLayersMixin(SharedPretrainedMixin):
    """The network and training hooks of a transfer estimator (see the module docstring)."""

    def _validate_params(self) -> None:
        super()._validate_params()
        if self.input_normalization or self.input_dropout:
            raise ValueError(
                f"{type(self).__name__} reuses the input block of `pretrained`: leave "
                f"input_normalization=False and input_dropout=0.0 (got "
                f"input_normalization={self.input_normalization!r}, "
                f"input_dropout={self.input_dropout!r})."
            )
        check_reads_numbers(self.pretrained)
        if self.unfreeze_after is None and self.n_unfrozen is not None:
            raise ValueError(
                f"n_unfrozen={self.n_unfrozen!r} was given without unfreeze_after, so no layer "
                "would be unfrozen: set unfreeze_after (the epoch after which to unfreeze) or "
                "drop n_unfrozen."
            )

    # ------------------------------------------------------------------ network
    def _build_module(self, n_outputs: int, seeds) -> FrozenPrefixSequential:
        source = source_layers(
            self.pretrained, activation=self.activation, activation_params=self.activation_params
        )
        self._check_feature_names(source.feature_names)
        n_reused = _count(
            "n_reused_layers",
            self.n_reused_layers,
            len(source.hidden),
            "hidden layers in pretrained",
        )
        # Reusing no layer of a source without an input block takes nothing that
        # depends on the input width.
        takes_inputs = n_reused > 0 or len(list(source.input_block.modules())) > 1
        if takes_inputs and source.n_features != self.n_features_in_:
            raise ValueError(
                f"X has {self.n_features_in_} features, but the pretrained layers expect "
                f"{source.n_features}: transfer needs inputs like the source's (resize or "
                "preprocess X the same way)."
            )
        n_frozen = _count("n_frozen_layers", self.n_frozen_layers, n_reused, "reused layers")
        reused = source.hidden[:n_reused]
        width = reused[-1].linear.out_features if reused else self.n_features_in_
        head = build_network(
            replace(self._network_spec(n_outputs), n_features=width),
            self._ensemble_spec(),
            generator=torch_generator(seeds.init),
        )
        blocks: OrderedDict[str, nn.Module] = OrderedDict([(INPUT_BLOCK, source.input_block)])
        for index, block in enumerate([*reused, *hidden_blocks(head)]):
            blocks[hidden_block_name(index)] = block
        blocks[OUTPUT_BLOCK] = getattr(head, OUTPUT_BLOCK)
        self.n_reused_layers_ = n_reused
        self.n_frozen_layers_ = n_frozen
        network = FrozenPrefixSequential(blocks).requires_grad_(True)
        return network.set_frozen(_boundary(n_frozen))

    def _check_feature_names(self, source_names) -> None:
        """The reused layers need the columns in the order the source was fitted on."""
        if source_names is None:
            return
        names = getattr(self, "feature_names_in_", None)
        if names is None:
            warnings.warn(
                "X has no feature names, but the pretrained estimator was fitted with "
                "feature names: make sure the columns are in the same order.",
                SkdnnWarning,
                stacklevel=6,
            )
        elif not np.array_equal(names, source_names):
            raise ValueError(
                "The feature names of X differ from those the pretrained estimator was fitted "
                "with (the reused layers read the columns by position): order X's columns "
                "as the source's feature_names_in_."
            )

    def _boundaries(self) -> tuple[int, int]:
        """Frozen blocks at the start of training and after unfreezing."""
        n_frozen = self.n_reused_layers_ if self.n_frozen_layers is None else self.n_frozen_layers
        if self.unfreeze_after is None:
            return _boundary(n_frozen), _boundary(n_frozen)
        n_unfrozen = n_frozen if self.n_unfrozen is None else min(self.n_unfrozen, n_frozen)
        return _boundary(n_frozen), _boundary(n_frozen - n_unfrozen)

    # ------------------------------------------------------------------ training
    def _optimizer_parameters(self, module: FrozenPrefixSequential) -> list:
        start, after_unfreezing = self._boundaries()
        if after_unfreezing == start:
            return trainable_parameters(module)
        # The layers to unfreeze get their own group from the start: without a
        # gradient they are left alone until then, and the optimizer state keeps
        # one structure across warm starts.
        return [
            {"params": list(module[start:].parameters())},
            {"params": list(module[after_unfreezing:start].parameters())},
        ]

    def _resume_module(self, module: nn.Module) -> FrozenPrefixSequential:
        if isinstance(module, FrozenPrefixSequential):
            return module
        return freeze_prefix(module, _boundary(self.n_frozen_layers_))  # loaded from a file

    def _training_callbacks(self, module: FrozenPrefixSequential) -> list[FreezingCallback]:
        start, after_unfreezing = self._boundaries()
        return [
            FreezingCallback(
                module,
                cache=self._can_cache(module.n_frozen),
                unfreeze_after=self.unfreeze_after,
                boundaries=(start, after_unfreezing),
                learning_rate=self.learning_rate * self.unfreeze_lr_factor,
            )
        ]

    def _fitted_structure(self, module: FrozenPrefixSequential) -> dict[str, Any]:
        return {"n_frozen_layers_": max(module.n_frozen - 1, 0)}

    def _can_cache(self, n_frozen_blocks: int) -> bool:
        if not (self.cache_frozen and n_frozen_blocks):
            return False
        if self.augment is not None:
            warnings.warn(
                "cache_frozen=True cannot cache the frozen layers when augment is set (the "
                "inputs change every batch): training runs through the frozen layers.",
                SkdnnWarning,
                stacklevel=6,
            )
            return False
        return True


def _boundary(n_frozen_layers: int) -> int:
    """Frozen blocks for ``n_frozen_layers`` frozen hidden layers (plus the input block)."""
    return n_frozen_layers + 1 if n_frozen_layers else 0


def _count(name: str, value: int | None, available: int, what: str) -> int:
    if value is None:
        return available
    if value > available:
        raise ValueError(f"{name}={value} but there are only {available} {what}.")
    return int(value)

