"""Small helpers shared by every layer of skdnn (no scikit-learn estimator machinery)."""
