"""Fast paths on private torch API: each checks itself once per process, or is switched off.

Some of skdnn's speed comes from torch internals that carry no stability
promise: the fused Adam kernel called directly, oneDNN's linear operator, the
positional signatures of aten's ``*_backward`` operators in the hand-written
training step. Each such fast path registers a *self-check* here: a tiny
problem solved both ways (the fast path against autograd or
``optimizer.step()``). :func:`enabled` runs a path's check the first time the
path is about to be used; if it raises or disagrees, the path is off for the
rest of the process, with one :class:`~skdnn.exceptions.SkdnnWarning`, and the
plain torch implementation is used instead. A path that fails later, at run
time, is switched off the same way (:func:`disable`).

Setting the environment variable ``SKDNN_DISABLE_FAST_PATHS=1`` (before the
first fit) or calling :func:`set_enabled` with ``False`` turns every fast path
off: the results are then those of plain torch (up to float rounding), only
slower.

Plain torch; no scikit-learn.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import torch

from skdnn.exceptions import SkdnnWarning

#: Environment variable that turns every fast path off when set to 1 (or true, yes, on).
ENVIRONMENT_VARIABLE = "SKDNN_DISABLE_FAST_PATHS"


@dataclass(frozen=True)
class FastPath:
    """A registered fast path.

    Parameters
    ----------
    name : str
        Short identifier, used in warnings.
    description : str
        What the path does and which private API it relies on.
    check : callable
        ``check()`` solves a tiny problem with and without the path and returns
        True when they agree; False or an exception means the path is broken
        on this torch.
    """

    name: str
    description: str
    check: Callable[[], bool]


_REGISTRY: dict[str, FastPath] = {}
#: name -> passed; filled by the first call of :func:`enabled`.
_RESULTS: dict[str, bool] = {}
_SWITCH: dict[str, bool | None] = {"enabled": None}  # None: follow the environment


def register(name: str, description: str, check: Callable[[], bool]) -> None:
    """Register the self-check of a fast path (once, at import of its module).

    Parameters
    ----------
    name : str
        Identifier of the path; registering it again replaces the check.
    description : str
        What the path does and which private torch API it uses.
    check : callable
        Returns True when the path agrees with plain torch on a tiny problem.
    """
    _REGISTRY[name] = FastPath(name, description, check)
    _RESULTS.pop(name, None)


def enabled(name: str) -> bool:
    """Whether the fast path ``name`` may be used: switched on and its self-check passed.

    The check runs on the first call in the process; its outcome is kept.

    Parameters
    ----------
    name : str
        A registered path.

    Returns
    -------
    bool
        False when every fast path is switched off, or this one failed its
        check (warned once).
    """
    if not switched_on():
        return False
    passed = _RESULTS.get(name)
    if passed is None:
        path = _REGISTRY[name]
        try:
            passed = bool(path.check())
            reason = "its results differ from plain torch's"
        except Exception as error:  # any failure of private API means: do not use it
            passed = False
            reason = f"{type(error).__name__}: {error}"
        if not passed:
            _warn(path, reason)
        _RESULTS[name] = passed
    return passed


def disable(name: str, error: BaseException) -> None:
    """Switch the fast path ``name`` off for good after it failed at run time (warns once).

    Parameters
    ----------
    name : str
        A registered path.
    error : BaseException
        What went wrong; named in the warning.
    """
    if _RESULTS.get(name) is not False:
        _warn(_REGISTRY[name], f"{type(error).__name__}: {error}")
    _RESULTS[name] = False


def switched_on() -> bool:
    """Whether fast paths are allowed at all (:func:`set_enabled`, else the environment).

    Returns
    -------
    bool
        False when :func:`set_enabled` switched them off or, without that,
        ``SKDNN_DISABLE_FAST_PATHS`` is set to 1, true, yes or on.
    """
    switch = _SWITCH["enabled"]
    if switch is not None:
        return switch
    value = os.environ.get(ENVIRONMENT_VARIABLE, "").strip().lower()
    return value not in {"1", "true", "yes", "on"}


def set_enabled(on: bool | None) -> None:
    """Switch every fast path on or off for this process.

    Parameters
    ----------
    on : bool or None
        False turns them off; True allows them again (each still needs its
        self-check to pass); None follows ``SKDNN_DISABLE_FAST_PATHS`` again.
        Takes effect for steps and inference networks built afterwards.
    """
    _SWITCH["enabled"] = None if on is None else bool(on)


def status() -> dict[str, bool | None]:
    """Each registered path: True (checked, in use), False (off), None (not checked yet).

    Returns
    -------
    dict of str to bool or None
        By path name.
    """
    on = switched_on()
    return {name: (_RESULTS.get(name) if on else False) for name in sorted(_REGISTRY)}


def forget_results() -> None:
    """Forget every check's outcome, so that each runs again on next use (for tests)."""
    _RESULTS.clear()


def _warn(path: FastPath, reason: str) -> None:
    warnings.warn(
        f"skdnn's fast path {path.name!r} ({path.description}) failed its self-check on "
        f"torch {torch.__version__} ({reason}); skdnn uses the plain torch implementation "
        f"instead for the rest of this process (same results, slower). Set "
        f"{ENVIRONMENT_VARIABLE}=1 to switch all fast paths off.",
        SkdnnWarning,
        stacklevel=3,
    )


# --------------------------------------------------------------------------- the hand-written step
#: The hand-derived MLP training step (:class:`~skdnn.training.steps.MLPStep`).
MLP_STEP = "mlp_step"


def _activation_backwards_agree() -> bool:
    """Each activation's fast forward and backward (aten ``*_backward`` ops) against autograd."""
    from skdnn.components.activations import ACTIVATIONS, make_activation

    generator = torch.Generator().manual_seed(0)
    z = torch.randn(6, 5, generator=generator) * 2
    grad = torch.randn(6, 5, generator=generator)
    for name in ACTIVATIONS.names(aliases=False):
        component = ACTIVATIONS.resolve(name)
        if component.fast_forward is None or component.fast_backward is None:
            continue
        module = make_activation(name)
        inputs = z.clone().requires_grad_()
        expected = module(inputs)
        expected.backward(grad)
        with torch.no_grad():
            output = component.fast_forward(z.clone(), module)
            input_grad = component.fast_backward(grad, output, module)
        if not (
            torch.allclose(output, expected.detach(), rtol=1e-5, atol=1e-6)
            and input_grad.shape == z.shape
            and torch.allclose(input_grad, inputs.grad, rtol=1e-5, atol=1e-6)
        ):
            return False
    return True


register(
    MLP_STEP,
    "the hand-derived MLP training step, on positional signatures of aten *_backward ops",
    _activation_backwards_agree,
)
