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
    :class:`StreamedRows`, rows of a host array read one batch at a time, or
    :class:`IndexedRows`, a split of a tensor's rows that is not copied.
    """

    X: torch.Tensor | StreamedRows
    y: torch.Tensor
    weight: torch.Tensor | None = None

    def __len__(self) -> int:
        return self.X.shape[0]


def batch_sizes(n_rows: int, batch_size: int, *, min_rows: int = 1) -> list[int]:
    """Rows of each batch of an epoch over ``n_rows`` rows, in order.

    Full batches of ``batch_size`` rows, then the rest. A rest of fewer than
    ``min_rows`` rows joins the batch before it, so that the last batch has
    up to ``batch_size + min_rows - 1`` rows; no row is dropped, and with
    shuffling every row lands in a different batch each epoch. Batch norm in
    training mode needs ``min_rows=2`` (it cannot normalize one row).

    Raises
    ------
    ValueError
        If some batch must still have fewer than ``min_rows`` rows
        (``batch_size < min_rows`` or ``0 < n_rows < min_rows``).
    """
    sizes = [batch_size] * (n_rows // batch_size)
    if n_rows % batch_size:
        sizes.append(n_rows % batch_size)
    if len(sizes) > 1 and sizes[-1] < min_rows:
        rest = sizes.pop()
        sizes[-1] += rest
    if sizes and min(sizes) < min_rows:
        raise ValueError(
            f"Batches need at least {min_rows} rows, but batch_size={batch_size} over "
            f"{n_rows} row(s) gives a batch of {min(sizes)}."
        )
    return sizes


class StreamedRows:
    """Rows of an array (a ``numpy.memmap``, a sparse matrix) copied to the device batch by batch.

    Stands in for ``Dataset.X`` when the inputs should not be materialized as
    one dense tensor: a memory-mapped array larger than the memory at hand
    (each batch reads its rows from the file; the operating system's page cache
    keeps what it can), or a sparse matrix, whose batches are made dense one at
    a time. It offers what the training code asks of ``X``: ``len``, ``shape``,
    ``dtype``, ``device``, slicing and ``index_select`` along rows, each
    returning a dense tensor.

    Parameters
    ----------
    array : numpy.ndarray or scipy sparse matrix (CSR) of shape (n_rows, ...)
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
        n_rows = array.shape[0] if self.rows is None else len(self.rows)
        self.shape = torch.Size((n_rows, *array.shape[1:]))
        self.dtype = torch.from_numpy(np.empty(0, dtype=array.dtype)).dtype

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, key: slice) -> torch.Tensor:
        if not isinstance(key, slice):
            raise TypeError("StreamedRows supports slices of rows only.")
        if self.rows is None:
            return self._to_device(self._dense(self.array[key]))
        return self._to_device(self._gather(self.rows[key]))

    def index_select(self, dim: int, index: torch.Tensor) -> torch.Tensor:
        """The rows at ``index`` (``dim`` must be 0), as a tensor on the device."""
        if dim != 0:
            raise ValueError("StreamedRows selects rows only (dim=0).")
        positions = index.cpu().numpy()
        if self.rows is not None:
            positions = self.rows[positions]
        return self._to_device(self._gather(positions))

    def _gather(self, positions: np.ndarray) -> np.ndarray:
        if isinstance(self.array, np.ndarray):
            return np.take(self.array, positions, axis=0)
        return self._dense(self.array[positions])

    @staticmethod
    def _dense(rows) -> np.ndarray:
        """Rows as a dense array (a sparse matrix's ``toarray``; an array's copy)."""
        return rows.toarray() if hasattr(rows, "toarray") else np.array(rows)

    def _to_device(self, batch: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(batch).to(self.device)


class IndexedRows:
    """Some rows of a tensor, in a given order, without copying them: a training split.

    Stands in for ``Dataset.X`` so that a split of the caller's array trains
    without a copy of its rows: the training loop gathers each batch straight
    from :attr:`tensor` (through :attr:`rows`), which it does for shuffled
    batches anyway. It offers what the training code asks of ``X``: ``len``,
    ``shape``, ``dtype``, ``device``, slicing and ``index_select`` along rows,
    each returning a new tensor.

    Parameters
    ----------
    tensor : torch.Tensor of shape (n_rows, ...)
        All rows; never written to.
    rows : torch.Tensor of int64
        Positions in ``tensor`` of the split's rows, on its device.
    """

    def __init__(self, tensor: torch.Tensor, rows: torch.Tensor) -> None:
        self.tensor = tensor
        self.rows = rows.to(device=tensor.device, dtype=torch.int64)
        self.shape = torch.Size((len(self.rows), *tensor.shape[1:]))
        self.dtype = tensor.dtype
        self.device = tensor.device

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, key: slice) -> torch.Tensor:
        if not isinstance(key, slice):
            raise TypeError("IndexedRows supports slices of rows only.")
        return self.tensor.index_select(0, self.rows[key])

    def index_select(self, dim: int, index: torch.Tensor) -> torch.Tensor:
        """The split's rows at ``index`` (``dim`` must be 0), as a new tensor."""
        if dim != 0:
            raise ValueError("IndexedRows selects rows only (dim=0).")
        return self.tensor.index_select(0, self.rows.index_select(0, index))
