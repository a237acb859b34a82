"""scikit-learn estimators built on the skdnn network and training loop."""

from skdnn.estimators.autoencoder import StackedAutoencoder
from skdnn.estimators.classifier import DNNClassifier
from skdnn.estimators.pairs import SiameseDNNClassifier, make_pairs
from skdnn.estimators.regressor import DNNRegressor
from skdnn.estimators.transfer import TransferDNNClassifier, TransferDNNRegressor

__all__ = [
    "DNNClassifier",
    "DNNRegressor",
    "SiameseDNNClassifier",
    "StackedAutoencoder",
    "TransferDNNClassifier",
    "TransferDNNRegressor",
    "make_pairs",
]
