"""What the training loop reads: the rows of one split, on the training device.

Plain torch; no scikit-learn.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch


@dataclass
class Dataset:
    """Tensors of one split, all on the training device.

    ``weight`` holds per-row loss weights (sample and class weights combined,
    normalised to mean 1) or None for an unweighted loss. ``X`` may also be
    :class:`StreamedRows`, rows of a host array read one batch at a time.
    """

    X: torch.Tensor | StreamedRows
    y: torch.Tensor
    weight: torch.Tensor | None = None

    def __len__(self) -> int:
        return self.X.shape[0]


class StreamedRows:
    """Rows of a NumPy array (a ``numpy.memmap``, say) copied to the device batch by batch.

    Stands in for ``Dataset.X`` when the inputs should not be materialized as
    one tensor, e.g. a memory-mapped array larger than the memory at hand: each
    batch reads its rows from the array, so memory holds one batch at a time
    (the operating system's page cache keeps what it can of the file). It offers
    what the training code asks of ``X``: ``len``, ``shape``, ``dtype``,
    ``device``, slicing and ``index_select`` along rows, each returning a tensor.

    Parameters
    ----------
    array : numpy.ndarray of shape (n_rows, ...)
        The inputs, float32; not copied.
    device : torch.device
        Where batches go.
    rows : numpy.ndarray of int, default=None
        Use only these rows of ``array``, in this order (a training split).
    """

    def __init__(
        self, array: np.ndarray, device: torch.device, rows: np.ndarray | None = None
    ) -> None:
        self.array = array
        self.device = torch.device(device)
        self.rows = None if rows is None else np.asarray(rows, dtype=np.intp)
        n_rows = len(array) if self.rows is None else len(self.rows)
        self.shape = torch.Size((n_rows, *array.shape[1:]))
        self.dtype = torch.from_numpy(np.empty(0, dtype=array.dtype)).dtype

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, key: slice) -> torch.Tensor:
        if not isinstance(key, slice):
            raise TypeError("StreamedRows supports slices of rows only.")
        if self.rows is None:
            return self._to_device(np.array(self.array[key]))
        return self._to_device(np.take(self.array, self.rows[key], axis=0))

    def index_select(self, dim: int, index: torch.Tensor) -> torch.Tensor:
        """The rows at ``index`` (``dim`` must be 0), as a tensor on the device."""
        if dim != 0:
            raise ValueError("StreamedRows selects rows only (dim=0).")
        positions = index.cpu().numpy()
        if self.rows is not None:
            positions = self.rows[positions]
        return self._to_device(np.take(self.array, positions, axis=0))

    def _to_device(self, batch: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(batch).to(self.device)
