"""Write checkpoints every few epochs and at the end of training."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from torch import nn

FINAL_NAME = "final.skdnn"


def checkpoint_name(epoch: int) -> str:
    """File name of the checkpoint written after ``epoch``."""
    return f"epoch-{epoch:04d}.skdnn"


class CheckpointWriter:
    """An epoch callback calling ``write(path)`` every ``every`` epochs.

    ``write`` must write atomically (skdnn's bundle format does: temporary file,
    then rename), so an interrupted run never leaves a truncated checkpoint.

    Parameters
    ----------
    directory : str or path-like
        Folder of the checkpoints; created if missing.
    every : int
        Epochs between checkpoints.
    write : callable
        Writes the current model to the given path.
    """

    def __init__(
        self, directory: str | os.PathLike, every: int, write: Callable[[Path], None]
    ) -> None:
        self.directory = Path(directory)
        self.every = every
        self.write = write

    def __call__(self, record: dict[str, Any], module: nn.Module) -> None:
        """Checkpoint after ``record['epoch']`` when it is a multiple of ``every``."""
        if record["epoch"] % self.every == 0:
            self._write(checkpoint_name(record["epoch"]))

    def write_final(self) -> None:
        """Write the final model."""
        self._write(FINAL_NAME)

    def _write(self, name: str) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        self.write(self.directory / name)
