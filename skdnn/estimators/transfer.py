"""TransferDNNClassifier: a classifier built on the lower layers of a pretrained model."""

from __future__ import annotations

import warnings
from collections import OrderedDict
from dataclasses import replace
from numbers import Integral, Real
from typing import Any, ClassVar

from torch import nn

from skdnn._utils.random import torch_generator
from skdnn.estimators._docs import with_parameter_docs
from skdnn.estimators._pretrained import source_layers
from skdnn.estimators._sklearn_compat import Interval
from skdnn.estimators.classifier import DNNClassifier
from skdnn.exceptions import SkdnnWarning
from skdnn.network import INPUT_BLOCK, OUTPUT_BLOCK, build_mlp, hidden_block_name, hidden_blocks
from skdnn.training.freezing import (
    FreezingRun,
    FrozenPrefixSequential,
    freeze_prefix,
    reading_cache,
    trainable_parameters,
)

_COUNT = Interval(Integral, 0, None, closed="left")
_POSITIVE_COUNT = Interval(Integral, 1, None, closed="left")

TRANSFER_CONSTRAINTS: dict[str, Any] = {
    "pretrained": "no_validation",  # checked at fit by source_layers, with a clear message
    "n_reused_layers": [_COUNT, None],
    "n_frozen_layers": [_COUNT, None],
    "cache_frozen": ["boolean"],
    "unfreeze_after": [_POSITIVE_COUNT, None],
    "n_unfrozen": [_POSITIVE_COUNT, None],
    "unfreeze_lr_factor": [Interval(Real, 0, None, closed="neither")],
}


class TransferDNNClassifier(DNNClassifier):
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
    pretrained : object, default=None
        Required at fit. A fitted ``DNNClassifier`` (any subclass),
        ``StackedAutoencoder`` or ``SiameseDNNClassifier`` (its shared trunk), a
        ``sklearn.frozen.FrozenEstimator`` of one, or the path of one written by
        its ``save`` method; a torch ``nn.Sequential`` of
        ``Linear`` layers each followed by at most one activation module (or a
        network built by skdnn); or weights from another framework: a sequence
        of ``(kernel, bias)`` arrays, one pair per hidden layer, the kernel of
        shape ``(n_inputs, n_units)`` as Keras stores it (the transpose of
        torch's) and ``bias`` of shape ``(n_units,)`` or None; each layer gets
        the ``activation`` of this estimator. Only hidden layers are taken from
        a fitted estimator; an ``nn.Sequential`` or a weight list is taken
        whole, so leave its output layer out (or drop it with ``n_reused_layers``).
    hidden_layer_sizes : tuple of int, default=()
        Widths of the NEW hidden layers added on top of the reused ones.
    n_reused_layers : int, default=None
        Number of hidden layers of ``pretrained`` reused, from the bottom; None
        reuses them all. The input block (input batch norm / dropout) of the
        source is always reused.
    n_frozen_layers : int, default=None
        Number of reused layers frozen, from the bottom; None freezes all the
        reused layers, 0 fine-tunes everything. The source's input block is
        frozen with them.
    cache_frozen : bool, default=True
        Compute the outputs of the top frozen layer once per fit (for the
        training and validation rows) and train the rest on them. Gives the
        same model as False (same seed, up to float rounding). Not possible
        with ``augment`` (a warning says so, and training runs through the
        frozen layers).
    unfreeze_after : int, default=None
        After this epoch (counted over the whole training history), unfreeze
        the top ``n_unfrozen`` frozen layers: they join the optimizer in their
        own parameter group, every learning rate becomes ``learning_rate *
        unfreeze_lr_factor``, the early-stopping patience starts again, and
        training continues to ``max_epochs``. Nothing happens when training
        stops earlier or nothing is frozen.
    n_unfrozen : int, default=None
        Number of frozen layers unfrozen, from the top; None (or more than are
        frozen) unfreezes them all.
    unfreeze_lr_factor : float, default=0.1
        Factor applied to the learning rate at unfreezing.
    <DNNClassifier parameters>

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
        One record per epoch, as for ``DNNClassifier``; ``grad_norms`` is 0.0
        for frozen layers. One list through the unfreezing.
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

    _parameter_constraints: ClassVar[dict] = {
        **DNNClassifier._parameter_constraints,
        **TRANSFER_CONSTRAINTS,
    }

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
        super().__init__(
            hidden_layer_sizes,
            activation=activation,
            activation_params=activation_params,
            kernel_initializer=kernel_initializer,
            initializer_params=initializer_params,
            normalization=normalization,
            normalization_position=normalization_position,
            batch_norm_momentum=batch_norm_momentum,
            input_normalization=input_normalization,
            dropout=dropout,
            input_dropout=input_dropout,
            dropout_type=dropout_type,
            mc_samples=mc_samples,
            l1=l1,
            l2=l2,
            max_norm=max_norm,
            clip_value=clip_value,
            clip_norm=clip_norm,
            early_stopping=early_stopping,
            validation_fraction=validation_fraction,
            patience=patience,
            min_delta=min_delta,
            restore_best_weights=restore_best_weights,
            augment=augment,
            optimizer=optimizer,
            learning_rate=learning_rate,
            momentum=momentum,
            beta_1=beta_1,
            beta_2=beta_2,
            rho=rho,
            epsilon=epsilon,
            optimizer_params=optimizer_params,
            lr_schedule=lr_schedule,
            lr_schedule_params=lr_schedule_params,
            batch_size=batch_size,
            max_epochs=max_epochs,
            shuffle=shuffle,
            class_weight=class_weight,
            device=device,
            mixed_precision=mixed_precision,
            random_state=random_state,
            warm_start=warm_start,
            verbose=verbose,
            checkpoint_dir=checkpoint_dir,
            checkpoint_every=checkpoint_every,
        )
        self.pretrained = pretrained
        self.n_reused_layers = n_reused_layers
        self.n_frozen_layers = n_frozen_layers
        self.cache_frozen = cache_frozen
        self.unfreeze_after = unfreeze_after
        self.n_unfrozen = n_unfrozen
        self.unfreeze_lr_factor = unfreeze_lr_factor

    def __sklearn_clone__(self) -> TransferDNNClassifier:
        """Clone as scikit-learn does, but pass ``pretrained`` on as it is.

        A plain clone would clone a fitted source estimator into an unfitted
        one. Sharing is safe: ``fit`` only ever reads a deep copy of the source.

        Returns
        -------
        TransferDNNClassifier
            An unfitted estimator with the same parameters.
        """
        template = object.__new__(type(self))
        template.__dict__.update(self.__dict__)
        template.pretrained = _PassedOnAsIs(self.pretrained)
        new = super(TransferDNNClassifier, template).__sklearn_clone__()
        new.pretrained = self.pretrained
        return new

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """Get the parameters of this estimator, never those inside ``pretrained``.

        The source is shared by clones (see :meth:`__sklearn_clone__`), so its
        own parameters are not exposed: ``set_params`` and parameter searches
        cannot change it.

        Parameters
        ----------
        deep : bool, default=True
            Ignored: there is no nested estimator to describe.

        Returns
        -------
        dict
            Parameter names mapped to their values.
        """
        return super().get_params(deep=False)

    def set_params(self, **params: Any) -> TransferDNNClassifier:
        """Set the parameters of this estimator; those inside ``pretrained`` are refused.

        Parameters
        ----------
        **params : dict
            Estimator parameters.

        Returns
        -------
        self : TransferDNNClassifier
            This estimator.
        """
        nested = sorted(name for name in params if name.startswith("pretrained__"))
        if nested:
            raise ValueError(
                f"Invalid parameter(s) {nested}: the pretrained model is shared by clones and "
                "never modified; configure it before passing it as pretrained."
            )
        return super().set_params(**params)

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

    def _run_training(self, module: nn.Module, data, validation, **kwargs):
        if not isinstance(module, FrozenPrefixSequential):  # a model loaded from a file
            module = self.model_ = freeze_prefix(module, _boundary(self.n_frozen_layers_))
        cached = self._can_cache(module.n_frozen)
        start, after_unfreezing = self._boundaries()
        run = FreezingRun(
            module,
            data,
            validation,
            cache=cached,
            unfreeze_after=self.unfreeze_after,
            boundaries=(start, after_unfreezing),
            learning_rate=self.learning_rate * self.unfreeze_lr_factor,
        )
        with reading_cache(module, module.n_frozen if cached else 0):
            records = super()._run_training(
                module, run.data, run.validation, configure=run.configure, **kwargs
            )
        self.n_frozen_layers_ = max(module.n_frozen - 1, 0)
        return records

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


class _PassedOnAsIs:
    """A parameter value that ``sklearn.clone`` returns unchanged."""

    def __init__(self, value: Any) -> None:
        self.value = value

    def __sklearn_clone__(self) -> _PassedOnAsIs:
        return self


def _boundary(n_frozen_layers: int) -> int:
    """Frozen blocks for ``n_frozen_layers`` frozen hidden layers (plus the input block)."""
    return n_frozen_layers + 1 if n_frozen_layers else 0


def _count(name: str, value: int | None, available: int, what: str) -> int:
    if value is None:
        return available
    if value > available:
        raise ValueError(f"{name}={value} but there are only {available} {what}.")
    return int(value)


with_parameter_docs(TransferDNNClassifier, DNNClassifier, "activation")
