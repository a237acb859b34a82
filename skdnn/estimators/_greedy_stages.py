"""The greedy stages of a StackedAutoencoder: what labels their records, what feeds the next."""

from __future__ import annotations

import math
from typing import Any

from torch import nn

from skdnn.training.data import Dataset
from skdnn.training.freezing import run_blocks
from skdnn.training.setup import CallbackBase, TrainingRun


class StageLabel(CallbackBase):
    """Label each epoch record with the greedy stage it belongs to (``record["stage"]``).

    The stage of one layer (``layer``: its index, of ``n_layers``) records its
    per-layer figures (``grad_norms``, ``unhealthy_fraction``) for that layer
    only; they are put at the layer's place, NaN for the others, so that the
    lists hold one value per hidden layer of the stack, bottom first.
    """

    def __init__(self, stage: str, layer: int | None = None, n_layers: int = 1) -> None:
        self.stage = stage
        self.layer = layer
        self.n_layers = n_layers

    def on_epoch_end(self, run: TrainingRun, record: dict[str, Any]) -> None:
        """Add the stage name to ``record``, and place its per-layer figures."""
        record["stage"] = self.stage
        if self.layer is None:
            return
        for key in _PER_LAYER:
            if key in record:
                values = list(record[key])
                after = max(self.n_layers - self.layer - len(values), 0)
                record[key] = [math.nan] * self.layer + values + [math.nan] * after


#: History keys that hold one value per hidden layer.
_PER_LAYER = ("grad_norms", "unhealthy_fraction")


def encoder_codes(layer: nn.Sequential, data: Dataset | None) -> Dataset | None:
    """Outputs of the trained encoder of ``layer`` (blocks input, hidden1) for ``data``."""
    if data is None:
        return None
    codes = run_blocks(layer, data.X, stop=2)
    return Dataset(codes, codes)
