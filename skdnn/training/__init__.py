"""The framework-free training loop and its small helpers (plain torch, no scikit-learn)."""
