"""Local random number generators derived from a ``random_state``.

skdnn never seeds the global RNGs of NumPy or torch: every random draw of a
fit (initial weights, validation split, shuffling, dropout masks) comes from
generators made here, so the caller's RNG state is left untouched.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
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
def isolated_torch_rng(seed: int, device: torch.device) -> Iterator[None]:
    """Seed torch's global RNG for the block, restoring the caller's state after.

    Modules such as ``nn.Dropout`` and ``nn.RReLU`` draw from the global RNG;
    forking it keeps them deterministic without touching the caller's state.
    """
    devices = [device] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices, device_type=device.type if devices else "cuda"):
        torch.manual_seed(seed)
        yield
