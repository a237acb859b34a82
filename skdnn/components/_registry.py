"""A generic registry of named components (activations, initializers, ...).

Every string option of the estimators comes from one :class:`Registry`, so the
set of valid values, the error for an unknown value and the documentation of a
value all live in one place.
"""

from __future__ import annotations

import difflib
import inspect
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from skdnn.exceptions import UnknownComponentError


@dataclass(frozen=True)
class Component:
    """A named building block.

    Parameters
    ----------
    name : str
        Canonical name used in hyperparameters.
    factory : callable
        Class or function called by :meth:`Registry.build`.
    description : str
        One line shown by :meth:`Registry.describe`.
    defaults : mapping, default={}
        Keyword arguments passed to ``factory`` unless overridden.
    """

    name: str
    factory: Callable[..., Any]
    description: str
    defaults: Mapping[str, Any] = field(default_factory=dict)


def format_choices(names: Iterable[str]) -> str:
    """Return ``'a', 'b', 'c'`` for a sequence of names, sorted."""
    return ", ".join(repr(name) for name in sorted(names))


def did_you_mean(value: object, valid: Iterable[str]) -> str:
    """``" Did you mean 'x'?"`` for the valid name closest to ``value``, or ``""``.

    The one "did you mean" builder of skdnn (registry errors and parameter
    validation both use it).
    """
    if not isinstance(value, str):
        return ""
    close = difflib.get_close_matches(value.lower(), sorted(valid), n=1, cutoff=0.5)
    return f" Did you mean {close[0]!r}?" if close else ""


def unknown_value_message(kind: str, value: object, valid: Iterable[str]) -> str:
    """Build the message for an unknown option: what was passed, what is valid, a hint."""
    valid = sorted(valid)
    return (
        f"Unknown {kind} {value!r}. Valid values are: {format_choices(valid)}."
        + did_you_mean(value, valid)
    )


class Registry:
    """Named components of one kind, with aliases and helpful errors.

    Parameters
    ----------
    kind : str
        What the registry holds ("activation", "optimizer", ...), used in errors.
    """

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._components: dict[str, Component] = {}
        self._aliases: dict[str, str] = {}

    def register(self, component: Component, *, aliases: Iterable[str] = ()) -> Component:
        """Add ``component`` (and its ``aliases``); names must be new."""
        names = [component.name, *aliases]
        if len(set(names)) != len(names):
            raise ValueError(f"{self.kind} {component.name!r} repeats a name: {names}")
        for name in names:
            if name in self._components or name in self._aliases:
                raise ValueError(f"{self.kind} {name!r} is already registered")
        self._components[component.name] = component
        for alias in aliases:
            self._aliases[alias] = component.name
        return component

    def add(
        self,
        name: str,
        factory: Callable[..., Any],
        description: str,
        *,
        aliases: Iterable[str] = (),
        **defaults: Any,
    ) -> Component:
        """Shorthand for ``register(Component(name, factory, description, defaults))``."""
        return self.register(Component(name, factory, description, defaults), aliases=aliases)

    def names(self, *, aliases: bool = True) -> list[str]:
        """Sorted valid names (aliases included unless ``aliases=False``)."""
        names = list(self._components)
        if aliases:
            names += list(self._aliases)
        return sorted(names)

    def canonical(self, name: str) -> str:
        """The canonical name of ``name`` (resolving aliases)."""
        return self.resolve(name).name

    def resolve(self, name: str) -> Component:
        """Return the component called ``name`` or raise :class:`UnknownComponentError`."""
        if isinstance(name, str):
            key = self._aliases.get(name, name)
            if key in self._components:
                return self._components[key]
        raise UnknownComponentError(unknown_value_message(self.kind, name, self.names()))

    def build(self, name: str, params: Mapping[str, Any] | None = None, /, **context: Any) -> Any:
        """Call the factory of ``name`` with its defaults, then ``params``, then ``context``.

        Keys of ``params`` that the factory does not accept raise a ``ValueError``
        listing the accepted keys.
        """
        component = self.resolve(name)
        params = dict(params or {})
        check_keywords(component.factory, params, f"{self.kind} {component.name!r}")
        return component.factory(**{**component.defaults, **params, **context})

    def describe(self) -> dict[str, str]:
        """Map each canonical name to its one-line description."""
        return {name: c.description for name, c in sorted(self._components.items())}

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and (name in self._components or name in self._aliases)


def accepted_keywords(factory: Callable[..., Any]) -> list[str] | None:
    """Keyword names ``factory`` accepts, or None when it takes ``**kwargs``."""
    try:
        signature = inspect.signature(factory)
    except (TypeError, ValueError):  # builtins without a signature
        return None
    names = []
    named = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    for parameter in signature.parameters.values():
        if parameter.kind is inspect.Parameter.VAR_KEYWORD:
            return None
        if parameter.kind in named:
            names.append(parameter.name)
    return names


def check_keywords(
    factory: Callable[..., Any],
    params: Mapping[str, Any],
    owner: str,
    *,
    reserved: Iterable[str] = (),
) -> None:
    """Raise ``ValueError`` if ``params`` has keys ``factory`` does not accept.

    ``reserved`` names are accepted by the factory but set by skdnn itself
    (for example the parameters of an optimizer), so users may not pass them.
    """
    accepted = accepted_keywords(factory)
    if accepted is None:
        return
    allowed = sorted(set(accepted) - {"self", "params"} - set(reserved))
    unknown = sorted(set(params) - set(allowed))
    if unknown:
        raise ValueError(
            f"Unknown parameter(s) {format_choices(unknown)} for {owner}; "
            f"accepted: {format_choices(allowed) or 'none'}."
        )
