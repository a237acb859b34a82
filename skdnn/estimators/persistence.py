"""Save and load fitted estimators in skdnn's safe file format.

A file holds the network's tensors (safetensors) and a JSON description: the
estimator's class name, its hyperparameters, its fitted attributes, the layer
structure and the optimizer/schedule state. Loading instantiates only known
skdnn estimator classes and standard torch layers, so a crafted file cannot
execute code; tensors always load on the CPU. The file carries a SHA-256
checksum of its tensors and description (:mod:`skdnn._utils.bundle`), so a
corrupted file raises ``ValueError`` instead of loading altered weights.
"""

from __future__ import annotations

import dataclasses
import os
import warnings
from typing import Any

import numpy as np
import torch

from skdnn._utils.bundle import read_bundle, write_bundle
from skdnn._utils.module_spec import build_module, describe_module
from skdnn._version import __version__
from skdnn.exceptions import SkdnnWarning
from skdnn.network import MLPSpec

_TRAINING_STATE = ("_optimizer_state", "_schedule_state", "_rng_state", "_fit_settings")
_DATACLASSES = {"MLPSpec": MLPSpec}


def estimator_to_bundle(estimator: Any) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """The tensors and JSON description of a fitted ``estimator``."""
    tensors: dict[str, torch.Tensor] = {}
    fitted = {
        name: _encode(value, tensors, f"fitted.{name}")
        for name, value in vars(estimator).items()
        if name.endswith("_") and not name.startswith("_") and name != "model_"
    }
    training = {
        name: _encode(getattr(estimator, name), tensors, f"training.{name}")
        for name in _TRAINING_STATE
        if getattr(estimator, name, None) is not None
    }
    for key, value in estimator.model_.state_dict().items():
        tensors[f"model.{key}"] = value
    spec = {
        "estimator": type(estimator).__name__,
        "skdnn_version": __version__,
        "params": _encode_params(estimator.get_params(deep=False)),
        "fitted": fitted,
        "training": training,
        "module": describe_module(estimator.model_),
    }
    return tensors, spec


def save_estimator(estimator: Any, path: str | os.PathLike) -> None:
    """Write a fitted ``estimator`` to ``path`` atomically."""
    tensors, spec = estimator_to_bundle(estimator)
    write_bundle(path, tensors, spec)


def estimator_from_bundle(
    tensors: dict[str, torch.Tensor], spec: dict[str, Any], classes: dict[str, type], source: str
) -> Any:
    """Rebuild an estimator from :func:`estimator_to_bundle`'s output."""
    try:
        cls = classes[spec["estimator"]]
    except KeyError as error:
        raise ValueError(
            f"{source} holds an estimator of unknown type {spec.get('estimator')!r}; "
            f"known: {sorted(classes)}."
        ) from error
    try:
        estimator = cls(**_decode(spec["params"], tensors))
        for name, value in spec["fitted"].items():
            setattr(estimator, name, _decode(value, tensors))
        for name, value in spec["training"].items():
            setattr(estimator, name, _decode(value, tensors))
        with torch.random.fork_rng(devices=[]):
            module = build_module(spec["module"])
        state = {k[len("model.") :]: v for k, v in tensors.items() if k.startswith("model.")}
        module.load_state_dict(state)
    except (KeyError, TypeError, RuntimeError) as error:
        raise ValueError(f"{source} is not a valid skdnn model file: {error}") from error
    estimator.model_ = module.eval()
    return estimator


def load_estimator(path: str | os.PathLike, classes: dict[str, type]) -> Any:
    """Read an estimator written by :func:`save_estimator` (never unpickles)."""
    tensors, spec = read_bundle(path)
    return estimator_from_bundle(tensors, spec, classes, str(path))


def _encode_params(params: dict[str, Any]) -> dict[str, Any]:
    encoded = {}
    for name, value in params.items():
        try:
            encoded[name] = _encode(value, None, name)
        except TypeError:
            warnings.warn(
                f"Hyperparameter {name}={value!r} cannot be stored in a file; it is saved "
                "as None (set it again after loading if you train further).",
                SkdnnWarning,
                stacklevel=4,
            )
            encoded[name] = None
    return encoded


def _encode(value: Any, tensors: dict[str, torch.Tensor] | None, key: str) -> Any:
    """Plain JSON for ``value``; tensors go to ``tensors`` under a derived key."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, torch.Tensor) and tensors is not None:
        tensors[key] = value
        return {"__tensor__": key}
    if isinstance(value, np.ndarray):
        kind = "object" if value.dtype.kind == "O" else value.dtype.str
        return {"__ndarray__": value.tolist(), "dtype": kind}
    if isinstance(value, tuple):
        return {"__tuple__": [_encode(v, tensors, f"{key}.{i}") for i, v in enumerate(value)]}
    if isinstance(value, list):
        return [_encode(v, tensors, f"{key}.{i}") for i, v in enumerate(value)]
    if isinstance(value, dict):
        if all(isinstance(k, str) and not k.startswith("__") for k in value):
            return {k: _encode(v, tensors, f"{key}.{k}") for k, v in value.items()}
        return {"__items__": [[_encode(k, tensors, key), _encode(v, tensors, f"{key}.{k}")]
                              for k, v in value.items()]}
    if isinstance(value, torch.device | os.PathLike):
        return str(value)
    if dataclasses.is_dataclass(value) and type(value).__name__ in _DATACLASSES:
        return {"__dataclass__": type(value).__name__, "fields": value.to_dict()}
    raise TypeError(f"cannot store {key} of type {type(value).__name__}")


def _decode(value: Any, tensors: dict[str, torch.Tensor]) -> Any:
    if isinstance(value, list):
        return [_decode(v, tensors) for v in value]
    if not isinstance(value, dict):
        return value
    if "__tensor__" in value:
        return tensors[value["__tensor__"]]
    if "__ndarray__" in value:
        return np.array(value["__ndarray__"], dtype=value["dtype"])
    if "__tuple__" in value:
        return tuple(_decode(v, tensors) for v in value["__tuple__"])
    if "__items__" in value:
        return {_decode(k, tensors): _decode(v, tensors) for k, v in value["__items__"]}
    if "__dataclass__" in value:
        return _DATACLASSES[value["__dataclass__"]].from_dict(value["fields"])
    return {k: _decode(v, tensors) for k, v in value.items()}
