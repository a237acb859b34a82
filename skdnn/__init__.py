"""skdnn: deep feed-forward networks that train well, as scikit-learn estimators."""

from skdnn._version import __version__
from skdnn.estimators import DNNClassifier, StackedAutoencoder, TransferDNNClassifier

__all__ = ["DNNClassifier", "StackedAutoencoder", "TransferDNNClassifier", "__version__"]
