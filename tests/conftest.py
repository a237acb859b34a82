import numpy as np
import pytest
from sklearn.datasets import load_digits


@pytest.fixture(scope="session")
def digits():
    """scikit-learn's digits scaled to [0, 1], split 1,400 / 397."""
    X, y = load_digits(return_X_y=True)
    X = (X / 16.0).astype(np.float32)
    return X[:1400], y[:1400], X[1400:], y[1400:]
