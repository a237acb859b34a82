"""The one place that touches scikit-learn's private helpers.

scikit-learn's parameter validation (``_fit_context``, ``Interval``,
``StrOptions``) is private API; importing it here keeps any future change to a
single module.
"""

from __future__ import annotations

from sklearn.base import _fit_context
from sklearn.utils._param_validation import (
    Interval,
    InvalidParameterError,
    StrOptions,
)
from sklearn.utils.validation import _check_sample_weight as check_sample_weight

from skdnn.components._registry import did_you_mean

__all__ = [
    "ChoiceOptions",
    "Interval",
    "InvalidParameterError",
    "_fit_context",
    "check_sample_weight",
    "with_hint",
]


class ChoiceOptions(StrOptions):
    """``StrOptions`` that lists its choices sorted, for readable errors."""

    def __str__(self) -> str:
        return "a str among {" + ", ".join(repr(option) for option in sorted(self.options)) + "}"


def with_hint(
    error: InvalidParameterError, params: dict[str, object], constraints: dict
) -> InvalidParameterError:
    """The error to raise for ``error``: with a "did you mean" hint for a misspelled option.

    Returns ``error`` itself when no string option of ``params`` explains it or
    no valid option is close to the value given.
    """
    for name, value in params.items():
        if not isinstance(value, str) or name not in str(error):
            continue
        options = [c for c in constraints.get(name, []) if isinstance(c, StrOptions)]
        if not options or any(c.is_satisfied_by(value) for c in options):
            continue
        hint = did_you_mean(value, set().union(*(c.options for c in options)))
        if hint:
            return InvalidParameterError(f"{error}{hint}")
    return error
