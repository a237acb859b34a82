"""Share parameter documentation between estimators that share parameters."""

from __future__ import annotations

import inspect

PLACEHOLDER = "<DNNClassifier parameters>"


def with_parameter_docs(target: type, source: type, first: str) -> None:
    """Replace :data:`PLACEHOLDER` in ``target``'s docstring by entries of ``source``'s.

    The copied entries are those of the Parameters section of ``source``'s
    docstring from ``first`` to the end of the section, so that subclasses
    repeating the parent's hyperparameters keep one written description.

    Parameters
    ----------
    target : type
        Class whose docstring holds the placeholder; its ``__doc__`` is replaced.
    source : type
        Class whose numpydoc Parameters section provides the entries.
    first : str
        Name of the first parameter to copy.
    """
    doc = inspect.cleandoc(source.__doc__)
    entries = doc.split(f"\n{first} : ", 1)[1].split("\n\nAttributes\n", 1)[0]
    doc = inspect.cleandoc(target.__doc__).replace(PLACEHOLDER, f"{first} : {entries}")
    target.__doc__ = doc + "\n"
