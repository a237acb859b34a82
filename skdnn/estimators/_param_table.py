"""The hyperparameter table: name, default, constraint and documentation of each one.

:data:`HYPERPARAMETERS` is the single source of what the estimators accept;
the ``*_HYPERPARAMETERS`` lists of :mod:`._param_lists` say which rows each
estimator takes, in its ``__init__`` order, with its own default or wording
where it differs, and hold the rows only some estimators have.
``tests/estimators/test_params.py`` checks each explicit ``__init__``
signature against its list.

Adding a hyperparameter: one :class:`~._params.Hyperparameter` row here (or
in :mod:`._param_lists` when only some estimators take it), its name in the
lists (and signatures) of the estimators that take it, and the code that
reads it. Every string option is the name set of a component
registry, so the valid values in an error message are exactly what the
registries provide.
"""

from __future__ import annotations

import os
from numbers import Integral, Real

import torch

from skdnn.components.activations import ACTIVATIONS
from skdnn.components.categorical import CATEGORICAL_ENCODINGS
from skdnn.components.dropout import DROPOUT_TYPES
from skdnn.components.initializers import INITIALIZERS
from skdnn.components.input_scaling import INPUT_SCALINGS
from skdnn.components.normalization import NORMALIZATIONS
from skdnn.components.numeric_embeddings import NUMERIC_EMBEDDINGS
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
       "Add a batch-norm layer on the inputs (after the table input layer, if any)."),
    _h("input_scaling", "auto", [ChoiceOptions({*INPUT_SCALINGS.names(), "auto"}), None],
       "str or None",
       'Scaling of the numeric columns, fitted on the training rows: "robust_smooth_clip" '
       "(subtract the median, divide by the interquartile range, then bound smoothly to "
       '(-3, 3), as RealMLP) or "robust" (no clipping); None leaves them as they are. '
       '"auto" is "robust_smooth_clip" for a raw table (``X`` has categorical columns or '
       "missing values) and None otherwise (scale plain arrays yourself, e.g. with a "
       "``StandardScaler``, or set it)."),
    _h("numeric_embedding", None, [_options(NUMERIC_EMBEDDINGS), None], "str or None",
       'Map each numeric column to a vector before the first hidden layer: "periodic" '
       '(trainable frequencies, cos/sin, linear + ReLU per column) or "piecewise_linear" '
       "(position within quantile bins of the training data)."),
    _h("numeric_embedding_params", None, [dict, None], "dict",
       'Settings of the numeric embedding: ``n_frequencies``, ``embedding_dim``, ``sigma``, '
       '``lite`` ("periodic"); ``n_bins``, ``embedding_dim``, ``activation`` '
       '("piecewise_linear").'),
    _h("categorical_features", "from_dtype", [ChoiceOptions({"from_dtype"}), "array-like", None],
       '"from_dtype", array-like or None',
       "Categorical columns, encoded inside the estimator: by default the ``category``, "
       "``object`` and ``string`` columns of a pandas DataFrame; or column indices, names or a "
       "boolean mask; None for none. Categories are learned by the first fit; a missing or "
       "unseen value gets a code of its own. Numeric columns may hold NaN: they are filled "
       "with the training median, plus a 0/1 column marking them for each column that had "
       "missing values in training."),
    _h("categorical_encoding", "auto", [_options(CATEGORICAL_ENCODINGS)],
       '{"auto", "one_hot", "embedding"}',
       '"auto": one-hot for columns of at most 8 categories, a trainable 8-dimensional '
       'embedding for larger ones; "one_hot" or "embedding" for every column.'),
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
       "With early stopping, end with the weights of the best epoch. A fit interrupted "
       "with Ctrl-C keeps the best epoch's weights either way (the last epoch's are not "
       "stored)."),
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
