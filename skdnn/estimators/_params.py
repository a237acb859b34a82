"""Hyperparameter constraints shared by the skdnn estimators.

Every string option is the name set of a component registry, so the valid
values in an error message are exactly what the registries provide.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from numbers import Integral, Real

import torch

from skdnn.components.activations import ACTIVATIONS
from skdnn.components.dropout import DROPOUT_TYPES
from skdnn.components.initializers import INITIALIZERS
from skdnn.components.normalization import NORMALIZATIONS
from skdnn.components.optimizers import OPTIMIZERS
from skdnn.components.schedules import LR_SCHEDULES
from skdnn.estimators._sklearn_compat import ChoiceOptions, Interval


def _positive(kind: type) -> Interval:
    return Interval(kind, 0, None, closed="neither")


def _non_negative(kind: type) -> Interval:
    return Interval(kind, 0, None, closed="left")


def _at_least_one() -> Interval:
    return Interval(Integral, 1, None, closed="left")


#: ``mixed_precision`` values and the autocast dtype each stands for.
MIXED_PRECISION = {"bf16": torch.bfloat16, "fp16": torch.float16}

_UNIT_OPEN = Interval(Real, 0, 1, closed="neither")
_UNIT_LEFT = Interval(Real, 0, 1, closed="left")

ARCHITECTURE_CONSTRAINTS: dict[str, list] = {
    "hidden_layer_sizes": ["array-like", Interval(Integral, 1, None, closed="left")],
    "activation": [ChoiceOptions(set(ACTIVATIONS.names()))],
    "activation_params": [dict, None],
    "kernel_initializer": [ChoiceOptions(set(INITIALIZERS.names()))],
    "initializer_params": [dict, None],
    "normalization": [ChoiceOptions(set(NORMALIZATIONS.names())), None],
    "normalization_position": [ChoiceOptions({"before", "after"})],
    "batch_norm_momentum": [_UNIT_OPEN],
    "input_normalization": ["boolean"],
    "dropout": [_UNIT_LEFT],
    "input_dropout": [_UNIT_LEFT],
    "dropout_type": [ChoiceOptions(set(DROPOUT_TYPES.names()))],
}

TRAINING_CONSTRAINTS: dict[str, list] = {
    "l1": [_non_negative(Real)],
    "l2": [_non_negative(Real)],
    "max_norm": [_positive(Real), None],
    "clip_value": [_positive(Real), None],
    "clip_norm": [_positive(Real), None],
    "early_stopping": ["boolean"],
    "validation_fraction": [_UNIT_OPEN],
    "patience": [_at_least_one()],
    "min_delta": [_non_negative(Real)],
    "restore_best_weights": ["boolean"],
    "augment": [callable, None],
    "optimizer": [ChoiceOptions(set(OPTIMIZERS.names()))],
    "learning_rate": [_positive(Real)],
    "momentum": [_UNIT_LEFT],
    "beta_1": [_UNIT_LEFT],
    "beta_2": [_UNIT_LEFT],
    "rho": [_UNIT_LEFT],
    "epsilon": [_positive(Real)],
    "optimizer_params": [dict, None],
    "lr_schedule": [ChoiceOptions(set(LR_SCHEDULES.names())), None],
    "lr_schedule_params": [dict, None],
    "batch_size": [_at_least_one()],
    "max_epochs": [_at_least_one()],
    "shuffle": ["boolean"],
    "device": [str, torch.device],
    "mixed_precision": [ChoiceOptions(set(MIXED_PRECISION)), None],
    "random_state": ["random_state"],
    "warm_start": ["boolean"],
    "verbose": [Interval(Integral, 0, 2, closed="both"), "boolean"],
    "checkpoint_dir": [str, os.PathLike, None],
    "checkpoint_every": [_at_least_one()],
}

CLASSIFIER_CONSTRAINTS: dict[str, list] = {
    "mc_samples": [_non_negative(Integral)],
    "class_weight": [ChoiceOptions({"balanced"}), dict, None],
}


def check_layer_sizes(sizes: object, name: str = "hidden_layer_sizes") -> tuple[int, ...]:
    """Return ``sizes`` as a tuple of positive ints or raise a ``ValueError``."""
    if isinstance(sizes, Integral) and not isinstance(sizes, bool):
        sizes = (sizes,)
    if not isinstance(sizes, Sequence) or isinstance(sizes, str):
        raise ValueError(f"{name} must be a tuple of positive ints, got {sizes!r}.")
    if not all(isinstance(s, Integral) and not isinstance(s, bool) and s >= 1 for s in sizes):
        raise ValueError(f"{name} must contain only positive ints, got {sizes!r}.")
    return tuple(int(s) for s in sizes)
