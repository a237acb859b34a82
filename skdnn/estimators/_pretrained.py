"""Read the reusable layers out of the ``pretrained`` value of a transfer estimator.

A source is a fitted skdnn estimator (possibly wrapped in
``sklearn.frozen.FrozenEstimator``) or the path of one saved by ``save``, a torch
``nn.Sequential``, or a sequence of ``(kernel, bias)`` arrays from another
framework. Whatever the kind, the result is a deep copy: building a new network
on it never touches the source.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from sklearn.exceptions import NotFittedError
from sklearn.frozen import FrozenEstimator
from torch import nn

from skdnn.components.activations import make_activation
from skdnn.components.categorical import CategoricalEmbedding
from skdnn.estimators._base import BaseDNN
from skdnn.network import INPUT_BLOCK, hidden_blocks
from skdnn.network_ensemble import n_members

_ACCEPTED = (
    "a fitted DNNClassifier or StackedAutoencoder (or a FrozenEstimator of one), the path "
    "of one saved by save(), a torch nn.Sequential of Linear/activation layers, or a "
    "sequence of (kernel, bias) arrays"
)


@dataclass
class SourceLayers:
    """Copies of the reusable part of a pretrained model.

    Attributes
    ----------
    n_features : int
        Input width the layers expect.
    input_block : torch.nn.Module
        What runs on the raw inputs before the first hidden layer (input batch
        norm, input dropout; an empty ``nn.Sequential`` when there is none).
    hidden : list of torch.nn.Sequential
        The hidden blocks, bottom first, each with a ``linear`` child.
    feature_names : ndarray of str or None
        The column names the source estimator was fitted with, if any.
    """

    n_features: int
    input_block: nn.Module
    hidden: list[nn.Sequential]
    feature_names: np.ndarray | None = None


class SharedPretrainedMixin:
    """Share the ``pretrained`` parameter between clones instead of cloning it.

    A fitted source estimator keeps its weights through ``clone``, and its own
    parameters stay out of reach of ``get_params``/``set_params``.
    """

    def __sklearn_clone__(self) -> SharedPretrainedMixin:
        """Clone as scikit-learn does, but pass ``pretrained`` on as it is.

        A plain clone would clone a fitted source estimator into an unfitted
        one. Sharing is safe: ``fit`` only ever reads a deep copy of the source.

        Returns
        -------
        estimator
            An unfitted estimator with the same parameters.
        """
        template = object.__new__(type(self))
        template.__dict__.update(self.__dict__)
        template.pretrained = _PassedOnAsIs(self.pretrained)
        new = super(SharedPretrainedMixin, template).__sklearn_clone__()
        new.pretrained = self.pretrained
        return new

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """Get the parameters of this estimator, never those inside ``pretrained``.

        The source is shared by clones (see :meth:`__sklearn_clone__`), so its
        own parameters are not exposed: ``set_params`` and parameter searches
        cannot change it.

        Parameters
        ----------
        deep : bool, default=True
            Ignored: there is no nested estimator to describe.

        Returns
        -------
        dict
            Parameter names mapped to their values.
        """
        return super().get_params(deep=False)

    def set_params(self, **params: Any) -> SharedPretrainedMixin:
        """Set the parameters of this estimator; those inside ``pretrained`` are refused.

        Parameters
        ----------
        **params : dict
            Estimator parameters.

        Returns
        -------
        self : estimator
            This estimator.
        """
        nested = sorted(name for name in params if name.startswith("pretrained__"))
        if nested:
            raise ValueError(
                f"Invalid parameter(s) {nested}: the pretrained model is shared by clones and "
                "never modified; configure it before passing it as pretrained."
            )
        return super().set_params(**params)


class _PassedOnAsIs:
    """A parameter value that ``sklearn.clone`` returns unchanged."""

    def __init__(self, value: Any) -> None:
        self.value = value

    def __sklearn_clone__(self) -> _PassedOnAsIs:
        return self


def source_layers(
    pretrained: Any, *, activation: str, activation_params: Mapping[str, Any] | None
) -> SourceLayers:
    """Deep copies of the input block and hidden layers of ``pretrained``.

    Parameters
    ----------
    pretrained : object
        The ``pretrained`` hyperparameter (see ``TransferDNNClassifier``).
    activation : str
        Activation placed after each layer of ``(kernel, bias)`` weights.
    activation_params : dict or None
        Parameters of that activation.

    Returns
    -------
    SourceLayers
        Copies owned by the caller, in float32.

    Raises
    ------
    sklearn.exceptions.NotFittedError
        If the source estimator is not fitted (a ``ValueError``).
    ValueError
        If ``pretrained`` is missing, of an unsupported kind, or malformed
        (including a path that is not a valid skdnn model file), or has
        non-finite weights.
    """
    layers = _layers_of(pretrained, activation, activation_params)
    layers.input_block.float()  # a float64 torch network trains in float32 like the rest
    for block in layers.hidden:
        block.float()
    for where, block in [("input block", layers.input_block)] + [
        (f"layer {index}", block) for index, block in enumerate(layers.hidden)
    ]:
        for name, tensor in block.state_dict().items():
            if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
                raise ValueError(
                    f"pretrained {where} has non-finite values (NaN or inf) in {name!r}: "
                    "the source network is unusable (did its training diverge?)."
                )
    return layers


def _layers_of(
    pretrained: Any, activation: str, activation_params: Mapping[str, Any] | None
) -> SourceLayers:
    """:func:`source_layers` before the float32 cast and the finiteness check."""
    source = pretrained
    while isinstance(source, FrozenEstimator):
        source = source.estimator
    if source is None:
        raise ValueError(f"pretrained is required: pass {_ACCEPTED}.")
    if isinstance(source, str | os.PathLike):
        source = BaseDNN.load(source)
    if isinstance(source, BaseDNN):
        return _from_estimator(source)
    if isinstance(source, nn.Sequential):
        if any(name.startswith("hidden") for name, _ in source.named_children()):
            return _from_network(source, _linear_layers(source)[0].in_features)
        return _from_layers(source)
    if _is_weight_pairs(source):
        return _from_weights(source, activation, activation_params)
    raise ValueError(f"pretrained must be {_ACCEPTED}; got a {type(source).__name__}.")


def _from_estimator(source: BaseDNN) -> SourceLayers:
    name = type(source).__name__
    if not source.__sklearn_is_fitted__():
        raise NotFittedError(
            f"The pretrained {name} is not fitted: fit it first. A plain clone of a fitted "
            "estimator has no weights; to pass fitted estimators through clone or a parameter "
            "search, wrap them in sklearn.frozen.FrozenEstimator."
        )
    # An estimator whose reusable part is not simply ``model_`` says so (pair models).
    reusable = getattr(source, "_reusable_network", None)
    if reusable is not None:
        n_features, network = reusable()
        return _from_network(network, n_features)
    layers = _from_network(source.model_, source.n_features_in_)
    layers.feature_names = getattr(source, "feature_names_in_", None)
    return layers


def check_reads_numbers(pretrained: Any) -> None:
    """Refuse a fitted source estimator that reads categorical columns (before X is read).

    Its input layer encodes categories with the codes of its own fit, which a
    transfer estimator cannot reproduce (:func:`source_layers` refuses the
    other forms of such a source when it copies its layers).
    """
    source = pretrained
    while isinstance(source, FrozenEstimator):
        source = source.estimator
    if getattr(source, "is_categorical_", None) is not None:
        raise ValueError(_READS_CATEGORIES)


_READS_CATEGORIES = (
    "pretrained reads categorical columns: its input layer encodes them with the categories "
    "it was fitted on, which a transfer estimator cannot reproduce yet. Encode the categories "
    "before both models instead (e.g. a Pipeline with a ColumnTransformer and OneHotEncoder), "
    "so that the source is fitted on numbers."
)


def _from_network(network: nn.Module, n_features: int) -> SourceLayers:
    """Layers of a network built like :func:`skdnn.network.build_mlp`."""
    if n_members(network) > 1:
        raise ValueError(
            "pretrained is an ensemble (n_ensemble > 1): its hidden layers hold several "
            "members and cannot be reused as one network's layers. Pretrain with "
            "n_ensemble=1 (the transfer estimator's own n_ensemble makes its new layers an "
            "ensemble)."
        )
    children = dict(network.named_children())
    input_block = children.get(INPUT_BLOCK, nn.Sequential())
    if any(isinstance(module, CategoricalEmbedding) for module in input_block.modules()):
        raise ValueError(_READS_CATEGORIES)
    return SourceLayers(
        n_features=int(n_features),
        input_block=copy.deepcopy(input_block),
        hidden=[copy.deepcopy(block) for block in hidden_blocks(network)],
    )


def _linear_layers(module: nn.Module) -> list[nn.Linear]:
    layers = [m for m in module.modules() if isinstance(m, nn.Linear)]
    if not layers:
        raise ValueError("The pretrained nn.Sequential has no Linear layer.")
    return layers


def _from_layers(sequential: nn.Sequential) -> SourceLayers:
    """Group a flat ``Linear, activation, Linear, ...`` sequence into hidden blocks."""
    _linear_layers(sequential)
    blocks: list[nn.Sequential] = []
    for index, layer in enumerate(sequential):
        if isinstance(layer, nn.Linear):
            blocks.append(nn.Sequential())
            blocks[-1].add_module("linear", copy.deepcopy(layer))
        elif blocks and not hasattr(blocks[-1], "activation"):
            blocks[-1].add_module("activation", copy.deepcopy(layer))
        else:
            raise ValueError(
                "A pretrained nn.Sequential must hold Linear layers, each followed by at most "
                f"one activation module; layer {index} ({type(layer).__name__}) does not fit."
            )
    return SourceLayers(blocks[0].linear.in_features, nn.Sequential(), blocks)


def _is_weight_pairs(source: Any) -> bool:
    return (
        isinstance(source, Sequence)
        and not isinstance(source, str)
        and len(source) > 0
        and all(isinstance(pair, Sequence) and len(pair) == 2 for pair in source)
    )


def _from_weights(
    pairs: Sequence[Sequence[Any]], activation: str, activation_params: Mapping[str, Any] | None
) -> SourceLayers:
    """Hidden blocks from Keras-style ``(kernel, bias)`` pairs, kernel of shape (n_in, n_out)."""
    blocks = []
    for index, (kernel, bias) in enumerate(pairs):
        kernel = np.asarray(kernel, dtype=np.float32)
        width = blocks[-1].linear.out_features if blocks else None
        if kernel.ndim != 2 or (width is not None and kernel.shape[0] != width):
            expected = "(n_in, n_out)" if width is None else f"({width}, n_out)"
            raise ValueError(
                f"pretrained layer {index}: the kernel must have shape {expected} (the "
                f"Keras layout, the transpose of torch's); got {kernel.shape}."
            )
        n_in, n_out = kernel.shape
        linear = nn.Linear(n_in, n_out, bias=bias is not None)
        with torch.no_grad():
            linear.weight.copy_(torch.from_numpy(np.ascontiguousarray(kernel.T)))
            if bias is not None:
                bias = np.asarray(bias, dtype=np.float32)
                if bias.shape != (n_out,):
                    raise ValueError(
                        f"pretrained layer {index}: the bias must have shape ({n_out},); "
                        f"got {bias.shape}."
                    )
                linear.bias.copy_(torch.from_numpy(bias))
        block = nn.Sequential()
        block.add_module("linear", linear)
        block.add_module(
            "activation", make_activation(activation, activation_params, num_features=n_out)
        )
        blocks.append(block)
    return SourceLayers(blocks[0].linear.in_features, nn.Sequential(), blocks)
