"""Which hyperparameters each estimator takes, and the rows only some of them have.

Each ``*_HYPERPARAMETERS`` tuple lists rows of
:data:`~._param_table.HYPERPARAMETERS` by name in the estimator's ``__init__``
order, with its own default or wording where it differs (:func:`select`),
followed by rows of its own (transfer, regression, autoencoder).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from numbers import Integral, Real
from typing import Any

from skdnn.components.losses import REGRESSION_LOSSES
from skdnn.estimators._param_table import (
    _LAYER_SIZES,
    HYPERPARAMETERS,
    _options,
    _positive,
)
from skdnn.estimators._params import Hyperparameter
from skdnn.estimators._sklearn_compat import ChoiceOptions, Interval

#: The hyperparameters of ``DNNClassifier``, in its ``__init__`` order.
CLASSIFIER_NAMES = tuple(HYPERPARAMETERS)
#: The table input's hyperparameters: only the estimators that build their own
#: first layer (``DNNClassifier``, ``DNNRegressor``) take them.
TABLE_INPUT_NAMES = (
    "input_scaling", "numeric_embedding", "numeric_embedding_params", "categorical_features",
    "categorical_encoding",
)
#: ``CLASSIFIER_NAMES`` without the table input's.
_NETWORK_NAMES = tuple(name for name in CLASSIFIER_NAMES if name not in TABLE_INPUT_NAMES)
#: The ensemble's hyperparameters: the classifiers and regressors (transfer ones
#: included) take them, after ``mc_samples``.
_ENSEMBLE_OWN = (
    Hyperparameter(
        "n_ensemble", 1, [Interval(Integral, 1, None, closed="left")], "int",
        "Number of ensemble members trained at once as one batched network, each with its "
        "own output layer and trained on its own loss (the mean over members is minimized); "
        "predictions, the validation figures and early stopping use the members' mean (of "
        "the class probabilities for a classifier). ``predict_proba_members`` (classifiers) "
        "and ``predict(X, return_std=True)`` (regressors) expose their spread. 1 trains one "
        "network.",
    ),
    Hyperparameter(
        "ensemble_type", "batch", [ChoiceOptions({"batch", "independent"})],
        '{"batch", "independent"}',
        'How the members hold their hidden layers when ``n_ensemble > 1``: "batch" shares '
        "each weight matrix and gives every member its own rank-1 adapters and biases "
        '(BatchEnsemble, as TabM); "independent" gives every member its own weights.',
    ),
)


def _with_ensemble(names: Iterable[str]) -> list[str]:
    """``names`` with the ensemble's hyperparameters after ``mc_samples``."""
    names = list(names)
    place = names.index("mc_samples") + 1
    return [*names[:place], *(h.name for h in _ENSEMBLE_OWN), *names[place:]]


def select(
    names: Iterable[str], *own: Hyperparameter, **changes: dict[str, Any]
) -> tuple[Hyperparameter, ...]:
    """An estimator's hyperparameter list: table entries by name, then its ``own`` ones.

    Parameters
    ----------
    names : iterable of str
        Names of table entries, in signature order; ``own`` entries whose name
        is in ``names`` take that place, the others are appended.
    *own : Hyperparameter
        Entries only this estimator has.
    **changes : dict
        Per name, fields that differ for this estimator (``default``, ``doc``).

    Returns
    -------
    tuple of Hyperparameter
    """
    extra = {h.name: h for h in own}
    chosen = [extra.pop(name, None) or HYPERPARAMETERS[name] for name in names]
    chosen += extra.values()
    return tuple(
        dataclasses.replace(h, **changes[h.name]) if h.name in changes else h for h in chosen
    )


CLASSIFIER_HYPERPARAMETERS = select(_with_ensemble(CLASSIFIER_NAMES), *_ENSEMBLE_OWN)

SIAMESE_HYPERPARAMETERS = select(
    ["hidden_layer_sizes", "head_layer_sizes", *_NETWORK_NAMES[1:]],
    Hyperparameter(
        "head_layer_sizes",
        (10,),
        _LAYER_SIZES,
        "tuple of int",
        "Widths of the head's hidden layers, on the two concatenated codes.",
    ),
    hidden_layer_sizes={"doc": "Widths of the trunk's hidden layers, bottom first."},
)

_COUNT = Interval(Integral, 0, None, closed="left")
_POSITIVE_COUNT = Interval(Integral, 1, None, closed="left")
_TRANSFER_OWN = (
    Hyperparameter(
        "pretrained",
        None,
        "no_validation",
        'object',
        'Required at fit. A fitted ``DNNClassifier`` or ``DNNRegressor`` (any subclass), '
        '``StackedAutoencoder`` '
        'or ``SiameseDNNClassifier`` (its shared trunk), a ``sklearn.frozen.FrozenEstimator`` '
        'of one, or the path of one written by its ``save`` method; a torch ``nn.Sequential`` '
        'of ``Linear`` layers each followed by at most one activation module (or a network '
        'built by skdnn); or weights from another framework: a sequence of ``(kernel, bias)`` '
        'arrays, one pair per hidden layer, the kernel of shape ``(n_inputs, n_units)`` as '
        "Keras stores it (the transpose of torch's) and ``bias`` of shape ``(n_units,)`` or "
        'None; each layer gets the ``activation`` of this estimator. Only hidden layers are '
        'taken from a fitted estimator; an ``nn.Sequential`` or a weight list is taken whole, '
        'so leave its output layer out (or drop it with ``n_reused_layers``).',
    ),
    Hyperparameter(
        "n_reused_layers",
        None,
        [_COUNT, None],
        'int',
        'Number of hidden layers of ``pretrained`` reused, from the bottom; None reuses them '
        'all. The input block (input batch norm / dropout) of the source is always reused.',
    ),
    Hyperparameter(
        "n_frozen_layers",
        None,
        [_COUNT, None],
        'int',
        'Number of reused layers frozen, from the bottom; None freezes all the reused layers, '
        "0 fine-tunes everything. The source's input block is frozen with them.",
    ),
    Hyperparameter(
        "cache_frozen",
        True,
        ["boolean"],
        'bool',
        'Compute the outputs of the top frozen layer once per fit (for the training and '
        'validation rows) and train the rest on them. Gives the same model as False (same '
        'seed, up to float rounding). Not possible with ``augment`` (a warning says so, and '
        'training runs through the frozen layers).',
    ),
    Hyperparameter(
        "unfreeze_after",
        None,
        [_POSITIVE_COUNT, None],
        'int',
        'After this epoch (counted over the whole training history), unfreeze the top '
        '``n_unfrozen`` frozen layers: they join the optimizer in their own parameter group, '
        'every learning rate becomes ``learning_rate * unfreeze_lr_factor``, the early- '
        'stopping patience starts again, and training continues to ``max_epochs``. Nothing '
        'happens when training stops earlier or nothing is frozen.',
    ),
    Hyperparameter(
        "n_unfrozen",
        None,
        [_POSITIVE_COUNT, None],
        'int',
        'Number of frozen layers unfrozen at ``unfreeze_after``, from the top; None (or more '
        'than are frozen) unfreezes them all. Without ``unfreeze_after`` it is an error.',
    ),
    Hyperparameter(
        "unfreeze_lr_factor",
        0.1,
        [Interval(Real, 0, None, closed="neither")],
        'float',
        'Factor applied to the learning rate at unfreezing.',
    ),
)
TRANSFER_HYPERPARAMETERS = select(
    ["pretrained", "hidden_layer_sizes", *(h.name for h in _TRANSFER_OWN[1:]),
     *_with_ensemble(_NETWORK_NAMES[1:])],
    *_TRANSFER_OWN,
    *_ENSEMBLE_OWN,
    hidden_layer_sizes={
        "default": (),
        "doc": "Widths of the NEW hidden layers added on top of the reused ones.",
    },
)

_NOT_USED = {
    "normalization", "normalization_position", "batch_norm_momentum", "input_normalization",
    "dropout", "input_dropout", "dropout_type", "mc_samples", "class_weight",
    "label_smoothing", "monitor", "warm_start",
    "checkpoint_dir", "checkpoint_every",
}
_DOCS = {
    "hidden_layer_sizes": "Width of each encoder layer, bottom first (at least one).",
    "activation": "Activation of the encoder layers (the decoders are linear); any activation "
    "of ``DNNClassifier``.",
    "activation_params": "Extra activation settings (``alpha``, ``lower``/``upper``, ``init``).",
    "kernel_initializer": 'Initializer of the encoder kernels; "auto" picks by activation. The '
    "decoder kernels use Glorot uniform.",
    "l1": "Factor of the l1 penalty on the kernels being trained, added to the loss.",
    "l2": "Factor of the l2 penalty on the kernels being trained, added to the loss.",
    "max_norm": "After each step, rescale the incoming weights of every encoder neuron to "
    "norm <= r (the decoders only with ``max_norm_output``).",
    "max_norm_output": "Constrain the decoders' kernels by ``max_norm`` too.",
    "early_stopping": "Stop each stage when the validation reconstruction loss has not improved "
    "for ``patience`` epochs.",
    "validation_fraction": "Share of the rows held out for early stopping (the same rows in "
    "every stage).",
    "patience": "Epochs without improvement before a stage stops.",
    "restore_best_weights": "With early stopping, end each stage with the weights of its best "
    "epoch. A stage interrupted with Ctrl-C keeps its best epoch's weights either way.",
    "augment": "``augment(batch, generator) -> batch`` applied to the inputs of each training "
    "batch while the target stays clean: with noise, this trains a stacked denoising "
    "autoencoder. In the greedy stage the inputs of layer ``k > 1`` are the codes of layer "
    "``k - 1``.",
    "optimizer": '"sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam", "adamax", '
    '"nadam", "adamw" or "ftrl"; a fresh one for every stage.',
    "learning_rate": "Initial learning rate of every stage.",
    "optimizer_params": "Any other keyword of the chosen optimizer.",
    "lr_schedule": '"power", "exponential", "piecewise", "performance", "1cycle" or "cosine"; '
    "it restarts with every stage and spans ``max_epochs``.",
    "lr_schedule_params": "Parameters of the schedule.",
    "max_epochs": "Most epochs of each greedy stage (one per hidden layer).",
    "mixed_precision": "Train with autocast in bfloat16 or float16 (float16 adds loss scaling).",
    "random_state": "Seeds the initial weights, the split and shuffling through local "
    "generators.",
}
_FINE_TUNE_EPOCHS = Hyperparameter(
    "fine_tune_epochs",
    0,
    [Interval(Integral, 0, None, closed="left")],
    "int",
    "Epochs of end-to-end training of the whole stack (encoders, then decoders in reverse "
    "order) after the greedy stage; 0 keeps the greedy solution. Supervised fine-tuning is a "
    "``TransferDNNClassifier`` with ``n_frozen_layers=0``.",
)
_NAMES = [name for name in _NETWORK_NAMES if name not in _NOT_USED]
_NAMES.insert(_NAMES.index("initializer_params") + 1, "fine_tune_epochs")
AUTOENCODER_HYPERPARAMETERS = select(
    _NAMES,
    _FINE_TUNE_EPOCHS,
    hidden_layer_sizes={"default": (100, 50), "doc": _DOCS.pop("hidden_layer_sizes")},
    **{name: {"doc": doc} for name, doc in _DOCS.items()},
)


_REGRESSOR_OWN = (
    Hyperparameter(
        "loss", "squared_error", [_options(REGRESSION_LOSSES)],
        '{"squared_error", "absolute_error", "huber", "poisson"}',
        'What the network minimizes: the squared error (predicts the mean), the absolute '
        'error (the median), the Huber loss (squared within ``huber_delta`` of the target, '
        'absolute beyond: robust to outliers) or the Poisson loss with a log link '
        '(targets of zero or more, such as counts; predictions are positive).',
    ),
    Hyperparameter(
        "huber_delta", 1.0, [_positive(Real)], "float",
        'Where the Huber loss turns from squared to absolute, in the units of the targets '
        'the network is trained on: standard deviations of the target when '
        '``target_scaling=True``. Used only with ``loss="huber"``.',
    ),
    Hyperparameter(
        "target_scaling", True, ["boolean"], "bool",
        "Train on targets standardized per column with the statistics of the first fit "
        "(divided by their mean for the Poisson loss); predictions, scores and the "
        "validation figures are in the original units.",
    ),
)
_REGRESSOR_DOCS = {
    "mc_samples": "When positive, ``predict`` returns the mean of this many Monte-Carlo "
    "dropout passes (only dropout is stochastic; batch norm stays in inference mode); "
    "``predict(X, return_std=True)`` uses as many passes (100 when 0).",
    "early_stopping": "Stop when the validation loss has not improved for ``patience`` "
    "epochs.",
    "validation_fraction": "Share of the training data held out (at random) for early "
    "stopping when ``fit`` gets no ``validation_data``.",
    "monitor": 'Validation figure that picks the best epoch (early stopping, restored '
    'weights): "val_loss", "val_rmse" or "val_r2" (r2 improves upwards, the others '
    "downwards). Without a validation split its training counterpart is used. A figure the "
    "fit does not record raises a ``ValueError``.",
}
_CLASSIFIER_ONLY = ("class_weight", "label_smoothing")
#: The hyperparameters of ``DNNRegressor``, in its ``__init__`` order.
REGRESSOR_NAMES = (
    "hidden_layer_sizes", *(h.name for h in _REGRESSOR_OWN),
    *(name for name in CLASSIFIER_NAMES[1:] if name not in _CLASSIFIER_ONLY),
)
REGRESSOR_HYPERPARAMETERS = select(
    _with_ensemble(REGRESSOR_NAMES), *_REGRESSOR_OWN, *_ENSEMBLE_OWN,
    **{name: {"doc": doc} for name, doc in _REGRESSOR_DOCS.items()},
)


#: The hyperparameters of ``TransferDNNRegressor``, in its ``__init__`` order.
TRANSFER_REGRESSOR_HYPERPARAMETERS = select(
    ["pretrained", "hidden_layer_sizes", *(h.name for h in _TRANSFER_OWN[1:]),
     *_with_ensemble(name for name in REGRESSOR_NAMES[1:] if name not in TABLE_INPUT_NAMES)],
    *_TRANSFER_OWN,
    *_REGRESSOR_OWN,
    *_ENSEMBLE_OWN,
    hidden_layer_sizes={
        "default": (),
        "doc": "Widths of the NEW hidden layers added on top of the reused ones.",
    },
    **{name: {"doc": doc} for name, doc in _REGRESSOR_DOCS.items()},
)
