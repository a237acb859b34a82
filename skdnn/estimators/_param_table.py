"""The hyperparameter table: name, default, constraint and documentation of each one.

:data:`HYPERPARAMETERS` is the single source of what the estimators accept;
the ``*_HYPERPARAMETERS`` lists below say which rows each estimator takes, in
its ``__init__`` order, with its own default or wording where it differs.
``tests/estimators/test_params.py`` checks each explicit ``__init__``
signature against its list.

Adding a hyperparameter: one :class:`~._params.Hyperparameter` row here, its
name in the lists (and signatures) of the estimators that take it, and the
code that reads it. Every string option is the name set of a component
registry, so the valid values in an error message are exactly what the
registries provide.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterable
from numbers import Integral, Real
from typing import Any

import torch

from skdnn.components.activations import ACTIVATIONS
from skdnn.components.dropout import DROPOUT_TYPES
from skdnn.components.initializers import INITIALIZERS
from skdnn.components.losses import REGRESSION_LOSSES
from skdnn.components.normalization import NORMALIZATIONS
from skdnn.components.optimizers import OPTIMIZERS
from skdnn.components.schedules import LR_SCHEDULES
from skdnn.estimators._params import MIXED_PRECISION, Hyperparameter
from skdnn.estimators._sklearn_compat import ChoiceOptions, Interval


def _positive(kind: type) -> Interval:
    return Interval(kind, 0, None, closed="neither")


def _non_negative(kind: type) -> Interval:
    return Interval(kind, 0, None, closed="left")


_AT_LEAST_ONE = Interval(Integral, 1, None, closed="left")
_UNIT_OPEN = Interval(Real, 0, 1, closed="neither")
_UNIT_LEFT = Interval(Real, 0, 1, closed="left")
_LAYER_SIZES = ["array-like", Interval(Integral, 1, None, closed="left")]


def _options(registry) -> ChoiceOptions:
    return ChoiceOptions(set(registry.names()))


def _h(name, default, constraints, kind, doc) -> Hyperparameter:
    return Hyperparameter(name, default, constraints, kind, doc)


# fmt: off
HYPERPARAMETERS: dict[str, Hyperparameter] = {h.name: h for h in (
    _h("hidden_layer_sizes", (100, 100, 100, 100, 100), _LAYER_SIZES, "array-like of int",
       "Width of each hidden layer, bottom first."),
    _h("activation", "elu", [_options(ACTIVATIONS)], "str",
       'Hidden activation: "relu", "leaky_relu", "rrelu", "prelu", "elu", "selu", "tanh", '
       '"logistic" (alias "sigmoid"), "softplus", "gelu", "silu" (alias "swish"), "mish" or '
       '"identity".'),
    _h("activation_params", None, [dict, None], "dict",
       "Extra activation settings: ``alpha`` (leaky_relu slope, elu alpha), "
       "``lower``/``upper`` (rrelu), ``init`` (prelu)."),
    _h("kernel_initializer", "auto", [_options(INITIALIZERS)], "str",
       'Initializer of the hidden kernels; "auto" picks by activation (Glorot for '
       "tanh/logistic/identity, He for the ReLU family and ELU/GELU/SiLU/Mish, LeCun for "
       "SELU)."),
    _h("initializer_params", None, [dict, None], "dict",
       'For "variance_scaling": ``scale``, ``mode``, ``distribution``.'),
    _h("normalization", None, [_options(NORMALIZATIONS), None], '{"batch", "layer"} or None',
       "Normalization layer in every hidden block."),
    _h("normalization_position", "before", [ChoiceOptions({"before", "after"})],
       '{"before", "after"}',
       'Place of the normalization relative to the activation; "before" drops the Linear '
       "bias under batch norm (the norm's shift replaces it)."),
    _h("batch_norm_momentum", 0.99, [_UNIT_OPEN], "float",
       "Keras meaning: ``running = running * momentum + batch * (1 - momentum)``."),
    _h("input_normalization", False, ["boolean"], "bool",
       "Add a batch-norm layer on the raw inputs."),
    _h("dropout", 0.0, [_UNIT_LEFT], "float", "Dropout rate on the output of every hidden layer."),
    _h("input_dropout", 0.0, [_UNIT_LEFT], "float", "Dropout rate on the inputs."),
    _h("dropout_type", "auto", [_options(DROPOUT_TYPES)], '{"auto", "standard", "alpha"}',
       '"auto" uses alpha dropout with SELU (keeps self-normalization).'),
    _h("mc_samples", 0, [_non_negative(Integral)], "int",
       "When positive, ``predict_proba`` averages this many Monte-Carlo dropout passes (only "
       "dropout is stochastic; batch norm stays in inference mode)."),
    _h("l1", 0.0, [_non_negative(Real)], "float",
       "Factor of the l1 penalty on every kernel, added to the loss."),
    _h("l2", 0.0, [_non_negative(Real)], "float",
       "Factor of the l2 penalty on every kernel, added to the loss."),
    _h("max_norm", None, [_positive(Real), None], "float",
       "After each step, rescale the incoming weights of every hidden neuron to norm <= r "
       "(the output layer only with ``max_norm_output``)."),
    _h("max_norm_output", False, ["boolean"], "bool",
       "Constrain the output layer's kernel by ``max_norm`` too (the chapter constrains the "
       "hidden layers only)."),
    _h("clip_value", None, [_positive(Real), None], "float",
       "Clip every gradient element to ``[-clip_value, clip_value]``."),
    _h("clip_norm", None, [_positive(Real), None], "float",
       "Rescale the gradients together to a global L2 norm of at most ``clip_norm``."),
    _h("early_stopping", True, ["boolean"], "bool",
       "Stop when the validation loss has not improved for ``patience`` epochs."),
    _h("validation_fraction", 0.1, [_UNIT_OPEN], "float",
       "Share of the training data held out (stratified) for early stopping when ``fit`` gets "
       "no ``validation_data``."),
    _h("patience", 10, [_AT_LEAST_ONE], "int", "Epochs without improvement before stopping."),
    _h("monitor", "val_loss", [str], "str",
       'Validation figure that picks the best epoch (early stopping, restored weights): '
       '"val_loss", "val_accuracy" or any other recorded ``val_`` figure; accuracy and r2 '
       "improve upwards, losses downwards. Without a validation split its training "
       "counterpart (``loss``, ``accuracy``) is used. A figure the fit does not record "
       "raises a ``ValueError``."),
    _h("min_delta", 1e-4, [_non_negative(Real)], "float",
       "Smallest decrease of the validation loss that counts as an improvement."),
    _h("restore_best_weights", True, ["boolean"], "bool",
       "With early stopping, end with the weights of the best epoch."),
    _h("augment", None, [callable, None], "callable",
       "``augment(X_batch, generator) -> X_batch`` applied to each training batch."),
    _h("optimizer", "adam", [_options(OPTIMIZERS)], "str",
       '"sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam", "adamax", "nadam", '
       '"adamw" or "ftrl".'),
    _h("learning_rate", 1e-3, [_positive(Real)], "float",
       "Initial learning rate (eta0 of the schedules)."),
    _h("momentum", 0.9, [_UNIT_LEFT], "float", 'Momentum of "momentum" and "nesterov".'),
    _h("beta_1", 0.9, [_UNIT_LEFT], "float", "First-moment decay rate of the Adam family."),
    _h("beta_2", 0.999, [_UNIT_LEFT], "float", "Second-moment decay rate of the Adam family."),
    _h("rho", 0.9, [_UNIT_LEFT], "float", "Decay rate of RMSProp."),
    _h("epsilon", 1e-7, [_positive(Real)], "float",
       "Numerical-stability term of the adaptive optimizers."),
    _h("optimizer_params", None, [dict, None], "dict",
       "Any other keyword of the chosen optimizer (e.g. ``weight_decay``)."),
    _h("lr_schedule", None, [_options(LR_SCHEDULES), None], "str",
       '"power", "exponential", "piecewise", "performance", "1cycle" or "cosine".'),
    _h("lr_schedule_params", None, [dict, None], "dict",
       "Parameters of the schedule (see the user guide)."),
    _h("batch_size", 32, [_AT_LEAST_ONE], "int", "Rows per gradient step."),
    _h("max_epochs", 100, [_AT_LEAST_ONE], "int",
       "Most passes over the training data per ``fit``."),
    _h("shuffle", True, ["boolean"], "bool", "Shuffle the rows every epoch."),
    _h("class_weight", None, [ChoiceOptions({"balanced"}), dict, None],
       'dict, "balanced" or None', "Per-class loss weights."),
    _h("label_smoothing", 0.0, [_UNIT_LEFT], "float",
       "Train on targets mixed with the uniform distribution: ``1 - label_smoothing`` on "
       "the true class plus ``label_smoothing / n_classes`` on every class (the validation "
       "loss is the smoothed one too; accuracy is unchanged). 0 trains on one-hot targets."),
    _h("device", "auto", [str, torch.device], "str",
       '"auto" (cuda, then mps, then cpu), "cpu", "cuda", "cuda:N" or "mps".'),
    _h("mixed_precision", None, [ChoiceOptions(set(MIXED_PRECISION)), None],
       '{"bf16", "fp16"} or None',
       "Train with autocast: matrix products in bfloat16 or float16, losses, weights and "
       "optimizer state in float32 (float16 adds loss scaling). Pays on GPUs with tensor "
       "cores; prediction stays in float32."),
    _h("random_state", None, ["random_state"], "int, RandomState instance or None",
       "Seeds the initial weights, the split, shuffling and dropout through local generators; "
       "the global RNGs are never touched."),
    _h("warm_start", False, ["boolean"], "bool",
       "Continue from the fitted network, optimizer and schedule on ``fit``. A changed "
       "hyperparameter that shapes the network (layer sizes, activation, normalization, "
       "dropout...) raises a ``ValueError``; after a changed optimizer or schedule "
       "hyperparameter both start afresh with the new values (the weights continue)."),
    _h("verbose", 0, [Interval(Integral, 0, 2, closed="both"), "boolean"], "int",
       "0 silent, 1 progress bar, 2 one line per epoch."),
    _h("checkpoint_dir", None, [str, os.PathLike, None], "str or path",
       "Directory for checkpoints every ``checkpoint_every`` epochs."),
    _h("checkpoint_every", 1, [_AT_LEAST_ONE], "int", "Epochs between checkpoints."),
)}
# fmt: on


#: The hyperparameters of ``DNNClassifier``, in its ``__init__`` order.
CLASSIFIER_NAMES = tuple(HYPERPARAMETERS)


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


CLASSIFIER_HYPERPARAMETERS = select(CLASSIFIER_NAMES)

SIAMESE_HYPERPARAMETERS = select(
    ["hidden_layer_sizes", "head_layer_sizes", *CLASSIFIER_NAMES[1:]],
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
        'Number of frozen layers unfrozen, from the top; None (or more than are frozen) '
        'unfreezes them all.',
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
     *CLASSIFIER_NAMES[1:]],
    *_TRANSFER_OWN,
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
    "epoch.",
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
_NAMES = [name for name in CLASSIFIER_NAMES if name not in _NOT_USED]
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
}
_CLASSIFIER_ONLY = ("class_weight", "label_smoothing", "monitor")
#: The hyperparameters of ``DNNRegressor``, in its ``__init__`` order.
REGRESSOR_NAMES = (
    "hidden_layer_sizes", *(h.name for h in _REGRESSOR_OWN),
    *(name for name in CLASSIFIER_NAMES[1:] if name not in _CLASSIFIER_ONLY),
)
REGRESSOR_HYPERPARAMETERS = select(
    REGRESSOR_NAMES, *_REGRESSOR_OWN,
    **{name: {"doc": doc} for name, doc in _REGRESSOR_DOCS.items()},
)


#: The hyperparameters of ``TransferDNNRegressor``, in its ``__init__`` order.
TRANSFER_REGRESSOR_HYPERPARAMETERS = select(
    ["pretrained", "hidden_layer_sizes", *(h.name for h in _TRANSFER_OWN[1:]),
     *REGRESSOR_NAMES[1:]],
    *_TRANSFER_OWN,
    *_REGRESSOR_OWN,
    hidden_layer_sizes={
        "default": (),
        "doc": "Widths of the NEW hidden layers added on top of the reused ones.",
    },
    **{name: {"doc": doc} for name, doc in _REGRESSOR_DOCS.items()},
)
