"""Local random number generators derived from a ``random_state``.

skdnn never seeds the global RNGs of NumPy or torch: every random draw of a
fit (initial weights, validation split, shuffling, dropout masks) comes from
generators made here, so the caller's RNG state is left untouched.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
import torch

_SEED_BOUND = 2**31 - 1


@dataclass
class Seeds:
    """Independent seeds for each source of randomness of one fit."""

    init: int
    split: int
    shuffle: int
    dropout: int

    @classmethod
    def draw(cls, rng: np.random.RandomState) -> Seeds:
        """Draw the four seeds from ``rng`` (a ``numpy.random.RandomState``)."""
        init, split, shuffle, dropout = rng.randint(_SEED_BOUND, size=4)
        return cls(int(init), int(split), int(shuffle), int(dropout))


def torch_generator(seed: int, device: torch.device | str = "cpu") -> torch.Generator:
    """A ``torch.Generator`` on ``device`` seeded with ``seed``."""
    generator = torch.Generator(device=device)
    generator.manual_seed(seed)
    return generator


@contextlib.contextmanager
def isolated_torch_rng(
    seed: int, device: torch.device, state: torch.Tensor | None = None
) -> Iterator[Callable[[], torch.Tensor]]:
    """Seed (or restore) torch's RNG of ``device`` for the block, then put the caller's back.

    Modules such as ``nn.Dropout`` and ``nn.RReLU`` draw from the global RNG of
    the device they run on; forking it keeps them deterministic without touching
    the caller's state. The block receives a function returning the current state,
    so that training can later continue exactly where it stopped.
    """
    devices = [device] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices, device_type=device.type if devices else "cuda"):
        if state is None:
            torch.manual_seed(seed)
        else:
            _set_state(device, state)
        yield lambda: _get_state(device)


def _get_state(device: torch.device) -> torch.Tensor:
    if device.type == "cuda":
        return torch.cuda.get_rng_state(device)
    if device.type == "mps":
        return torch.mps.get_rng_state()
    return torch.get_rng_state()


def _set_state(device: torch.device, state: torch.Tensor) -> None:
    if device.type == "cuda":
        torch.cuda.set_rng_state(state, device)
    elif device.type == "mps":
        torch.mps.set_rng_state(state)
    else:
        torch.set_rng_state(state)
