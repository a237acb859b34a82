"""What the estimators do with the hyperparameter table (:mod:`._param_table`).

Each estimator class names the table rows it takes as ``_hyperparameters``
(in its ``__init__`` order). From them come its ``_parameter_constraints``
(:func:`constraints_of`, checked once per ``fit``), the Parameters section of
its docstring (:func:`document_parameters`), how ``__init__`` stores them
(:func:`store_parameters`) and the values handed to the network and optimizer
builders (:func:`architecture`, :data:`OPTIMIZER_HYPERPARAMETERS`).
"""

from __future__ import annotations

import inspect
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass
from numbers import Integral
from typing import Any

import numpy as np
import torch

#: ``mixed_precision`` values and the autocast dtype each stands for.
MIXED_PRECISION = {"bf16": torch.bfloat16, "fp16": torch.float16}

#: Hyperparameters handed to :func:`~skdnn.components.optimizers.build_optimizer` by name.
OPTIMIZER_HYPERPARAMETERS = ("momentum", "beta_1", "beta_2", "rho", "epsilon")
#: Hyperparameters that are fields of :class:`~skdnn.network.MLPSpec` of the same name.
ARCHITECTURE_FIELDS = (
    "activation", "activation_params", "kernel_initializer", "initializer_params",
    "normalization", "normalization_position", "batch_norm_momentum", "input_normalization",
    "dropout", "input_dropout", "dropout_type",
)

#: Hyperparameters that shape the network: a fit that continues the fitted one
#: (``warm_start``, ``partial_fit``) refuses a change of any of them.
NETWORK_HYPERPARAMETERS = (
    "hidden_layer_sizes", "head_layer_sizes", *ARCHITECTURE_FIELDS, "n_reused_layers",
    "n_frozen_layers", "n_ensemble", "ensemble_type", "input_scaling", "numeric_embedding",
    "numeric_embedding_params",
    "categorical_features", "categorical_encoding",
)
#: Hyperparameters of the optimizer and the schedule: a continuing fit after a
#: change of any of them builds both afresh, with the new values.
OPTIMIZATION_HYPERPARAMETERS = (
    "optimizer", "learning_rate", *OPTIMIZER_HYPERPARAMETERS, "optimizer_params", "lr_schedule",
    "lr_schedule_params",
)

#: Marker in a class docstring replaced by the entries of its ``_hyperparameters``.
PLACEHOLDER = "<hyperparameters>"


@dataclass(frozen=True)
class Hyperparameter:
    """One row of the table.

    Parameters
    ----------
    name : str
        Parameter name.
    default : object
        Default value.
    constraints : list
        scikit-learn parameter constraints (``Interval``, ``"boolean"``, ...).
    kind : str
        numpydoc type of the Parameters entry (``"float"``, ``"bool"``...).
    doc : str
        Its description, a sentence or a few.
    """

    name: str
    default: Any
    constraints: Any
    kind: str
    doc: str

    def entry(self) -> str:
        """The numpydoc Parameters entry."""
        body = textwrap.fill(self.doc, width=88, initial_indent="    ", subsequent_indent="    ")
        return f"{self.name} : {self.kind}, default={self.default!r}\n{body}"


def constraints_of(cls: type) -> dict[str, Any]:
    """``_parameter_constraints`` of an estimator class, from its ``_hyperparameters``."""
    return {h.name: h.constraints for h in cls._hyperparameters}


def document_parameters(cls: type) -> None:
    """Replace :data:`PLACEHOLDER` in ``cls``'s docstring by its hyperparameters' entries."""
    if cls.__doc__ is None or PLACEHOLDER not in cls.__doc__:
        return
    entries = "\n".join(h.entry() for h in cls._hyperparameters)
    cls.__doc__ = inspect.cleandoc(cls.__doc__).replace(PLACEHOLDER, entries) + "\n"


def architecture(estimator: Any) -> dict[str, Any]:
    """The :class:`~skdnn.network.MLPSpec` fields an estimator's hyperparameters set."""
    return {
        name: dict(getattr(estimator, name) or {}) if name.endswith("_params") else
        getattr(estimator, name)
        for name in ARCHITECTURE_FIELDS
    }


def store_parameters(estimator: Any, values: dict[str, Any]) -> None:
    """Store ``__init__``'s arguments unchanged, as scikit-learn expects (``values``: locals())."""
    for h in type(estimator)._hyperparameters:
        setattr(estimator, h.name, values[h.name])


def comparable(name: str, value: Any) -> Any:
    """``value`` of hyperparameter ``name`` in a form equal for values that mean the same.

    Layer sizes become tuples of ints (``[16, 8]``, ``(16, 8)`` and
    ``np.array([16, 8])`` agree), ``*_params`` dicts plain dicts (None is ``{}``),
    column lists (``categorical_features``) tuples.
    """
    if name.endswith("_layer_sizes"):
        try:
            return check_layer_sizes(value, name)
        except ValueError:
            return value
    if name.endswith("_params"):
        return dict(value or {})
    if name == "categorical_features" and value is not None and not isinstance(value, str):
        return tuple(np.asarray(value).ravel().tolist())  # indices, names or a mask
    return value


def check_layer_sizes(sizes: object, name: str = "hidden_layer_sizes") -> tuple[int, ...]:
    """Return ``sizes`` (an int or a 1-D array-like of ints) as a tuple of positive ints.

    Raises
    ------
    ValueError
        If ``sizes`` is not an int >= 1 or a flat sequence (or 1-D array) of them.
    """
    if isinstance(sizes, np.ndarray):
        if sizes.ndim != 1:
            raise ValueError(
                f"{name} must be a 1-D array-like of positive ints, got an array of shape "
                f"{sizes.shape}."
            )
        sizes = sizes.tolist()
    if isinstance(sizes, Integral) and not isinstance(sizes, bool):
        sizes = (sizes,)
    if not isinstance(sizes, Sequence) or isinstance(sizes, str):
        raise ValueError(f"{name} must be a tuple of positive ints, got {sizes!r}.")
    if not all(isinstance(s, Integral) and not isinstance(s, bool) and s >= 1 for s in sizes):
        raise ValueError(f"{name} must contain only positive ints, got {sizes!r}.")
    return tuple(int(s) for s in sizes)
