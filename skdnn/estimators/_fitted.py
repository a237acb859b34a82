"""What a fitted skdnn estimator does with its network besides training it.

Saving and loading in skdnn's safe format, pickling with CPU tensors, and the
prediction core: a cached inference copy of ``model_`` run in large batches.
"""

from __future__ import annotations

import copy
import os
from typing import Any

import numpy as np
import scipy.sparse as sp
import torch
from sklearn.utils.validation import check_is_fitted
from torch import nn

from skdnn.estimators._data import shared_tensor
from skdnn.estimators.persistence import load_estimator, save_estimator
from skdnn.training.inference import InferenceNetwork


class FittedNetworkMixin:
    """Persistence, pickling and the forward pass of a fitted ``model_``."""

    def save(self, path: str | os.PathLike) -> None:
        """Save the fitted estimator to ``path`` in skdnn's safe format.

        The file holds tensors (safetensors) and a JSON description, never a
        pickle, so loading it cannot execute code. Callables among the
        hyperparameters (``augment``) are not stored.

        Parameters
        ----------
        path : str or path-like
            Destination file; written atomically.
        """
        check_is_fitted(self)
        save_estimator(self, path)

    @classmethod
    def load(cls, path: str | os.PathLike) -> FittedNetworkMixin:
        """Load an estimator written by :meth:`save`, on the CPU.

        Parameters
        ----------
        path : str or path-like
            File written by :meth:`save` (or a checkpoint).

        Returns
        -------
        estimator
            The fitted estimator, of the class recorded in the file.

        Raises
        ------
        ValueError
            If the file is not a valid skdnn model file, is truncated or
            corrupt, or holds an estimator that is not a ``cls``.
        """
        classes = {klass.__name__: klass for klass in _subclasses(FittedNetworkMixin)}
        estimator = load_estimator(path, classes)
        if not isinstance(estimator, cls):
            raise ValueError(f"{path} holds a {type(estimator).__name__}, not a {cls.__name__}.")
        return estimator

    def _clear_fitted_state(self) -> None:
        """Forget every fitted attribute (used when a fresh fit fails)."""
        for name in [k for k in vars(self) if k.endswith("_") and not k.startswith("__")]:
            delattr(self, name)
        for name in ("_optimizer_state", "_schedule_state", "_rng_state", "_fit_settings"):
            self.__dict__.pop(name, None)

    # ------------------------------------------------------------------ inference
    def _prepare_inference(self) -> None:
        """Build the inference network of ``model_`` now, so that predicting does not.

        Called when training ends; prediction rebuilds it only if ``model_`` was
        changed since (and leaves the estimator's ``__dict__`` alone otherwise).
        """
        model = self.__dict__.get("model_")
        if isinstance(model, nn.Module):
            self._inference_cache = InferenceNetwork(model)

    def _forward(self, X: np.ndarray | sp.spmatrix, batch_size: int = 8192) -> torch.Tensor:
        """Logits (or outputs) of the fitted network for ``X``, on the CPU.

        Runs a cached :class:`~skdnn.training.inference.InferenceNetwork` (batch
        norm folded, fast kernels), rebuilt whenever ``model_`` changed. A
        sparse ``X`` is made dense ``batch_size`` rows at a time (a row's
        outputs do not depend on the rows around it).
        """
        module = self.model_
        if module.training:
            module.eval()
        network = self.__dict__.get("_inference_cache")
        if network is None or not network.is_current(module):
            network = self._inference_cache = InferenceNetwork(module)
        if sp.issparse(X):
            return torch.cat([
                self._forward(X[start:start + batch_size].toarray(), batch_size)
                for start in range(0, X.shape[0], batch_size)
            ])
        inputs = shared_tensor(X)
        if network.device.type == "cpu":  # no transfers (two dispatches fewer per call)
            if len(inputs) <= batch_size:
                return network(inputs)
            return torch.cat([network(chunk) for chunk in torch.split(inputs, batch_size)])
        device = network.device
        return torch.cat(
            [network(chunk.to(device)).cpu() for chunk in torch.split(inputs, batch_size)]
        )

    # ------------------------------------------------------------------ pickling
    def __getstate__(self) -> dict[str, Any]:
        """Pickle with CPU tensors only, so a GPU-fitted model loads anywhere."""
        state = super().__getstate__()
        if "_inference_cache" in state:  # rebuilt on demand; never pickled
            state = {k: v for k, v in state.items() if k != "_inference_cache"}
        if "model_" in state:
            state = dict(state)
            state["model_"] = copy.deepcopy(state["model_"]).cpu()
            for key in ("_optimizer_state", "_rng_state"):
                if state.get(key) is not None:
                    state[key] = _to_cpu(state[key])
        return state


def _subclasses(cls: type) -> list[type]:
    found = []
    for sub in cls.__subclasses__():
        found += [sub, *_subclasses(sub)]
    return found


def _to_cpu(value: Any) -> Any:
    if isinstance(value, torch.Tensor):
        return value.cpu()
    if isinstance(value, dict):
        return {k: _to_cpu(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_to_cpu(v) for v in value)
    return value
