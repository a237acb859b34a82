"""Making a row's prediction independent of the other rows in the call.

Two things make float32 outputs of the same network differ, by an ulp or so,
for the same row predicted in calls of different sizes:

* **Matrix products.** BLAS libraries pick kernels by shape: a single row goes
  through a matrix-vector kernel that sums in another order than the blocked
  matrix-matrix kernel used for many rows. :func:`rows_independent` checks, once
  per process and shape, that a layer's product gives each row the same bits
  for any number of rows that is a multiple of a block; when it does not (on
  GPUs, whose libraries choose algorithms by size, for one), the caller runs
  fixed-shape blocks instead.
* **Element-wise functions.** torch evaluates ``exp``, ``tanh``, ... with vector
  instructions in groups of elements and with a scalar formula for the
  leftover ones at the end of each thread's share of the tensor; the two can
  differ by an ulp. :func:`aligned_rows` says how many rows make every layer's
  element count a whole number of groups, and :class:`Serial` runs a layer on
  one thread, so that there is only one share and every element of a real row
  is computed by the vector formula.

Plain torch; no scikit-learn.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterable

import torch
from torch import nn

from skdnn.training.gemm import Kernels

#: Rows of a block: every product runs on a multiple of this many rows.
ROW_BLOCK = 8
#: Elements processed together by torch's vectorized element-wise loops, for
#: every dtype and instruction set torch supports (2 vectors of 32 bfloat16).
_VECTOR_GROUP = 64
#: torch splits element-wise work over threads only above this many elements.
_PARALLEL_MIN_ELEMENTS = 32768
#: Layers computed with exact arithmetic: same bits on any code path.
_EXACT = (nn.ReLU, nn.LeakyReLU, nn.PReLU, nn.ReLU6, nn.Hardtanh, nn.Identity)
#: Rows of the self-check; a multiple of ROW_BLOCK, large enough for blocked kernels.
_CHECK_ROWS = 64 * ROW_BLOCK


def is_exact(layer: nn.Module) -> bool:
    """Whether ``layer`` gives each element the same bits whatever the tensor's size."""
    return isinstance(layer, _EXACT)


def aligned_rows(widths: Iterable[int]) -> int:
    """The row multiple that makes ``rows * width`` a whole number of vector groups.

    Parameters
    ----------
    widths : iterable of int
        Feature counts of the tensors that go through inexact element-wise layers.

    Returns
    -------
    int
        The least multiple of :data:`ROW_BLOCK` such that every ``width`` times
        it is a multiple of the vector group (64 elements).
    """
    rows = ROW_BLOCK
    for width in widths:
        rows = math.lcm(rows, _VECTOR_GROUP // math.gcd(width, _VECTOR_GROUP))
    return rows


class Serial:
    """Run an element-wise layer on one thread when torch would split it over several.

    Parameters
    ----------
    layer : torch.nn.Module
        An element-wise layer (activation, layer norm, ...).
    """

    def __init__(self, layer: nn.Module) -> None:
        self.layer = layer

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """``layer(x)``, on one thread if ``x`` is large enough to be split."""
        if x.device.type != "cpu" or x.numel() <= _PARALLEL_MIN_ELEMENTS:
            return self.layer(x)
        threads = torch.get_num_threads()
        if threads == 1:
            return self.layer(x)
        torch.set_num_threads(1)
        try:
            return self.layer(x)
        finally:
            torch.set_num_threads(threads)


def pad_rows(X: torch.Tensor, multiple: int) -> torch.Tensor:
    """``X`` with zero rows appended up to a multiple of ``multiple`` rows (``X`` if none)."""
    missing = -X.shape[0] % multiple
    if not missing:
        return X
    return torch.cat([X, X.new_zeros((missing, *X.shape[1:]))])


def rows_independent(
    kernels: Kernels, in_features: int, out_features: int, dtype: torch.dtype, device: torch.device
) -> bool:
    """Whether ``kernels.linear`` gives every row the same bits in any multiple of a block.

    Checked once per process for each shape, dtype, device and thread count:
    a random layer's product over 512 rows is compared, bit for bit, with the
    products of its first block, of its first three blocks and of its rows in
    another order.

    Parameters
    ----------
    kernels : type
        :class:`~skdnn.training.gemm.AtenKernels` or ``OneDNNKernels``.
    in_features, out_features : int
        The layer's shape.
    dtype, device : torch.dtype, torch.device
        Of the layer's weights.

    Returns
    -------
    bool
        True when the rows are independent; False (and on any error) otherwise.
    """
    return _rows_independent(
        kernels, in_features, out_features, dtype, device, torch.get_num_threads()
    )


@functools.cache
def _rows_independent(
    kernels: Kernels,
    in_features: int,
    out_features: int,
    dtype: torch.dtype,
    device: torch.device,
    threads: int,
) -> bool:
    generator = torch.Generator().manual_seed(0)

    def draw(*shape: int) -> torch.Tensor:
        return torch.randn(*shape, generator=generator).to(dtype=dtype, device=device)

    W, b, X = draw(out_features, in_features), draw(out_features), draw(_CHECK_ROWS, in_features)
    order = torch.randperm(_CHECK_ROWS, generator=generator).to(device)

    def linear(x: torch.Tensor) -> torch.Tensor:
        return kernels.linear(x, W, b)

    try:
        with torch.inference_mode():
            everything = linear(X)
            return (
                torch.equal(linear(X[:ROW_BLOCK]), everything[:ROW_BLOCK])
                and torch.equal(linear(X[: 3 * ROW_BLOCK]), everything[: 3 * ROW_BLOCK])
                and torch.equal(linear(X[order]), everything[order])
            )
    except (RuntimeError, TypeError, NotImplementedError):
        return False
