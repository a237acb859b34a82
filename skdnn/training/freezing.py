"""Freeze the lower blocks of a network and compute their outputs once.

Plain torch, no scikit-learn. A network here is an ``nn.Sequential`` of blocks
(see :mod:`skdnn.network`). Freezing its first ``n`` blocks means two things:

* their parameters get ``requires_grad=False``, so no gradient reaches them
  and the optimizer leaves them alone;
* they stay in evaluation mode, also after ``network.train()``: batch norm
  normalizes with its running statistics and does not update them, dropout is
  off.

Frozen blocks are therefore a deterministic function of the inputs, and their
outputs can be computed once and reused in every epoch ("caching the frozen
layers"): :func:`run_blocks` computes them, and a :class:`FrozenPrefixSequential`
whose ``n_cached`` is set takes them as its inputs. :class:`FreezingRun` drives
both through one training run, unfreezing top blocks on schedule.
"""

from __future__ import annotations

import contextlib
import itertools
from collections import OrderedDict
from collections.abc import Iterator
from typing import Any

import torch
from torch import nn

from skdnn.training.data import Dataset
from skdnn.training.history import PROBE_ROWS, activation_health
from skdnn.training.setup import CallbackBase, TrainingRun

_BATCH_ROWS = 8192


class FrozenPrefixSequential(nn.Sequential):
    """An ``nn.Sequential`` whose first ``n_frozen`` blocks are frozen.

    Built like ``nn.Sequential``; nothing is frozen until :meth:`set_frozen`
    is called (slicing returns a container with nothing frozen, sharing the
    blocks).

    Parameters
    ----------
    *args : torch.nn.Module or OrderedDict
        The blocks, as for ``torch.nn.Sequential``.

    Attributes
    ----------
    n_frozen : int
        Number of leading frozen blocks: no gradient, and kept in eval mode by
        :meth:`train`.
    n_cached : int
        Number of leading blocks that :meth:`forward` skips: while it is
        positive, the inputs must be the outputs of block ``n_cached - 1``
        (computed once by :func:`run_blocks`). Set by :func:`reading_cache`,
        0 otherwise.
    """

    n_frozen: int = 0
    n_cached: int = 0

    def set_frozen(self, n_blocks: int) -> FrozenPrefixSequential:
        """Freeze the first ``n_blocks`` blocks and unfreeze any frozen block above them.

        Parameters
        ----------
        n_blocks : int
            New number of frozen leading blocks, from 0 to ``len(self)``.

        Returns
        -------
        FrozenPrefixSequential
            ``self``. Blocks that get unfrozen take the container's mode.
        """
        if not 0 <= n_blocks <= len(self):
            raise ValueError(f"n_blocks must be in [0, {len(self)}]; got {n_blocks!r}.")
        for index, block in enumerate(self):
            if index < n_blocks:
                block.requires_grad_(False)
                block.train(False)
            elif index < self.n_frozen:
                block.requires_grad_(True)
                block.train(self.training)
        self.n_frozen = n_blocks
        return self

    def train(self, mode: bool = True) -> FrozenPrefixSequential:
        """Set the training mode of every block except the frozen ones (always eval).

        Parameters
        ----------
        mode : bool, default=True
            Training (True) or evaluation (False) mode.

        Returns
        -------
        FrozenPrefixSequential
            ``self``.
        """
        super().train(mode)
        for block in itertools.islice(self, self.n_frozen):
            block.train(False)
        return self

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Run the blocks from ``n_cached`` on (all of them outside a cached run).

        Parameters
        ----------
        x : torch.Tensor
            Inputs of block ``n_cached``: the network's inputs when it is 0.

        Returns
        -------
        torch.Tensor
            Outputs of the last block.
        """
        for block in itertools.islice(self, self.n_cached, None):
            x = block(x)
        return x


def freeze_prefix(module: nn.Sequential, n_blocks: int) -> FrozenPrefixSequential:
    """Freeze the first ``n_blocks`` children of ``module``.

    Parameters
    ----------
    module : torch.nn.Sequential
        The network; its blocks are shared with the result, not copied.
    n_blocks : int
        Number of leading blocks to freeze.

    Returns
    -------
    FrozenPrefixSequential
        ``module`` itself when it already is one, else a new container over
        the same blocks (use it in place of ``module``). Frozen blocks have
        ``requires_grad=False`` and stay in eval mode after ``.train()``.
    """
    if not isinstance(module, FrozenPrefixSequential):
        frozen = FrozenPrefixSequential(OrderedDict(module.named_children()))
        frozen.training = module.training
        module = frozen
    return module.set_frozen(n_blocks)


def trainable_parameters(module: nn.Module) -> list[nn.Parameter]:
    """List the parameters of ``module`` that take gradients (``requires_grad=True``).

    Parameters
    ----------
    module : torch.nn.Module
        The network.

    Returns
    -------
    list of torch.nn.Parameter
        The parameters an optimizer should update, in ``module.parameters()`` order.
    """
    return [parameter for parameter in module.parameters() if parameter.requires_grad]


def run_blocks(
    module: nn.Sequential,
    X: torch.Tensor,
    *,
    start: int = 0,
    stop: int | None = None,
    batch_size: int = _BATCH_ROWS,
) -> torch.Tensor:
    """Run the blocks ``start`` to ``stop - 1`` of ``module`` on ``X``, without gradients.

    The blocks run in eval mode (restored afterwards) under
    ``torch.inference_mode``, ``batch_size`` rows at a time. The result is an
    ordinary tensor on ``X``'s device, so it can feed a later training step
    (outputs of inference mode itself cannot be saved for backward).

    Parameters
    ----------
    module : torch.nn.Sequential
        The network.
    X : torch.Tensor of shape (n_rows, ...)
        Inputs of block ``start``, on the network's device.
    start, stop : int, default=0, None
        The range of blocks to run (``stop=None``: through the last one).
    batch_size : int, default=8192
        Rows per forward pass.

    Returns
    -------
    torch.Tensor of shape (n_rows, ...)
        Outputs of block ``stop - 1`` (``X`` itself for an empty range).
    """
    blocks = list(module)[start:stop]
    if not blocks:
        return X
    modes = [block.training for block in blocks]
    for block in blocks:
        block.eval()
    try:
        with torch.inference_mode():
            first = _chain(blocks, X[:batch_size])
        outputs = torch.empty((len(X), *first.shape[1:]), dtype=first.dtype, device=first.device)
        with torch.inference_mode():
            outputs[: len(first)] = first
            for begin in range(batch_size, len(X), batch_size):
                outputs[begin : begin + batch_size] = _chain(blocks, X[begin : begin + batch_size])
    finally:
        for block, mode in zip(blocks, modes, strict=True):
            block.train(mode)
    return outputs


def _chain(blocks: list[nn.Module], x: torch.Tensor) -> torch.Tensor:
    for block in blocks:
        x = block(x)
    return x


@contextlib.contextmanager
def reading_cache(module: FrozenPrefixSequential, n_blocks: int) -> Iterator[None]:
    """Make ``module`` take the outputs of its first ``n_blocks`` blocks as inputs.

    Inside the block ``module(x)`` skips those blocks; ``module.n_cached`` may
    be changed inside (when the frozen boundary moves) and is reset to 0 on exit.

    Parameters
    ----------
    module : FrozenPrefixSequential
        The network; its first ``n_blocks`` blocks should be frozen.
    n_blocks : int
        Number of leading blocks whose outputs the caller feeds in.

    Yields
    ------
    None
    """
    if n_blocks > module.n_frozen:
        raise ValueError(
            f"Only frozen blocks can be cached: {n_blocks} requested, {module.n_frozen} frozen."
        )
    module.n_cached = n_blocks
    try:
        yield
    finally:
        module.n_cached = 0


class FreezingCallback(CallbackBase):
    """Train a partly frozen network on cached outputs and unfreeze it on schedule.

    A training callback (one per run; it holds the cache, so it must not
    outlive the run). When the run begins it replaces the loop's data by the
    outputs of the frozen blocks (with ``cache``) and makes the network read
    them. At unfreezing, the frozen boundary moves down, every learning rate
    becomes ``learning_rate`` (the schedule restarts from it at the current
    step), the early-stopping patience starts again, and the cache is rebuilt
    at the new boundary. Penalties and the max-norm constraint follow the
    boundary by themselves (they apply to trainable kernels only).

    Parameters
    ----------
    module : FrozenPrefixSequential
        The network; its ``n_frozen`` is ``boundaries[0]``, or ``boundaries[1]``
        when an earlier run already unfroze it.
    cache : bool
        Train on the outputs of the frozen blocks, computed once.
    unfreeze_after : int or None
        Epoch (as numbered by the loop) after which to unfreeze; None never does.
    boundaries : tuple of int
        Frozen blocks before and after the unfreezing.
    learning_rate : float
        Learning rate of every parameter group from the unfreezing on. The
        blocks to unfreeze must already sit in the optimizer (without a
        gradient they are not updated before).
    """

    def __init__(
        self,
        module: FrozenPrefixSequential,
        *,
        cache: bool,
        unfreeze_after: int | None,
        boundaries: tuple[int, int],
        learning_rate: float,
    ) -> None:
        self.module = module
        self.cache = cache
        self.unfreeze_after = unfreeze_after
        self.start, self.after_unfreezing = boundaries
        self.pending = (
            unfreeze_after is not None and module.n_frozen == self.start > self.after_unfreezing
        )
        self.learning_rate = learning_rate
        self.raw: tuple[Dataset, Dataset | None] | None = None
        self.run: TrainingRun | None = None
        self._reading = contextlib.ExitStack()
        self._frozen_health: tuple[int, list[float]] | None = None

    def on_train_begin(self, run: TrainingRun) -> None:
        """Swap in the cached outputs and their health probe; restore a later learning rate."""
        self.raw, self.run = (run.data, run.validation), run
        if self.cache:
            run.data = _cached(self.module, run.data)
            run.validation = _cached(self.module, run.validation)
            run.setup.health = self._health
            self._reading.enter_context(reading_cache(self.module, self.module.n_frozen))
        if self.module.n_frozen == self.after_unfreezing < self.start:
            self._set_learning_rate(run)  # a new run after the unfreezing (warm start)

    def on_epoch_end(self, run: TrainingRun, record: dict[str, Any]) -> None:
        """Unfreeze once the epoch of ``record`` reaches ``unfreeze_after``."""
        if self.pending and record["epoch"] >= self.unfreeze_after:
            self._unfreeze(run)

    def on_train_end(self, run: TrainingRun) -> None:
        """Make the network read raw inputs again."""
        self._reading.close()

    def _health(self, module: nn.Module) -> list[float]:
        """Activation health reusing the cache: frozen blocks are probed once per boundary.

        Frozen blocks do not change, so their figures are computed once (and again
        after unfreezing); the trainable blocks are probed on the cached rows.
        """
        boundary = self.module.n_frozen
        if self._frozen_health is None or self._frozen_health[0] != boundary:
            probe = self.raw[0].X[:PROBE_ROWS]
            self._frozen_health = (boundary, activation_health(module, probe, stop=boundary))
        cached_probe = self.run.data.X[:PROBE_ROWS]
        return self._frozen_health[1] + activation_health(module, cached_probe, start=boundary)

    def _unfreeze(self, run: TrainingRun) -> None:
        self.pending = False
        self.module.set_frozen(self.after_unfreezing)
        self._set_learning_rate(run)
        run.setup.stopper.restart_patience()
        if self.cache:
            self.module.n_cached = self.after_unfreezing
            for cached, raw in zip((run.data, run.validation), self.raw, strict=True):
                if cached is not None:
                    cached.X = run_blocks(self.module, raw.X, stop=self.after_unfreezing)

    def _set_learning_rate(self, run: TrainingRun) -> None:
        optimizer = run.setup.optimizer
        for group in optimizer.param_groups:
            group["lr"] = self.learning_rate
        run.setup.schedule.rebind(optimizer)


def _cached(module: FrozenPrefixSequential, data: Dataset | None) -> Dataset | None:
    if data is None:
        return None
    return Dataset(run_blocks(module, data.X, stop=module.n_frozen), data.y, data.weight)
