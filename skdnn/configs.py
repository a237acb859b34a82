"""Ready-made hyperparameter sets for :class:`~skdnn.DNNClassifier`.

Each set is a read-only mapping of constructor arguments: pass it with
``DNNClassifier(hidden_layer_sizes=..., **DEFAULT)`` and override single
values with ``{**DEFAULT, "learning_rate": 0.01}``. ``DEFAULT`` and
``SELF_NORMALIZING`` follow the chapter's practical guidelines
(:doc:`/guide/guidelines` explains each value); ``TABULAR`` is the
recommended start on a table, chosen on a benchmark (:doc:`/guide/tabular`).

This module imports nothing (no torch), so reading a set is free.
"""

from __future__ import annotations

from types import MappingProxyType

__all__ = ["DEFAULT", "SELF_NORMALIZING", "TABULAR", "TABULAR_REGRESSION"]

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

# tabular-start
#: The tabular configuration: ``DNNClassifier(**TABULAR).fit(frame, y)`` on a
#: pandas DataFrame (categorical columns and missing values are handled inside).
#: Chosen on six development data sets of ``benchmarks/tabular.py``.
TABULAR = MappingProxyType({
    "hidden_layer_sizes": (192, 192),
    "input_scaling": "robust_smooth_clip",   # median/IQR, then smoothly into (-3, 3)
    "numeric_embedding": "periodic",         # each number -> 8 values (PLR, lite)
    "numeric_embedding_params": {"n_frequencies": 8, "embedding_dim": 8, "sigma": 0.1,
                                 "lite": True},
    "categorical_encoding": "auto",          # one-hot up to 8 categories, else embeddings
    "label_smoothing": 0.1,
    "optimizer": "adamw",
    "optimizer_params": {"weight_decay": 0.01},  # decoupled; annealed with the rate
    "learning_rate": 0.003,
    "beta_2": 0.95,
    "lr_schedule": "cosine",                 # decays to 0 over max_epochs
    "batch_size": 256,
    "max_epochs": 40,
    "early_stopping": True,
    "patience": 10,
    "restore_best_weights": True,
})
# tabular-end

#: ``TABULAR`` for :class:`~skdnn.DNNRegressor` (no label smoothing, which is
#: a classification technique): ``DNNRegressor(**TABULAR_REGRESSION)``.
TABULAR_REGRESSION = MappingProxyType(
    {key: value for key, value in TABULAR.items() if key != "label_smoothing"}
)
