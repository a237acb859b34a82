"""Making a row's prediction independent of the other rows in the call.

Three things make float32 outputs of the same network differ, by an ulp or so,
for the same row predicted in calls of different sizes:

* **Matrix products.** BLAS libraries pick kernels by shape: a single row goes
  through a matrix-vector kernel that sums in another order than the blocked
  matrix-matrix kernel used for many rows, and long sums are cut into blocks
  whose length depends on the number of rows. :class:`Product` runs each
  Linear layer on kernels that :func:`rows_independent` has checked, once per
  process and shape, to give every row the same bits in any multiple of a
  block of rows (2 here: BLAS products with short sums,
  :class:`SplitSumKernels`); where none does (on GPUs, whose libraries choose
  algorithms by size, for one), it runs fixed-shape blocks instead.
* **Element-wise functions.** torch evaluates ``exp``, ``tanh``, ... with vector
  instructions in groups of elements and with a scalar formula for the
  leftover ones at the end of each thread's share of the tensor; the two can
  differ by an ulp. :class:`~skdnn.training.elementwise.Elementwise` pads such
  a layer's input so that every share is a whole number of vector groups.
* **Threads.** Small calls (a few rows) run on one thread, which is faster
  than starting a team; the self-check compares those with multi-threaded
  large calls too. A BLAS library that splits a product's sum between threads
  fails the check; small layers then run on one thread only (``serial``).

Plain torch; no scikit-learn.
"""

from __future__ import annotations

import functools

import torch
from torch import nn

from skdnn.training.elementwise import (
    VECTOR_GROUP,
    Elementwise,
    is_elementwise,
    on_one_thread,
    one_thread,
)
from skdnn.training.gemm import Kernels, kernels_for

#: Rows of a block: every product runs on a multiple of this many rows.
ROW_BLOCK = 4
#: Blocks tried for the fast kernels of a product, smallest first (one row often
#: takes a matrix-vector kernel of its own; oneDNN's products agree from two rows on).
_BLOCKS = (2, ROW_BLOCK)
#: Longest sum (inputs of a Linear layer) that :class:`SplitSumKernels` leaves to one BLAS call.
SUM_CHUNK = 512
#: Calls of fewer multiply-adds than this run on one thread.
SERIAL_MAX_MACS = 1 << 21
#: Linear layers of at most this many multiply-adds per row may run on one thread
#: (see :class:`Product`).
SERIAL_LAYER_MACS = 1 << 15
#: Rows of the self-check; a multiple of every block, large enough for blocked kernels.
_CHECK_ROWS = 512


def pad_rows(X: torch.Tensor, multiple: int) -> torch.Tensor:
    """``X`` with zero rows appended up to a multiple of ``multiple`` rows (``X`` if none)."""
    missing = -X.shape[0] % multiple
    if not missing:
        return X
    return torch.cat([X, X.new_zeros((missing, *X.shape[1:]))])


def rows_independent(
    kernels: ProductKernels,
    in_features: int,
    out_features: int,
    dtype: torch.dtype,
    device: torch.device,
    *,
    block: int = ROW_BLOCK,
    serial: bool = False,
) -> bool:
    """Whether ``kernels.linear`` gives every row the same bits in any multiple of a block.

    Checked once per process for each shape, dtype, device, block, thread
    count and ``serial``, with the weights as the kernels prepare them for a
    block (``kernels.prepare``): a random layer's product over 512 rows (on all
    threads, or on one when ``serial``) is compared, bit for bit, with the
    products of its first block and of its first three blocks (on one thread,
    as small calls run) and of its rows in another order.

    Parameters
    ----------
    kernels : type
        :class:`SplitSumKernels`, or kernels of :mod:`~skdnn.training.gemm`.
    in_features, out_features : int
        The layer's shape.
    dtype, device : torch.dtype, torch.device
        Of the layer's weights.
    block : int
        Rows of a block; :data:`_CHECK_ROWS` must be a multiple of it.
    serial : bool
        Whether the product always runs on one thread.

    Returns
    -------
    bool
        True when the rows are independent; False (and on any error) otherwise.
    """
    threads = 1 if serial else torch.get_num_threads()
    return _rows_independent(kernels, in_features, out_features, dtype, device, block, threads)


@functools.cache
def _rows_independent(
    kernels: ProductKernels,
    in_features: int,
    out_features: int,
    dtype: torch.dtype,
    device: torch.device,
    block: int,
    threads: int,
) -> bool:
    generator = torch.Generator().manual_seed(0)

    def draw(*shape: int) -> torch.Tensor:
        return torch.randn(*shape, generator=generator).to(dtype=dtype, device=device)

    W, b, X = draw(out_features, in_features), draw(out_features), draw(_CHECK_ROWS, in_features)
    order = torch.randperm(_CHECK_ROWS, generator=generator).to(device)

    def linear(x: torch.Tensor) -> torch.Tensor:
        return kernels.linear(x, prepared, b)

    try:
        prepared = kernels.prepare(W, block)
        with torch.inference_mode(), one_thread(threads == 1 and device.type == "cpu"):
            everything = linear(X)
            shuffled = linear(X[order])
            with one_thread(device.type == "cpu"):
                first = linear(X[:block])
                firsts = linear(X[: 3 * block])
            return (
                torch.equal(first, everything[:block])
                and torch.equal(firsts, everything[: 3 * block])
                and torch.equal(shuffled, everything[order])
            )
    except (RuntimeError, TypeError, NotImplementedError):
        return False


#: What :meth:`SplitSumKernels.prepare` returns: slices of ``W.T``, each with
#: the input columns it multiplies (None: all of them).
SplitWeights = tuple[tuple[slice | None, torch.Tensor], ...]


class SplitSumKernels:
    """``x @ W.T + b`` as BLAS products over slices of at most :data:`SUM_CHUNK` inputs.

    The weights are kept transposed and contiguous (``W.T`` as a ``(K, N)``
    matrix), cut along the summed dimension into equal slices of at most
    :data:`SUM_CHUNK` rows; the product adds the slices' products into the
    output one after the other (``addmm_``). MKL sums a long dot product in
    blocks whose length it picks by the number of rows (784 terms: other bits
    for 100 rows than for 1,000), and reads transposed views with kernels that
    change at 16 rows; on contiguous weights and sums of a few hundred terms it
    gives each row the same bits from two rows on (one row takes a
    matrix-vector kernel), which :func:`rows_independent` checks. One BLAS call
    on two rows costs a few microseconds, where oneDNN's costs about twenty.
    """

    name = "aten-split"

    @staticmethod
    def prepare(W: torch.Tensor, rows: int) -> SplitWeights:
        """``W.T`` in contiguous slices of the summed dimension, each with its input columns.

        ``rows`` is unused (the layout is the same for any number of rows). The
        columns are None when one slice holds them all. The slices are copies:
        they do not follow later changes of ``W``.
        """
        with torch.no_grad():
            transposed = W.detach().t().contiguous()
        n_inputs = transposed.shape[0]
        size = -(-n_inputs // -(-n_inputs // SUM_CHUNK))  # equal slices of <= SUM_CHUNK
        if size >= n_inputs:
            return ((None, transposed),)
        return tuple(
            (slice(start, start + size), transposed[start : start + size])
            for start in range(0, n_inputs, size)
        )

    @staticmethod
    def linear(x: torch.Tensor, prepared: SplitWeights, b: torch.Tensor | None) -> torch.Tensor:
        (columns, weights), *rest = prepared
        first = x if columns is None else x[:, columns]
        out = torch.mm(first, weights) if b is None else torch.addmm(b, first, weights)
        for columns, weights in rest:
            out.addmm_(x[:, columns], weights)
        return out

    @staticmethod
    def linear_relu(
        x: torch.Tensor, prepared: SplitWeights, b: torch.Tensor | None
    ) -> torch.Tensor:
        return torch.relu_(SplitSumKernels.linear(x, prepared, b))


#: Kernels that :class:`Product` may use, with what ``prepare`` returns for them.
ProductKernels = Kernels | type[SplitSumKernels]


class Product:
    """A Linear layer (and its activation) computed so that each row's bits are its own.

    The kernels are the first of these that the self-check
    (:func:`rows_independent`) finds row-independent for the layer's shape on
    this machine and thread count, with the number of rows that every call
    must be a multiple of (:attr:`rows`):

    1. on the CPU, BLAS products with short sums (:class:`SplitSumKernels`),
       on 2 rows: on all threads, or (for layers of at most
       :data:`SERIAL_LAYER_MACS` multiply-adds per row) on one thread only
       (:attr:`serial`);
    2. the fastest kernels for the weights
       (:func:`~skdnn.training.gemm.kernels_for`: oneDNN for float32 on the
       CPU) on 2 rows, then on :data:`ROW_BLOCK` rows;
    3. those kernels in separate blocks of exactly :data:`ROW_BLOCK` rows
       (:attr:`blockwise`), which every kernel satisfies.

    A ReLU after the layer is fused into the product; another element-wise
    activation (:func:`is_elementwise`) is applied to the product's output by
    :meth:`then` (as :class:`~skdnn.training.elementwise.Elementwise` applies
    it) when every output has a whole number of vector groups (:meth:`aligned`).

    Parameters
    ----------
    layer : torch.nn.Linear
        The layer. Its weights are used in the layout the kernels prefer
        (``kernels.prepare``: a copy), which does not follow later changes of
        the layer: build a new product then.
    relu : bool
        Whether a ReLU follows and is fused into the product.
    """

    def __init__(self, layer: nn.Linear, relu: bool) -> None:
        # Detached views: they share the parameters' storage and version counters.
        self.weight = layer.weight.detach()
        self.bias = None if layer.bias is None else layer.bias.detach()
        self.in_features, self.out_features = layer.in_features, layer.out_features
        shape = (self.in_features, self.out_features, self.weight.dtype, self.weight.device)
        macs = self.in_features * self.out_features
        fast = kernels_for(self.weight)
        candidates: list[tuple[ProductKernels, int, bool]] = [
            (fast, block, False) for block in _BLOCKS
        ]
        if self.weight.device.type == "cpu":
            blas = [(SplitSumKernels, 2, False)]
            if macs <= SERIAL_LAYER_MACS:
                blas.append((SplitSumKernels, 2, True))
            candidates = blas + candidates
        chosen = next(
            (c for c in candidates if rows_independent(c[0], *shape, block=c[1], serial=c[2])),
            None,
        )
        #: Whether calls run block by block, each block exactly ``rows`` rows.
        self.blockwise = chosen is None
        self.kernels: ProductKernels
        #: Calls run on a multiple of this many rows.
        self.rows: int
        #: Whether the product always runs on one thread.
        self.serial: bool
        self.kernels, self.rows, self.serial = chosen or (fast, ROW_BLOCK, False)
        self._relu = relu
        self._fast = self.kernels.linear_relu if relu else self.kernels.linear
        self._prepared = self.kernels.prepare(self.weight, self.rows)
        self._activation: Elementwise | None = None

    def aligned(self, rows: int) -> bool:
        """Whether the outputs of ``rows`` rows are a whole number of vector groups (or on GPU)."""
        return self.weight.device.type != "cpu" or rows * self.out_features % VECTOR_GROUP == 0

    def then(self, activation: nn.Module, rows: int) -> bool:
        """Apply the element-wise ``activation`` to the outputs, if calls of ``rows`` rows allow.

        Returns whether it does: when the product has no activation yet and
        :meth:`aligned` holds for ``rows`` (calls must then be multiples of it).
        """
        if self._relu or self._activation is not None or not (
            is_elementwise(activation) and self.aligned(rows)
        ):
            return False
        self._activation = Elementwise(activation)
        return True

    def __call__(self, h: torch.Tensor) -> torch.Tensor:
        """The product for the rows of ``h``, a multiple of :attr:`rows` rows."""
        if h.dtype != self.weight.dtype:  # a layer of another dtype than the one before
            h = h.to(self.weight.dtype)
        if self.serial:
            out = on_one_thread(self._fast, h, self._prepared, self.bias)
        elif self.blockwise:
            out = torch.cat([self._fast(b, self._prepared, self.bias) for b in h.split(self.rows)])
        else:
            out = self._fast(h, self._prepared, self.bias)
        return out if self._activation is None else self._activation(out)
