"""Ready-made hyperparameter sets for :class:`~skdnn.DNNClassifier`.

Each set is a read-only mapping of constructor arguments: pass it with
``DNNClassifier(hidden_layer_sizes=..., **DEFAULT)`` and override single
values with ``{**DEFAULT, "learning_rate": 0.01}``. The sets follow the
chapter's practical guidelines (:doc:`/guide/guidelines` explains each value).

This module imports nothing (no torch), so reading a set is free.
"""

from __future__ import annotations

from types import MappingProxyType

__all__ = ["DEFAULT", "SELF_NORMALIZING"]

# default-start
#: The default configuration of a deep network of dense layers (Table 11-3).
DEFAULT = MappingProxyType({
    "kernel_initializer": "he_normal",
    "activation": "elu",
    "normalization": "batch",          # None for a shallow network
    "normalization_position": "before",
    "early_stopping": True,
    "patience": 10,
    "restore_best_weights": True,
    "l2": 0.0,                         # e.g. 1e-4 if it still overfits
    "optimizer": "momentum",           # or "rmsprop", "nadam"
    "momentum": 0.9,
    "learning_rate": 0.005,            # eta0; 1cycle peaks at 10 * eta0
    "lr_schedule": "1cycle",
    "lr_schedule_params": None,        # e.g. {"max_lr": ...} from find_learning_rate
    "max_epochs": 30,                  # the length of the cycle
})
# default-end

# self-normalizing-start
#: The self-normalizing configuration: a plain stack of SELU layers (Table 11-4).
#: Standardize the inputs (a ``StandardScaler`` in front) for it to self-normalize.
SELF_NORMALIZING = MappingProxyType({
    "kernel_initializer": "lecun_normal",
    "activation": "selu",
    "normalization": None,
    "input_normalization": False,      # standardize with a StandardScaler instead
    "dropout": 0.0,                    # e.g. 0.1 if it overfits
    "dropout_type": "alpha",
    "early_stopping": True,
    "patience": 10,
    "restore_best_weights": True,
    "optimizer": "momentum",           # or "rmsprop", "nadam"
    "momentum": 0.9,
    "learning_rate": 0.002,
    "lr_schedule": "1cycle",
    "lr_schedule_params": None,
    "max_epochs": 30,
})
# self-normalizing-end
