"""Element-wise layers computed with the same bits for an element whatever the tensor's size.

torch evaluates ``exp``, ``tanh``, ... with vector instructions on groups of
elements, and with a scalar formula for the leftover elements at the end of
each thread's share of the tensor; the two can differ by an ulp. So an
element's bits could depend on where it falls in the tensor, and a row's
prediction on the rows around it. :class:`Elementwise` pads the tensor's
elements with zeros so that every share is a whole number of vector groups
(:data:`VECTOR_GROUP`): no real element falls in a scalar tail. A tensor of up
to :data:`GRAIN` elements is one share (torch does not split it) and runs on
one thread; a larger one is padded for the shares torch's parallel loops cut it
into, ``min(threads, ceil(n / GRAIN))`` equal ones, when a self-check
(:func:`threads_agree`) finds the threaded results equal to one thread's on
this machine, and runs on one thread otherwise.

Plain torch; no scikit-learn.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterator
from typing import Any

import torch
from torch import nn

#: Elements processed together by torch's vectorized element-wise loops, for
#: every dtype and instruction set torch supports (2 vectors of 32 bfloat16).
VECTOR_GROUP = 64
#: Elements below which torch runs an element-wise operation without splitting
#: it between threads (``at::internal::GRAIN_SIZE``).
GRAIN = 32768
#: Layers computed with exact arithmetic: same bits on any code path.
_EXACT = (nn.ReLU, nn.LeakyReLU, nn.PReLU, nn.ReLU6, nn.Hardtanh, nn.Identity)
#: Element-wise layers computed by vectorized loops with a scalar tail.
_ELEMENTWISE = (
    nn.ELU, nn.SELU, nn.CELU, nn.Sigmoid, nn.Tanh, nn.GELU, nn.SiLU, nn.Mish, nn.Softplus,
    nn.RReLU, nn.LogSigmoid, nn.Softsign, nn.Tanhshrink, nn.Hardswish, nn.Hardsigmoid,
)


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


def on_threads(threads: int, function: Callable[..., Any], *args: Any) -> Any:
    """``function(*args)`` on ``threads`` torch threads (:func:`one_thread` at a lower cost)."""
    previous = torch.get_num_threads()
    if previous == threads:
        return function(*args)
    torch.set_num_threads(threads)
    try:
        return function(*args)
    finally:
        torch.set_num_threads(previous)


def on_one_thread(function: Callable[..., Any], *args: Any) -> Any:
    """``function(*args)`` on one torch thread (:func:`on_threads` with one frame less)."""
    threads = torch.get_num_threads()
    if threads == 1:
        return function(*args)
    return on_threads(1, function, *args)


def padded_size(size: int, shares: int) -> int:
    """``size`` rounded up so that each of ``shares`` equal shares is whole vector groups."""
    multiple = VECTOR_GROUP * shares
    return -(-size // multiple) * multiple


def shares(size: int, threads: int) -> int:
    """How many shares ``size`` elements, padded to whole vector groups per share, are cut into.

    torch's parallel loops give each of ``min(threads, ceil(n / GRAIN))``
    threads ``ceil(n / shares)`` elements of ``n`` (all of them to one when
    ``n < GRAIN``). Padding ``size`` (:func:`padded_size`) can raise the number
    of shares; this returns the fixed point.
    """
    count = 1
    while True:
        padded = padded_size(size, count)
        used = 1 if padded < GRAIN else min(threads, -(-padded // GRAIN))
        if used <= count:
            return count
        count = used


@functools.cache
def threads_agree(kind: type[nn.Module], dtype: torch.dtype, threads: int) -> bool:
    """Whether ``kind()`` on ``threads`` threads gives one thread's bits, on padded tensors.

    Checked once per process for each layer type, dtype and thread count, on
    tensors of a few shares padded as :class:`Elementwise` pads them.
    """
    generator = torch.Generator().manual_seed(0)
    try:
        layer = kind().eval()
        for size in (3 * GRAIN + 5, 7 * GRAIN + 1000):
            padded = padded_size(size, shares(size, threads))
            x = (torch.randn(padded, generator=generator) * 4).to(dtype)
            with torch.no_grad():
                threaded = on_threads(threads, layer, x)
                alone = on_one_thread(layer, x)
            if not torch.equal(threaded, alone):
                return False
        return True
    except (RuntimeError, TypeError):
        return False


class Elementwise:
    """An element-wise layer applied so that every real element takes the vector formula.

    The tensor's elements are padded with zeros so that each thread's share is
    a whole number of vector groups (see the module's description): on one
    thread up to :data:`GRAIN` elements, on torch's threads above (when
    :func:`threads_agree`).

    Parameters
    ----------
    layer : torch.nn.Module
        An element-wise layer (:func:`is_elementwise`).
    """

    def __init__(self, layer: nn.Module) -> None:
        self.layer = layer
        self._forward = layer.forward

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """``layer(x)``, bit for bit the same per element whatever the size of ``x``."""
        if x.device.type != "cpu":
            return self._forward(x)
        size = x.numel()
        threads = torch.get_num_threads()
        count = 1
        if threads > 1 and size >= GRAIN:
            count = shares(size, threads)
            if count > 1 and not threads_agree(type(self.layer), x.dtype, threads):
                count = 1
        missing = padded_size(size, count) - size
        flat = x
        if missing or not x.is_contiguous():  # a contiguous x is looped over as its flat view
            flat = x.reshape(-1)
            if missing:
                flat = torch.cat([flat, flat.new_zeros(missing)])
        out = self._forward(flat) if count > 1 else on_one_thread(self._forward, flat)
        if flat is x:
            return out
        return (out[:size] if missing else out).view(x.shape)
