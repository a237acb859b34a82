"""TransferDNNClassifier: a classifier built on the lower layers of a pretrained model."""

from __future__ import annotations

import warnings
from collections import OrderedDict
from dataclasses import replace
from typing import Any, ClassVar

from torch import nn

from skdnn._utils.random import torch_generator
from skdnn.estimators._param_table import TRANSFER_HYPERPARAMETERS
from skdnn.estimators._params import Hyperparameter, store_parameters
from skdnn.estimators._pretrained import SharedPretrainedMixin, source_layers
from skdnn.estimators.classifier import DNNClassifier
from skdnn.exceptions import SkdnnWarning
from skdnn.network import INPUT_BLOCK, OUTPUT_BLOCK, build_mlp, hidden_block_name, hidden_blocks
from skdnn.training.freezing import (
    FreezingCallback,
    FrozenPrefixSequential,
    freeze_prefix,
    trainable_parameters,
)


class TransferDNNClassifier(SharedPretrainedMixin, DNNClassifier):
    """Deep classifier built on the lower layers of a pretrained model (transfer learning).

    The network is the input block and the lowest ``n_reused_layers`` hidden
    layers of ``pretrained`` (copied: the source is never modified), then the
    new hidden layers of ``hidden_layer_sizes``, built with this estimator's
    architecture hyperparameters, then a new output layer for the new classes.
    The lowest ``n_frozen_layers`` reused layers are frozen: their weights get
    no gradient, and they stay in inference mode (batch norm keeps its
    statistics, dropout is off). With ``cache_frozen`` their outputs are
    computed once per fit and the rest of the network trains on them: the
    same model, faster. ``unfreeze_after`` then lets backpropagation tweak the
    top frozen layers with a lower learning rate.

    ``clone`` (hence ``GridSearchCV``, ``cross_validate``...) keeps the
    ``pretrained`` object as it is instead of cloning it, so its weights
    survive. To search over several pretrained models, pass each one wrapped in
    ``sklearn.frozen.FrozenEstimator``: a search clones the values of its grid,
    and a plain clone of a fitted estimator has no weights. The parameters of
    the source itself are out of reach of ``set_params``. ``save`` keeps a
    ``pretrained`` path but stores an estimator or weights as None (with a
    warning): the saved network itself is complete.

    Parameters
    ----------
    <hyperparameters>

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        Class labels.
    n_features_in_ : int
        Number of input features (the input width of ``pretrained``).
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Feature names, when ``X`` had string column names.
    model_ : FrozenPrefixSequential
        The whole network (reused layers, new layers, output; emits logits), so
        that ``predict`` takes raw inputs. Frozen blocks have
        ``requires_grad=False``.
    n_reused_layers_ : int
        Number of hidden layers taken from ``pretrained``.
    n_frozen_layers_ : int
        Number of hidden layers frozen at the end of fit (fewer than at the
        start after unfreezing).
    history_ : list of dict
        One record per epoch, as for ``DNNClassifier``; ``grad_norms`` (at the
        epoch's last batch) is 0.0 for frozen layers. One list through the
        unfreezing.
    n_epochs_ : int
        Epochs trained in total.
    best_epoch_ : int
        Epoch with the lowest monitored loss.

    See Also
    --------
    DNNClassifier : The same classifier trained from scratch.
    StackedAutoencoder : Unsupervised pretraining of the layers to reuse.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from skdnn import DNNClassifier, TransferDNNClassifier
    >>> X, y = load_digits(return_X_y=True)
    >>> X = X / 16
    >>> low = y < 5
    >>> source = DNNClassifier((64, 64), max_epochs=10, random_state=0).fit(X[low], y[low])
    >>> clf = TransferDNNClassifier(source, max_epochs=20, random_state=0)
    >>> clf.fit(X[~low], y[~low]).score(X[~low], y[~low]) > 0.8
    True
    """

    _hyperparameters: ClassVar[tuple[Hyperparameter, ...]] = TRANSFER_HYPERPARAMETERS

    def __init__(
        self,
        pretrained=None,
        hidden_layer_sizes=(),
        *,
        n_reused_layers=None,
        n_frozen_layers=None,
        cache_frozen=True,
        unfreeze_after=None,
        n_unfrozen=None,
        unfreeze_lr_factor=0.1,
        activation="elu",
        activation_params=None,
        kernel_initializer="auto",
        initializer_params=None,
        normalization=None,
        normalization_position="before",
        batch_norm_momentum=0.99,
        input_normalization=False,
        dropout=0.0,
        input_dropout=0.0,
        dropout_type="auto",
        mc_samples=0,
        l1=0.0,
        l2=0.0,
        max_norm=None,
        clip_value=None,
        clip_norm=None,
        early_stopping=True,
        validation_fraction=0.1,
        patience=10,
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
        device="auto",
        mixed_precision=None,
        random_state=None,
        warm_start=False,
        verbose=0,
        checkpoint_dir=None,
        checkpoint_every=1,
    ):
        store_parameters(self, locals())

    def _validate_params(self) -> None:
        super()._validate_params()
        if self.input_normalization or self.input_dropout:
            raise ValueError(
                "TransferDNNClassifier reuses the input block of `pretrained`: leave "
                f"input_normalization=False and input_dropout=0.0 (got "
                f"input_normalization={self.input_normalization!r}, "
                f"input_dropout={self.input_dropout!r})."
            )

    # ------------------------------------------------------------------ network
    def _build_module(self, n_outputs: int, seeds) -> FrozenPrefixSequential:
        source = source_layers(
            self.pretrained, activation=self.activation, activation_params=self.activation_params
        )
        if source.n_features != self.n_features_in_:
            raise ValueError(
                f"X has {self.n_features_in_} features, but the pretrained layers expect "
                f"{source.n_features}: transfer needs inputs like the source's (resize or "
                "preprocess X the same way)."
            )
        n_reused = _count(
            "n_reused_layers",
            self.n_reused_layers,
            len(source.hidden),
            "hidden layers in pretrained",
        )
        n_frozen = _count("n_frozen_layers", self.n_frozen_layers, n_reused, "reused layers")
        reused = source.hidden[:n_reused]
        width = reused[-1].linear.out_features if reused else self.n_features_in_
        head = build_mlp(
            replace(self._network_spec(n_outputs), n_features=width),
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

