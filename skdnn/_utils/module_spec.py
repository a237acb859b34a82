"""Describe a network of standard torch layers as plain data, and rebuild it.

Saving a model must never pickle: a file that rebuilds a network by importing
arbitrary classes could run any code. Instead each layer is written as a type
name from a fixed allow-list plus its constructor arguments, and rebuilding
only ever instantiates those known classes.

The allow-list holds the structural layers (``Linear``, the norms,
``Identity``); each component module registers the layers it builds
(:func:`register_layer`): the activations and dropout types from their registry
entries, skdnn's batch norm from its module. Containers other than
``nn.Sequential`` register with :func:`register_container` (the Siamese trunk).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from torch import nn


def _batch_norm_arguments(module: nn.BatchNorm1d) -> dict[str, Any]:
    return {
        "num_features": module.num_features,
        "eps": module.eps,
        "momentum": module.momentum,
        "affine": module.affine,
        "track_running_stats": module.track_running_stats,
    }


# Layer type -> function returning its constructor arguments.
_LAYERS: dict[str, tuple[type[nn.Module], Callable[[Any], dict[str, Any]]]] = {
    "Linear": (
        nn.Linear,
        lambda m: {
            "in_features": m.in_features,
            "out_features": m.out_features,
            "bias": m.bias is not None,
        },
    ),
    "BatchNorm1d": (nn.BatchNorm1d, _batch_norm_arguments),
    "LayerNorm": (
        nn.LayerNorm,
        lambda m: {
            "normalized_shape": list(m.normalized_shape),
            "eps": m.eps,
            "elementwise_affine": m.elementwise_affine,
        },
    ),
    "Identity": (nn.Identity, lambda m: {}),
}


def register_layer(cls: type[nn.Module], constructor_args: Callable[[Any], dict[str, Any]]) -> None:
    """Allow ``cls`` in saved networks, rebuilt as ``cls(**constructor_args(layer))``.

    Parameters
    ----------
    cls : type
        A leaf ``torch.nn.Module`` class; saved under its ``__name__``.
    constructor_args : callable
        ``constructor_args(layer) -> dict`` of JSON-friendly constructor arguments.
    """
    known = _LAYERS.get(cls.__name__)
    if known is not None and known[0] is not cls:
        raise ValueError(f"Another layer class is already saved as {cls.__name__!r}.")
    _LAYERS[cls.__name__] = (cls, constructor_args)


# Container type -> class, rebuilt as ``cls(**{child name: child})``.
_CONTAINERS: dict[str, type[nn.Module]] = {}


def register_container(cls: type[nn.Module]) -> None:
    """Allow ``cls``, a container built from its children alone, in saved networks.

    ``cls``'s constructor must take each child as the keyword argument of the
    child's name (``SiameseTrunk(network)`` holds ``network``) and nothing
    else; the children are described and rebuilt like any module.

    Parameters
    ----------
    cls : type
        A ``torch.nn.Module`` class; saved under its ``__name__``.
    """
    known = _CONTAINERS.get(cls.__name__)
    if cls.__name__ in _LAYERS or (known is not None and known is not cls):
        raise ValueError(f"Another module class is already saved as {cls.__name__!r}.")
    _CONTAINERS[cls.__name__] = cls


def register_batch_norm(cls: type[nn.BatchNorm1d]) -> None:
    """Allow ``cls``, a subclass of ``nn.BatchNorm1d`` with its constructor, in saved networks.

    skdnn's own layers live above this module; they register themselves here
    (under their class name) when their module is imported, which saving and
    loading always do.

    Parameters
    ----------
    cls : type
        A subclass of ``torch.nn.BatchNorm1d`` that takes the same arguments.
    """
    if not issubclass(cls, nn.BatchNorm1d):
        raise TypeError(f"{cls.__qualname__} is not a subclass of torch.nn.BatchNorm1d")
    _LAYERS[cls.__name__] = (cls, _batch_norm_arguments)


def describe_module(module: nn.Module) -> dict[str, Any]:
    """Plain-data description of ``module`` (nested containers of known layers).

    Raises
    ------
    ValueError
        If a layer type is not one skdnn knows how to rebuild safely.
    """
    if isinstance(module, nn.Sequential):
        return {
            "type": "Sequential",
            "children": [[name, describe_module(child)] for name, child in module.named_children()],
        }
    kind = type(module).__name__
    if _CONTAINERS.get(kind) is type(module):
        return {
            "type": kind,
            "children": [[name, describe_module(child)] for name, child in module.named_children()],
        }
    if kind not in _LAYERS or type(module) is not _LAYERS[kind][0]:
        raise ValueError(
            f"Cannot describe a layer of type {type(module).__qualname__}; "
            f"supported layers: {', '.join(sorted(_LAYERS))} inside nn.Sequential."
        )
    return {"type": kind, "args": _LAYERS[kind][1](module)}


def build_module(description: dict[str, Any]) -> nn.Module:
    """Rebuild a module from :func:`describe_module`'s output (weights not included).

    Raises
    ------
    ValueError
        If the description is malformed or names an unknown layer type.
    """
    try:
        kind = description["type"]
        if kind == "Sequential":
            return nn.Sequential(
                OrderedDict(
                    (str(name), build_module(child)) for name, child in description["children"]
                )
            )
        if kind in _CONTAINERS:
            return _CONTAINERS[kind](
                **{str(name): build_module(child) for name, child in description["children"]}
            )
        if kind not in _LAYERS:
            raise ValueError(f"unknown layer type {kind!r}")
        return _LAYERS[kind][0](**description["args"])
    except (KeyError, TypeError) as error:
        raise ValueError(f"Malformed network description: {error!r}") from error
