"""Prediction-time copies of trained networks: batch norm folded away, fast kernels, cached.

In evaluation mode a batch-norm layer is a fixed affine map per feature,
``y = (x - mean) / sqrt(var + eps) * gamma + beta``, and dropout is the
identity. Next to a ``Linear`` layer both can disappear:
:func:`fold_batch_norm` multiplies the batch norm into the weights and bias of
the ``Linear`` before it (norm "before" the activation) or after it (norm
"after" the activation, or on the raw inputs), and drops the dropout layers.

:class:`InferenceNetwork` runs such a folded network with the fastest kernels
for its weights (oneDNN for float32 on CPU, ``torch.addmm`` otherwise), the
same for every call, so that a row's outputs have the same bits whatever else
is in the call (:mod:`~skdnn.training.row_invariance`), and
:meth:`InferenceNetwork.is_current` says whether it still matches the network
it was built from (same layers, same parameters, untouched since), so that an
estimator can cache one and rebuild it only after training changed the weights.

Plain torch; no scikit-learn.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from skdnn.components.normalization import KerasBatchNorm1d
from skdnn.training.freezing import FrozenPrefixSequential
from skdnn.training.gemm import AtenKernels, kernels_for
from skdnn.training.row_invariance import (
    ROW_BLOCK,
    SERIAL_MAX_MACS,
    VECTOR_GROUP,
    Elementwise,
    is_elementwise,
    one_thread,
    pad_rows,
    rows_independent,
)

#: Batch-norm layers whose evaluation mode is ``BatchNorm1d``'s affine map.
_BATCH_NORMS = (nn.BatchNorm1d, KerasBatchNorm1d)
#: Layers that are the identity in evaluation mode.
_EVAL_IDENTITY = (nn.Dropout, nn.AlphaDropout, nn.FeatureAlphaDropout, nn.Identity)
#: Rows of the blocks of a network that is not a plain chain: any width times
#: it is a whole number of vector groups (see :mod:`~skdnn.training.row_invariance`).
_ARBITRARY_MODULE_ROWS = VECTOR_GROUP


def flat_layers(module: nn.Module) -> list[nn.Module] | None:
    """The leaf layers of ``module`` in execution order, or None when it is not a plain chain.

    A plain chain is an ``nn.Sequential`` whose children are leaf layers or
    plain chains again, without forward hooks. A :class:`FrozenPrefixSequential`
    counts as the chain of all its blocks: its function of the raw inputs, which
    is what it computes at prediction (while training reads a cache it skips
    the frozen blocks).
    """
    leaves: list[nn.Module] = []
    return leaves if _collect(module, leaves, []) else None


def _runs_in_order(module: nn.Module) -> bool:
    return type(module).forward is nn.Sequential.forward or isinstance(
        module, FrozenPrefixSequential
    )


def _collect(module: nn.Module, leaves: list[nn.Module], containers: list[nn.Module]) -> bool:
    if module._forward_hooks or module._forward_pre_hooks:
        return False
    children = list(module.children())
    if not children:
        leaves.append(module)
        return True
    if not _runs_in_order(module):
        return False
    containers.append(module)
    return all(_collect(child, leaves, containers) for child in children)


def fold_batch_norm(module: nn.Module) -> nn.Sequential:
    """A flat evaluation-mode copy of ``module`` with batch norm folded into the Linear layers.

    Every ``BatchNorm1d`` with running statistics that sits right after a
    ``Linear`` (dropout between them does not count: it is the identity at
    inference) is folded into that layer; one that sits right before a
    ``Linear`` (on the inputs, or after an activation) is folded into the next
    one. Dropout and identity layers are dropped. Other layers are copied.

    Parameters
    ----------
    module : torch.nn.Module
        A trained network: an ``nn.Sequential`` of layers or of blocks of
        layers (see :func:`flat_layers`). It is not modified.

    Returns
    -------
    torch.nn.Sequential
        A new network in evaluation mode that computes the outputs of
        ``module.eval()`` up to float rounding (folding runs in float64).

    Raises
    ------
    ValueError
        If ``module`` is not a plain chain of layers.
    """
    leaves = flat_layers(module)
    if leaves is None:
        raise ValueError(
            f"Cannot fold {type(module).__name__}: only chains of nn.Sequential containers "
            "without forward hooks are supported."
        )
    layers = [copy.deepcopy(leaf) for leaf in leaves if not isinstance(leaf, _EVAL_IDENTITY)]
    index = 0
    while index < len(layers):
        layer = layers[index]
        if not _foldable(layer):
            index += 1
            continue
        scale, shift = _affine(layer)
        if index > 0 and type(layers[index - 1]) is nn.Linear:
            _fold_after(layers[index - 1], scale, shift)
        elif index + 1 < len(layers) and type(layers[index + 1]) is nn.Linear:
            _fold_before(layers[index + 1], scale, shift)
        else:
            index += 1
            continue
        del layers[index]
    return nn.Sequential(*layers).eval().requires_grad_(False)


def _foldable(layer: nn.Module) -> bool:
    return (
        type(layer) in _BATCH_NORMS
        and layer.track_running_stats
        and layer.running_mean is not None
        and layer.running_var is not None
    )


def _affine(norm: nn.BatchNorm1d) -> tuple[torch.Tensor, torch.Tensor]:
    """``scale, shift`` (float64) with ``norm(x) == x * scale + shift`` in eval mode."""
    var = norm.running_var.detach().double()
    mean = norm.running_mean.detach().double()
    scale = torch.rsqrt(var + norm.eps)
    if norm.weight is not None:
        scale = scale * norm.weight.detach().double()
    shift = -mean * scale
    if norm.bias is not None:
        shift = shift + norm.bias.detach().double()
    return scale, shift


@torch.no_grad()
def _fold_after(linear: nn.Linear, scale: torch.Tensor, shift: torch.Tensor) -> None:
    """``norm(linear(x))`` as one Linear: scale the rows, shift the bias."""
    weight = linear.weight.detach().double()
    bias = torch.zeros_like(scale) if linear.bias is None else linear.bias.detach().double()
    _set(linear, weight * scale[:, None], bias * scale + shift)


@torch.no_grad()
def _fold_before(linear: nn.Linear, scale: torch.Tensor, shift: torch.Tensor) -> None:
    """``linear(norm(x))`` as one Linear: scale the columns, move the shift into the bias."""
    weight = linear.weight.detach().double()
    bias = (
        torch.zeros(weight.shape[0], dtype=torch.float64, device=weight.device)
        if linear.bias is None
        else linear.bias.detach().double()
    )
    _set(linear, weight * scale[None, :], bias + weight @ shift)


def _set(linear: nn.Linear, weight: torch.Tensor, bias: torch.Tensor) -> None:
    dtype = linear.weight.dtype
    linear.weight = nn.Parameter(weight.to(dtype), requires_grad=False)
    linear.bias = nn.Parameter(bias.to(dtype), requires_grad=False)


# --------------------------------------------------------------------------- the cached network
class InferenceNetwork:
    """A trained network prepared for prediction; call it with a batch of inputs.

    Batch norm is folded (:func:`fold_batch_norm`, only when the network has
    some: otherwise the network's own weights are used, not copied), dropout
    dropped, and chains of ``Linear`` and ReLU run as fused products on the
    fastest kernels for the batch size. A network that is not a plain chain is
    run as is, in evaluation mode.

    Parameters
    ----------
    module : torch.nn.Module
        The trained network, in evaluation mode.
    """

    def __init__(self, module: nn.Module) -> None:
        self.module = module
        first = next(iter(module.parameters()), None)
        self.device = torch.device("cpu") if first is None else first.device
        self._containers: list[nn.Module] = []
        leaves: list[nn.Module] = []
        plain = _collect(module, leaves, self._containers)
        # What "unchanged" means: the same layer objects holding the same tensors,
        # not modified in place since (torch bumps a tensor's version on every
        # in-place change, optimizer steps included).
        self._layer_ids = [id(leaf) for leaf in leaves]
        self._tensors = [t for leaf in leaves for t in _own_tensors(leaf)]
        self._versions = [(t._version, t.data_ptr()) for t in self._tensors]
        self._children = [tuple(c._modules.values()) for c in self._containers]
        self._own = [tuple(_own_tensors(leaf)) for leaf in leaves]
        self._leaves = leaves
        self._ops: list[Callable[[torch.Tensor], torch.Tensor]] | None = None
        #: Calls run on a multiple of this many rows (zero rows are appended).
        self.rows = _ARBITRARY_MODULE_ROWS
        #: Whether calls run block by block, each block exactly ``rows`` rows.
        self.blockwise = True
        self._macs_per_row = 0
        if plain:
            has_norm = any(_foldable(leaf) for leaf in leaves)
            layers = list(fold_batch_norm(module)) if has_norm else leaves
            self._ops = _compile(layers)
            self.rows = ROW_BLOCK
            linears = [layer for layer in layers if type(layer) is nn.Linear]
            self._macs_per_row = sum(linear.in_features * linear.out_features for linear in linears)
            self.blockwise = not _rows_independent(linears)

    def is_current(self, module: nn.Module) -> bool:
        """Whether ``module`` is still the network this was built from, unchanged."""
        if module is not self.module:
            return False
        for container, children in zip(self._containers, self._children, strict=True):
            if not _same(tuple(container._modules.values()), children):
                return False
        for leaf, tensors in zip(self._leaves, self._own, strict=True):
            if not _same(tuple(_own_tensors(leaf)), tensors):
                return False
        return all(
            t._version == version and t.data_ptr() == pointer
            for t, (version, pointer) in zip(self._tensors, self._versions, strict=True)
        )

    def __call__(self, X: torch.Tensor) -> torch.Tensor:
        """Outputs of the network for the rows of ``X`` (run under inference mode).

        Each row's output has the same bits whatever else is in ``X``: the rows
        are padded with zeros to a multiple of :attr:`rows`, and, unless every
        product was found to be row-independent on this machine
        (:func:`~skdnn.training.row_invariance.rows_independent`), run in
        blocks of exactly :attr:`rows` rows.
        """
        n_rows = X.shape[0]
        with torch.inference_mode():
            padded = pad_rows(X, self.rows) if n_rows else X.new_zeros((self.rows, *X.shape[1:]))
            if self.blockwise:
                outputs = torch.cat([self._run(block) for block in padded.split(self.rows)])
            else:
                small = padded.shape[0] * self._macs_per_row < SERIAL_MAX_MACS
                with one_thread(small and X.device.type == "cpu"):
                    outputs = self._run(padded)
            return outputs if outputs.shape[0] == n_rows else outputs[:n_rows]

    def _run(self, X: torch.Tensor) -> torch.Tensor:
        if self._ops is None:  # an arbitrary module: on one thread, block by block
            with one_thread():
                return self.module(X)
        h = X
        for op in self._ops:
            h = op(h)
        return h


def _same(now: tuple, before: tuple) -> bool:
    return len(now) == len(before) and all(a is b for a, b in zip(now, before, strict=True))


def _own_tensors(module: nn.Module) -> list[torch.Tensor]:
    return [t for t in (*module._parameters.values(), *module._buffers.values()) if t is not None]


def _compile(layers: list[nn.Module]) -> list[Callable[[torch.Tensor], torch.Tensor]]:
    """Turn the layers into callables; a Linear followed by a ReLU becomes one fused product.

    Element-wise layers with vectorized transcendental formulas (ELU, logistic,
    ...) run through :class:`~skdnn.training.row_invariance.Elementwise`.
    """
    ops: list[Callable[[torch.Tensor], torch.Tensor]] = []
    index = 0
    layers = [layer for layer in layers if not isinstance(layer, _EVAL_IDENTITY)]
    while index < len(layers):
        layer = layers[index]
        if type(layer) is nn.Linear:
            relu = index + 1 < len(layers) and type(layers[index + 1]) is nn.ReLU
            ops.append(_linear_op(layer, relu))
            index += 2 if relu else 1
        else:
            ops.append(Elementwise(layer) if is_elementwise(layer) else layer)
            index += 1
    return ops


def _linear_op(layer: nn.Linear, relu: bool) -> Callable[[torch.Tensor], torch.Tensor]:
    """The layer on its fastest kernels, the same for any number of rows."""
    weight, bias = layer.weight, layer.bias
    fast: Any = kernels_for(weight)
    fast_op = fast.linear_relu if relu else fast.linear
    aten_op = AtenKernels.linear_relu if relu else AtenKernels.linear
    if fast is AtenKernels:
        return lambda x: aten_op(x, weight, bias)

    def op(x: torch.Tensor) -> torch.Tensor:
        return (fast_op if x.dtype == weight.dtype else aten_op)(x, weight, bias)

    return op


def _rows_independent(linears: list[nn.Linear]) -> bool:
    """Whether every layer's product gives each row the same bits in any multiple of a block."""
    return all(
        rows_independent(
            kernels_for(linear.weight),
            linear.in_features,
            linear.out_features,
            linear.weight.dtype,
            linear.weight.device,
        )
        for linear in linears
    )
