"""skdnn: deep feed-forward networks that train well, as scikit-learn estimators."""

from skdnn._version import __version__
from skdnn.estimators import DNNClassifier

__all__ = ["DNNClassifier", "__version__"]
