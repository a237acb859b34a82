"""Checking the values in a component's ``*_params`` dict against the component's signature.

A component factory (an activation, an initializer, a learning-rate schedule, an
optimizer) declares its parameters with defaults and annotations. A value of
the wrong kind (``activation_params={"alpha": "x"}``) would otherwise surface as
a ``TypeError`` deep inside torch; :func:`check_value_types` names the setting,
the key and the value instead. Keys are checked by
:func:`~skdnn.components._registry.check_keywords`.
"""

from __future__ import annotations

import inspect
import math
import numbers
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np


def check_value_types(
    factory: Callable[..., Any], params: Mapping[str, Any], setting: str, owner: str
) -> None:
    """Raise ``ValueError`` for a value of ``params`` that cannot be what ``factory`` expects.

    The expected kind of a parameter is the first type of its annotation
    (``bool``, ``float``: a finite real number, ``int``, ``str``,
    ``Sequence[...]``: a list of numbers; ``float | None`` also takes None), or
    else that of its default (a tuple of numbers: one of the same length).
    Other parameters are not checked.

    Parameters
    ----------
    factory : callable
        The component's factory.
    params : mapping
        The user's parameters (keys already checked).
    setting : str
        The hyperparameter that holds them, e.g. ``"activation_params"``.
    owner : str
        The component, e.g. ``"activation 'elu'"``.
    """
    try:
        signature = inspect.signature(factory)
    except (TypeError, ValueError):  # builtins without a signature
        return
    for key, value in params.items():
        parameter = signature.parameters.get(key)
        if parameter is None:
            continue
        kind = _expected_kind(parameter)
        if kind is None or (value is None and parameter.default is None):
            continue
        if not _fits(value, kind, parameter.default):
            raise ValueError(
                f"{setting}[{key!r}] of {owner} must be {_DESCRIPTIONS[kind]}; got {value!r}."
            )


_DESCRIPTIONS = {
    "bool": "True or False",
    "number": "a finite real number",
    "integer": "an integer",
    "str": "a string",
    "numbers": "a tuple of finite real numbers",
    "sequence": "a list of finite real numbers",
}
_BY_ANNOTATION = {"bool": "bool", "float": "number", "int": "integer", "str": "str"}


def _expected_kind(parameter: inspect.Parameter) -> str | None:
    annotation = parameter.annotation
    head = (
        annotation.__name__
        if isinstance(annotation, type)
        else str(annotation).split("|")[0].strip()
    )
    default = parameter.default
    if isinstance(default, tuple):
        return "numbers" if default and all(_is_number(v) for v in default) else None
    if head in _BY_ANNOTATION:
        return _BY_ANNOTATION[head]
    if head.startswith("Sequence["):
        return "sequence"
    if isinstance(default, bool):
        return "bool"
    if isinstance(default, numbers.Real):
        return "number"
    return "str" if isinstance(default, str) else None


def _fits(value: Any, kind: str, default: Any) -> bool:
    if kind == "bool":
        return isinstance(value, bool | np.bool_)
    if kind == "number":
        return _is_number(value)
    if kind == "integer":
        return isinstance(value, numbers.Integral) and not isinstance(value, bool | np.bool_)
    if kind == "str":
        return isinstance(value, str)
    if kind == "sequence":
        return isinstance(value, list | tuple | np.ndarray) and all(_is_number(v) for v in value)
    return (
        isinstance(value, tuple | list)
        and len(value) == len(default)
        and all(_is_number(v) for v in value)
    )


def _is_number(value: Any) -> bool:
    return (
        isinstance(value, numbers.Real)
        and not isinstance(value, bool | np.bool_)
        and math.isfinite(float(value))
    )
