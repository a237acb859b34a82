"""The three matrix products of a dense layer, on the fastest float32 kernels torch has.

``torch.mm``/``torch.addmm`` call the BLAS torch was built with (MKL on x86).
torch also ships oneDNN, reachable for plain float32 tensors through
``torch.ops.mkldnn._linear_pointwise`` (the kernel torch's own compiler uses
for CPU linear layers). Where MKL takes a generic code path -- on AMD CPUs,
for instance, it runs AVX2 kernels where oneDNN runs AVX-512 ones -- oneDNN is
about twice as fast on the shapes of an MLP's training step.

:func:`kernels_for` picks the oneDNN kernels for float32 CPU tensors when that
operator exists and passes a numerical self-check (once per process, see
:mod:`~skdnn.training.fast_paths`), and ``torch.mm`` otherwise.
Both compute in full float32 (oneDNN follows ``torch.backends.mkldnn``'s
precision settings, full precision unless the user lowers it); results differ
from each other by float rounding only.
"""

from __future__ import annotations

import functools

import torch

from skdnn.training import fast_paths


class AtenKernels:
    """``x @ W.T + b``, ``g.T @ h`` and ``g @ W`` with ``torch.addmm``/``torch.mm``."""

    name = "aten"

    @staticmethod
    def linear(x: torch.Tensor, W: torch.Tensor, b: torch.Tensor | None) -> torch.Tensor:
        return torch.mm(x, W.t()) if b is None else torch.addmm(b, x, W.t())

    @staticmethod
    def linear_relu(x: torch.Tensor, W: torch.Tensor, b: torch.Tensor | None) -> torch.Tensor:
        return torch.relu_(AtenKernels.linear(x, W, b))

    @staticmethod
    def weight_grad(g: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        return torch.mm(g.t(), h)

    @staticmethod
    def input_grad(g: torch.Tensor, W: torch.Tensor) -> torch.Tensor:
        return torch.mm(g, W)

    @staticmethod
    def prepare(W: torch.Tensor, rows: int) -> torch.Tensor:
        """``W`` as :meth:`linear` reads it fastest for ``rows``-row inputs: as it is."""
        return W


class OneDNNKernels:
    """The same products with oneDNN's linear primitive (float32 CPU tensors only)."""

    name = "onednn"

    @staticmethod
    def linear(x: torch.Tensor, W: torch.Tensor, b: torch.Tensor | None) -> torch.Tensor:
        return _onednn_linear()(x, W, b, "none", [], "")

    @staticmethod
    def linear_relu(x: torch.Tensor, W: torch.Tensor, b: torch.Tensor | None) -> torch.Tensor:
        return _onednn_linear()(x, W, b, "relu", [], "")

    @staticmethod
    def weight_grad(g: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        # g.T @ h == linear(g.T, weight=h.T); oneDNN reads the transposed views in place.
        return _onednn_linear()(g.t(), h.t(), None, "none", [], "")

    @staticmethod
    def input_grad(g: torch.Tensor, W: torch.Tensor) -> torch.Tensor:
        return _onednn_linear()(g, W.t(), None, "none", [], "")

    @staticmethod
    def prepare(W: torch.Tensor, rows: int) -> torch.Tensor:
        """A copy of ``W`` in oneDNN's blocked layout for ``rows``-row inputs, for :meth:`linear`.

        Products of a few rows then skip reordering the weights at every call
        (half the time of a 784 x 300 layer on 4 rows). ``W`` itself where
        torch has no such operator. The copy does not follow later changes of ``W``.
        """
        reorder = _onednn_reorder()
        if reorder is None:
            return W
        with torch.no_grad():
            return reorder(W.detach(), rows)


Kernels = type[AtenKernels] | type[OneDNNKernels]


def kernels_for(tensor: torch.Tensor) -> Kernels:
    """The faster kernels usable for tensors like ``tensor`` (dtype and device)."""
    if tensor.device.type == "cpu" and tensor.dtype == torch.float32 and onednn_available():
        return OneDNNKernels
    return AtenKernels


FAST_PATH = "onednn_linear"


def onednn_available() -> bool:
    """Whether oneDNN's linear operator exists here, may be used and agrees with ``torch.mm``.

    The agreement is checked once per process (:mod:`~skdnn.training.fast_paths`);
    a failed check warns once and leaves ``torch.mm`` in use.
    """
    if _onednn_linear() is None or not torch.backends.mkldnn.is_available():
        return False
    return fast_paths.enabled(FAST_PATH)


def _agrees_with_mm() -> bool:
    """The four products (and prepared weights) on a small problem, oneDNN against ``torch.mm``."""
    generator = torch.Generator().manual_seed(0)
    x = torch.rand(5, 7, generator=generator)
    W = torch.rand(3, 7, generator=generator)
    b = torch.rand(3, generator=generator)
    g = torch.rand(5, 3, generator=generator)
    checks = [
        (OneDNNKernels.linear(x, W, b), AtenKernels.linear(x, W, b)),
        (OneDNNKernels.linear(x, OneDNNKernels.prepare(W, 4), b), AtenKernels.linear(x, W, b)),
        (OneDNNKernels.linear_relu(x, W - 0.5, b), AtenKernels.linear_relu(x, W - 0.5, b)),
        (OneDNNKernels.weight_grad(g, x), AtenKernels.weight_grad(g, x)),
        (OneDNNKernels.input_grad(g, W), AtenKernels.input_grad(g, W)),
    ]
    return all(
        got.shape == want.shape and torch.allclose(got, want, rtol=1e-5, atol=1e-6)
        for got, want in checks
    )


fast_paths.register(
    FAST_PATH,
    "float32 CPU products on oneDNN's torch.ops.mkldnn._linear_pointwise",
    _agrees_with_mm,
)


@functools.cache
def _onednn_linear():
    mkldnn = getattr(torch.ops, "mkldnn", None)
    try:
        return None if mkldnn is None else mkldnn._linear_pointwise
    except (AttributeError, RuntimeError):  # pragma: no cover - builds without oneDNN
        return None


@functools.cache
def _onednn_reorder():
    mkldnn = getattr(torch.ops, "mkldnn", None)
    try:
        return None if mkldnn is None else mkldnn._reorder_linear_weight
    except (AttributeError, RuntimeError):  # pragma: no cover - older torch
        return None
