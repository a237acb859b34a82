"""skdnn: deep feed-forward networks that train well, as scikit-learn estimators.

The estimators (and :func:`make_pairs`) are imported on first use (``from
skdnn import DNNClassifier`` or ``skdnn.DNNClassifier``), so that ``import
skdnn`` and ``python -m skdnn --help`` do not pay for importing torch.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from skdnn._version import __version__

if TYPE_CHECKING:
    from skdnn.estimators import (
        DNNClassifier,
        DNNRegressor,
        SiameseDNNClassifier,
        StackedAutoencoder,
        TransferDNNClassifier,
        TransferDNNRegressor,
        make_pairs,
    )

# Everything public of skdnn.estimators (tests/estimators/test_robustness.py keeps the two equal).
__all__ = [
    "DNNClassifier",
    "DNNRegressor",
    "SiameseDNNClassifier",
    "StackedAutoencoder",
    "TransferDNNClassifier",
    "TransferDNNRegressor",
    "__version__",
    "make_pairs",
]

_ESTIMATORS = frozenset(__all__) - {"__version__"}


def __getattr__(name: str) -> Any:
    if name in _ESTIMATORS:
        value = getattr(importlib.import_module("skdnn.estimators"), name)
        globals()[name] = value  # later look-ups skip this function
        return value
    if name == "configs":  # the parameter sets; importing it costs nothing
        return importlib.import_module("skdnn.configs")
    raise AttributeError(f"module 'skdnn' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | _ESTIMATORS)
