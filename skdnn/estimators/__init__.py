"""scikit-learn estimators built on the skdnn network and training loop."""

from skdnn.estimators.classifier import DNNClassifier

__all__ = ["DNNClassifier"]
