"""Write checkpoints every few epochs and at the end of training."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from skdnn.training.setup import CallbackBase, TrainingResult, TrainingRun

FINAL_NAME = "final.skdnn"


def checkpoint_name(epoch: int) -> str:
    """File name of the checkpoint written after ``epoch``."""
    return f"epoch-{epoch:04d}.skdnn"


class CheckpointWriter(CallbackBase):
    """A training callback calling ``write(path, result)`` every ``every`` epochs.

    ``write`` must write atomically (skdnn's bundle format does: temporary file,
    then rename), so an interrupted run never leaves a truncated checkpoint.

    Parameters
    ----------
    directory : str or path-like
        Folder of the checkpoints; created if missing, and checked at once.
    every : int
        Epochs between checkpoints.
    write : callable
        ``write(path, result)`` writes the model with the run's result so far.
    """

    def __init__(
        self,
        directory: str | os.PathLike,
        every: int,
        write: Callable[[Path, TrainingResult], None],
    ) -> None:
        self.directory = _writable_directory(directory)
        self.every = every
        self.write = write

    def on_epoch_end(self, run: TrainingRun, record: dict[str, Any]) -> None:
        """Checkpoint after ``record['epoch']`` when it is a multiple of ``every``."""
        if record["epoch"] % self.every == 0:
            self._write(checkpoint_name(record["epoch"]), run.result())

    def write_final(self, result: TrainingResult) -> None:
        """Write the final model, with the run's final ``result``."""
        self._write(FINAL_NAME, result)

    def _write(self, name: str, result: TrainingResult) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        self.write(self.directory / name, result)


def _writable_directory(directory: str | os.PathLike) -> Path:
    """``directory`` created if missing; a ``ValueError`` unless files can be written there.

    Checked before training, so that a bad ``checkpoint_dir`` does not throw
    away the epochs run until the first checkpoint.
    """
    if not str(directory):
        raise ValueError("checkpoint_dir must name a directory; got ''.")
    path = Path(directory)
    if path.exists() and not path.is_dir():
        raise ValueError(f"checkpoint_dir {str(directory)!r} is a file, not a directory.")
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as error:
        reason = error.strerror or str(error)
        raise ValueError(
            f"checkpoint_dir {str(directory)!r} cannot hold checkpoints: {reason}."
        ) from error
    return path
