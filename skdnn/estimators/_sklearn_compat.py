"""The one place that touches scikit-learn's private helpers.

scikit-learn's parameter validation (``_fit_context``, ``Interval``,
``StrOptions``) is private API; importing it here keeps any future change to a
single module.
"""

from __future__ import annotations

import difflib

from sklearn.base import _fit_context
from sklearn.utils._param_validation import (
    Interval,
    InvalidParameterError,
    StrOptions,
)
from sklearn.utils.validation import _check_sample_weight as check_sample_weight

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


def with_hint(error: InvalidParameterError, params: dict[str, object], constraints: dict) -> None:
    """Re-raise ``error`` with a "did you mean" hint for a misspelled string option."""
    for name, value in params.items():
        if not isinstance(value, str) or name not in str(error):
            continue
        options = [c for c in constraints.get(name, []) if isinstance(c, StrOptions)]
        if not options or any(c.is_satisfied_by(value) for c in options):
            continue
        choices = sorted(set().union(*(c.options for c in options)))
        close = difflib.get_close_matches(value.lower(), choices, n=1, cutoff=0.5)
        if close:
            raise InvalidParameterError(f"{error} Did you mean {close[0]!r}?") from None
    raise error
