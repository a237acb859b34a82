"""Prediction-time copies of trained networks: batch norm folded away, fast kernels, cached.

:class:`InferenceNetwork` runs a trained network with batch norm folded into its
Linear layers (:mod:`~skdnn.training.batch_norm_folding`) with fast kernels for
its weights (:class:`~skdnn.training.row_invariance.Product`: BLAS products
with short sums on the CPU), the same for every call, so that a row's outputs
have the same bits whatever else is in the call
(:mod:`~skdnn.training.row_invariance`), and
:meth:`InferenceNetwork.is_current` says whether it still matches the network
it was built from (same layers, same parameters, untouched since), so that an
estimator can cache one and rebuild it only after training changed the weights.

Plain torch; no scikit-learn.
"""

from __future__ import annotations

import itertools
import math
import operator
from collections.abc import Callable

import torch
from torch import nn

from skdnn.training.batch_norm_folding import (
    BATCH_NORMS,
    collect_chain,
    fold_batch_norm,
    foldable,
    is_eval_identity,
)
from skdnn.training.elementwise import (
    VECTOR_GROUP,
    Elementwise,
    is_elementwise,
    is_exact,
    on_one_thread,
    one_thread,
)
from skdnn.training.row_invariance import SERIAL_MAX_MACS, Product, pad_rows

#: Rows of the blocks of a network that is not a plain chain: any width times
#: it is a whole number of vector groups (see :mod:`~skdnn.training.elementwise`).
_ARBITRARY_MODULE_ROWS = VECTOR_GROUP
#: Calls may be padded to more rows than the products need, so that
#: activations run on whole vector groups, up to this many multiply-adds.
_ALIGNED_CALL_MAX_MACS = 1 << 20


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
        #: The dtype inputs are cast to (the first parameter's; None: kept).
        self.dtype = None if first is None else first.dtype
        containers: list[nn.Module] = []
        leaves: list[nn.Module] = []
        # A chain runs op by op only when every layer is one whose rows are known
        # to be independent; any other layer (an ensemble's, say) makes it run
        # as one module on fixed blocks of rows.
        plain = collect_chain(module, leaves, containers) and all(map(_row_wise, leaves))
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
            has_norm = any(foldable(leaf) for leaf in leaves)
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
        :data:`~skdnn.training.elementwise.VECTOR_GROUP` rows.
        """
        if self.dtype is not None and X.dtype != self.dtype:  # float32 data, float64 weights
            X = X.to(self.dtype)
        if self._ops is None:
            return self._run_module(X)
        n_rows = X.shape[0]
        # The ops hold detached weights and run parameterized layers without
        # grad: no autograd context to enter (which costs more than a product).
        h = X.detach() if X.requires_grad else X
        if n_rows % self._rows or not n_rows:  # every product runs on a multiple of its block
            h = pad_rows(h, self._rows) if n_rows else h.new_zeros((self._rows, *h.shape[1:]))
        if h.is_cpu and h.shape[0] * self._macs_per_row < SERIAL_MAX_MACS:
            h = on_one_thread(self._run_ops, h)
        else:
            h = self._run_ops(h)
        return h if h.shape[0] == n_rows else h[:n_rows]

    def _run_ops(self, h: torch.Tensor) -> torch.Tensor:
        for op in self._ops:
            h = op(h)
        return h

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
        or type(layer) in BATCH_NORMS
        or type(layer) is nn.LayerNorm
        or is_elementwise(layer)
        or is_exact(layer)
        or is_eval_identity(layer)
    )


def _steps(layers: list[nn.Module]) -> list[Product | nn.Module]:
    """The layers with each Linear (and a ReLU after it) replaced by its :class:`Product`."""
    steps: list[Product | nn.Module] = []
    layers = [layer for layer in layers if not is_eval_identity(layer)]
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
    of padding its outputs, :class:`~skdnn.training.elementwise.Elementwise`),
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
    :class:`~skdnn.training.elementwise.Elementwise`; other layers by their
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
