"""Prediction-time copies of trained networks: batch norm folded away, fast kernels, cached.

In evaluation mode a batch-norm layer is a fixed affine map per feature,
``y = (x - mean) / sqrt(var + eps) * gamma + beta``, and dropout is the
identity. Next to a ``Linear`` layer both can disappear:
:func:`fold_batch_norm` multiplies the batch norm into the weights and bias of
the ``Linear`` before it (norm "before" the activation) or after it (norm
"after" the activation, or on the raw inputs), and drops the dropout layers.

:class:`InferenceNetwork` runs such a folded network with fast kernels for
its weights (``torch.addmm`` on one thread for small layers, oneDNN for other
float32 layers on CPU), the same for every call, so that a row's outputs have
the same bits whatever else is in the call
(:mod:`~skdnn.training.row_invariance`), and
:meth:`InferenceNetwork.is_current` says whether it still matches the network
it was built from (same layers, same parameters, untouched since), so that an
estimator can cache one and rebuild it only after training changed the weights.

Plain torch; no scikit-learn.
"""

from __future__ import annotations

import copy
import itertools
import math
import operator
from collections.abc import Callable

import torch
from torch import nn

from skdnn.components.normalization import KerasBatchNorm1d
from skdnn.training.freezing import FrozenPrefixSequential
from skdnn.training.row_invariance import (
    SERIAL_MAX_MACS,
    VECTOR_GROUP,
    Elementwise,
    Product,
    is_elementwise,
    is_exact,
    one_thread,
    pad_rows,
)

#: Batch-norm layers whose evaluation mode is ``BatchNorm1d``'s affine map.
_BATCH_NORMS = (nn.BatchNorm1d, KerasBatchNorm1d)
#: Layers that are the identity in evaluation mode.
_EVAL_IDENTITY = (nn.Dropout, nn.AlphaDropout, nn.FeatureAlphaDropout, nn.Identity)
#: Rows of the blocks of a network that is not a plain chain: any width times
#: it is a whole number of vector groups (see :mod:`~skdnn.training.row_invariance`).
_ARBITRARY_MODULE_ROWS = VECTOR_GROUP
#: Calls may be padded to more rows than the products need, so that
#: activations run on whole vector groups, up to this many multiply-adds.
_ALIGNED_CALL_MAX_MACS = 1 << 20


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
    layers = [copy.deepcopy(leaf) for leaf in leaves if not _is_identity(leaf)]
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
    dropped, and each ``Linear`` layer with its activation runs as one
    :class:`~skdnn.training.row_invariance.Product`. A network that is not a
    plain chain of such layers (linear, batch and layer norm, activations,
    dropout) is run as is, in evaluation mode, in blocks of a fixed number of
    rows.

    Parameters
    ----------
    module : torch.nn.Module
        The trained network, in evaluation mode.
    """

    def __init__(self, module: nn.Module) -> None:
        self.module = module
        first = next(iter(module.parameters()), None)
        self.device = torch.device("cpu") if first is None else first.device
        containers: list[nn.Module] = []
        leaves: list[nn.Module] = []
        # A chain runs op by op only when every layer is one whose rows are known
        # to be independent; any other layer (an ensemble's, say) makes it run
        # as one module on fixed blocks of rows.
        plain = _collect(module, leaves, containers) and all(map(_row_wise, leaves))
        # What "unchanged" means (is_current): the same containers holding the
        # same layers holding the same tensors, none modified in place since.
        tracked = (*containers, *leaves) if plain else tuple(module.modules())
        self._dicts = tuple(
            d for m in tracked for d in (m._modules, m._parameters, m._buffers)
        )
        self._entries = _entries(self._dicts)
        self._tensors = tuple(t for t in self._entries if isinstance(t, torch.Tensor))
        self._stamp = _stamp(self._tensors)
        self._ops: list[Callable[[torch.Tensor], torch.Tensor]] | None = None
        #: The products of the Linear layers (empty when the network is not a plain chain).
        self.products: list[Product] = []
        self._macs_per_row = 0
        #: Calls run on a multiple of this many rows (zero rows appended).
        self._rows = 1
        if plain:
            has_norm = any(_foldable(leaf) for leaf in leaves)
            layers = list(fold_batch_norm(module)) if has_norm else leaves
            steps = _steps(layers)
            self.products = [step for step in steps if isinstance(step, Product)]
            self._macs_per_row = sum(p.in_features * p.out_features for p in self.products)
            self._rows = _call_rows(steps, self._macs_per_row, self.device)
            self._ops = _compile(steps, self._rows)

    def is_current(self, module: nn.Module) -> bool:
        """Whether ``module`` is still the network this was built from, unchanged.

        Unchanged means: the same object, whose containers hold the same layers,
        whose layers hold the same parameter and buffer tensors, each with the
        same storage and not modified in place since (torch counts every
        in-place change of a tensor, optimizer steps and ``load_state_dict``
        included). A write through ``tensor.data`` is not counted by torch,
        and folded or prepacked copies of the weights would not see it: change
        weights in place under ``torch.no_grad()`` (or assign new tensors)
        rather than through ``.data``.
        The check costs a few microseconds: one look at each tensor.
        """
        if module is not self.module:
            return False
        entries = _entries(self._dicts)
        return (
            len(entries) == len(self._entries)
            and all(map(operator.is_, entries, self._entries))
            and _stamp(self._tensors) == self._stamp
        )

    def __call__(self, X: torch.Tensor) -> torch.Tensor:
        """Outputs of the network for the rows of ``X`` (never recorded by autograd).

        Each row's output has the same bits whatever else is in ``X``: each
        product runs on a multiple of its block of rows (zero rows appended),
        in blocks of exactly that many rows unless its kernel was found to be
        row-independent on this machine
        (:func:`~skdnn.training.row_invariance.rows_independent`). A network
        that is not a plain chain runs on one thread in blocks of
        :data:`~skdnn.training.row_invariance.VECTOR_GROUP` rows.
        """
        if self._ops is None:
            return self._run_module(X)
        n_rows = X.shape[0]
        # The ops hold detached weights and run parameterized layers without
        # grad: no autograd context to enter (which costs more than a product).
        h = X.detach() if X.requires_grad else X
        if n_rows % self._rows or not n_rows:  # every product runs on a multiple of its block
            h = pad_rows(h, self._rows) if n_rows else h.new_zeros((self._rows, *h.shape[1:]))
        threads = torch.get_num_threads()
        serial = threads > 1 and h.is_cpu and h.shape[0] * self._macs_per_row < SERIAL_MAX_MACS
        if serial:
            torch.set_num_threads(1)
        try:
            for op in self._ops:
                h = op(h)
        finally:
            if serial:
                torch.set_num_threads(threads)
        return h if h.shape[0] == n_rows else h[:n_rows]

    @torch.inference_mode()
    def _run_module(self, X: torch.Tensor) -> torch.Tensor:
        """An arbitrary module: on one thread, block by block."""
        n_rows = X.shape[0]
        padded = (
            pad_rows(X, _ARBITRARY_MODULE_ROWS)
            if n_rows
            else X.new_zeros((_ARBITRARY_MODULE_ROWS, *X.shape[1:]))
        )
        with one_thread():
            outputs = torch.cat(
                [self.module(block) for block in padded.split(_ARBITRARY_MODULE_ROWS)]
            )
        return outputs if outputs.shape[0] == n_rows else outputs[:n_rows]


def _entries(dicts: tuple[dict, ...]) -> tuple:
    return tuple(itertools.chain.from_iterable(map(dict.values, dicts)))


_version = operator.attrgetter("_version")


def _stamp(tensors: tuple[torch.Tensor, ...]) -> tuple:
    return tuple(map(_version, tensors)), tuple(map(torch.Tensor.data_ptr, tensors))


def _row_wise(layer: nn.Module) -> bool:
    """Whether ``layer`` is one that :func:`_compile` runs with each row's bits its own."""
    return (
        type(layer) is nn.Linear
        or type(layer) in _BATCH_NORMS
        or type(layer) is nn.LayerNorm
        or is_elementwise(layer)
        or is_exact(layer)
        or _is_identity(layer)
    )


def _is_identity(layer: nn.Module) -> bool:
    """Layers that are the identity in evaluation mode (an empty Sequential included)."""
    return isinstance(layer, _EVAL_IDENTITY) or (
        type(layer) is nn.Sequential and not layer._modules
    )


def _steps(layers: list[nn.Module]) -> list[Product | nn.Module]:
    """The layers with each Linear (and a ReLU after it) replaced by its :class:`Product`."""
    steps: list[Product | nn.Module] = []
    layers = [layer for layer in layers if not _is_identity(layer)]
    index = 0
    while index < len(layers):
        layer = layers[index]
        relu = index + 1 < len(layers) and type(layers[index + 1]) is nn.ReLU
        if type(layer) is nn.Linear:
            steps.append(Product(layer, relu=relu))
            index += 2 if relu else 1
        else:
            steps.append(layer)
            index += 1
    return steps


def _takes_activation(previous: Product | nn.Module | None, step: Product | nn.Module) -> bool:
    """Whether ``step`` is an element-wise layer that the product before it could apply."""
    return (
        isinstance(previous, Product)
        and not isinstance(step, Product)
        and is_elementwise(step)
        and not any(t.requires_grad for t in step.parameters())
    )


def _call_rows(steps: list[Product | nn.Module], macs_per_row: int, device: torch.device) -> int:
    """How many rows every call is padded to a multiple of.

    At least the products' blocks; on the CPU also as many as make each
    element-wise activation after a product a whole number of vector groups
    (16 rows for 100 units), so that the product applies it (one step instead
    of padding its outputs, :class:`~skdnn.training.row_invariance.Elementwise`),
    when such a call costs at most :data:`_ALIGNED_CALL_MAX_MACS` multiply-adds.
    """
    rows = math.lcm(*(step.rows for step in steps if isinstance(step, Product)))
    if device.type != "cpu":
        return rows
    widths = [
        previous.out_features
        for previous, step in itertools.pairwise(steps)
        if _takes_activation(previous, step)
    ]
    aligned = math.lcm(rows, *(VECTOR_GROUP // math.gcd(VECTOR_GROUP, w) for w in widths))
    return aligned if aligned * macs_per_row <= _ALIGNED_CALL_MAX_MACS else rows


def _compile(
    steps: list[Product | nn.Module], rows: int
) -> list[Callable[[torch.Tensor], torch.Tensor]]:
    """Turn the steps into callables of a batch of a multiple of ``rows`` rows.

    An element-wise activation after a product is applied by the product when
    the outputs of ``rows`` rows are a whole number of vector groups; other
    element-wise layers with vectorized transcendental formulas (ELU,
    logistic, ...) run through
    :class:`~skdnn.training.row_invariance.Elementwise`; other layers by their
    ``forward``.
    """
    ops: list[Callable[[torch.Tensor], torch.Tensor]] = []
    for previous, step in itertools.pairwise([None, *steps]):
        if isinstance(step, Product):
            ops.append(step)
            continue
        if _takes_activation(previous, step) and previous.then(step, rows):
            continue
        run = Elementwise(step) if is_elementwise(step) else step.forward
        if any(t.requires_grad for t in step.parameters()):
            run = torch.no_grad()(run)
        ops.append(run)
    return ops
