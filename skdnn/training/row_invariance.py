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
  differ by an ulp. :class:`Elementwise` runs such a layer on one thread over
  the tensor's elements padded to a whole number of vector groups, so every
  element of a real row is computed by the vector formula.
* **Threads.** Small calls (a few rows) run on one thread, which is faster
  than starting a team; the self-check compares those with multi-threaded
  large calls too.

Plain torch; no scikit-learn.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterator

import torch
from torch import nn

from skdnn.training.gemm import Kernels

#: Rows of a block: every product runs on a multiple of this many rows.
ROW_BLOCK = 4
#: Elements processed together by torch's vectorized element-wise loops, for
#: every dtype and instruction set torch supports (2 vectors of 32 bfloat16).
VECTOR_GROUP = 64
#: Calls of fewer multiply-adds than this run on one thread.
SERIAL_MAX_MACS = 1 << 21
#: Layers computed with exact arithmetic: same bits on any code path.
_EXACT = (nn.ReLU, nn.LeakyReLU, nn.PReLU, nn.ReLU6, nn.Hardtanh, nn.Identity)
#: Element-wise layers computed by vectorized loops with a scalar tail.
_ELEMENTWISE = (
    nn.ELU, nn.SELU, nn.CELU, nn.Sigmoid, nn.Tanh, nn.GELU, nn.SiLU, nn.Mish, nn.Softplus,
    nn.RReLU, nn.LogSigmoid, nn.Softsign, nn.Tanhshrink, nn.Hardswish, nn.Hardsigmoid,
)
#: Rows of the self-check; a multiple of ROW_BLOCK, large enough for blocked kernels.
_CHECK_ROWS = 128 * ROW_BLOCK


def is_exact(layer: nn.Module) -> bool:
    """Whether ``layer`` gives each element the same bits whatever the tensor's size."""
    return isinstance(layer, _EXACT)


def is_elementwise(layer: nn.Module) -> bool:
    """Whether ``layer`` is an element-wise function computed by torch's vectorized loops."""
    return isinstance(layer, _ELEMENTWISE)


@contextlib.contextmanager
def one_thread(on: bool = True) -> Iterator[None]:
    """Run the block on one torch thread (when ``on`` and torch uses more)."""
    threads = torch.get_num_threads()
    if not on or threads == 1:
        yield
        return
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


class Elementwise:
    """An element-wise layer applied so that every real element takes the vector formula.

    The tensor's elements are padded with zeros to a whole number of vector
    groups and, on CPU, processed on one thread (so there is a single share,
    whose scalar tail falls in the padding).

    Parameters
    ----------
    layer : torch.nn.Module
        An element-wise layer (:func:`is_elementwise`).
    """

    def __init__(self, layer: nn.Module) -> None:
        self.layer = layer

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """``layer(x)``, bit for bit the same per element whatever the size of ``x``."""
        if x.device.type != "cpu":
            return self.layer(x)
        flat = x.reshape(-1)
        size = flat.numel()
        missing = -size % VECTOR_GROUP
        if missing:
            flat = torch.cat([flat, flat.new_zeros(missing)])
        with one_thread(size > VECTOR_GROUP):
            out = self.layer(flat)
        return (out[:size] if missing else out).view(x.shape)


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
    a random layer's product over 512 rows (on all threads) is compared, bit
    for bit, with the products of its first block and of its first three
    blocks (on one thread, as small calls run) and of its rows in another order.

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
            with one_thread(device.type == "cpu"):
                block = linear(X[:ROW_BLOCK])
                blocks = linear(X[: 3 * ROW_BLOCK])
            return (
                torch.equal(block, everything[:ROW_BLOCK])
                and torch.equal(blocks, everything[: 3 * ROW_BLOCK])
                and torch.equal(linear(X[order]), everything[order])
            )
    except (RuntimeError, TypeError, NotImplementedError):
        return False
