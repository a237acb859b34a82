"""Every script of examples/ runs in --quick mode and returns sane results."""

from __future__ import annotations

import importlib.util
import math
import sys
from pathlib import Path

import pytest
import torch

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
SCRIPTS = sorted(p for p in EXAMPLES.glob("*.py") if not p.name.startswith("_"))
FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")


def _has_fashion_mnist() -> bool:
    import os

    folder = os.environ.get("SKDNN_FASHION_MNIST_DIR")
    return (Path(folder) if folder else FASHION_MNIST).is_dir()


def _check(key: str, value) -> None:
    """Recursively: numbers finite (or inf for ratios); accuracies and rates in [0, 1]."""
    if isinstance(value, dict):
        for k, v in value.items():
            _check(str(k), v)
    elif isinstance(value, list | tuple):
        for v in value:
            _check(key, v)
    elif isinstance(value, float):
        assert not math.isnan(value), key
        if any(word in key.lower() for word in ("accuracy", "error_rate", "auc")):
            assert 0.0 <= value <= 1.0, (key, value)
        if key.endswith("_s") or "mse" in key:
            assert value >= 0, (key, value)


@pytest.fixture
def restore_threads():
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


@pytest.mark.skipif(not _has_fashion_mnist(), reason="Fashion-MNIST is not installed")
@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.stem)
def test_example_quick(script, tmp_path, monkeypatch, restore_threads):
    monkeypatch.syspath_prepend(str(EXAMPLES))
    spec = importlib.util.spec_from_file_location(f"example_{script.stem}", script)
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, module)
    spec.loader.exec_module(module)
    assert module.__doc__ and module.__doc__.strip()

    results = module.main(["--quick", "--out", str(tmp_path)])

    assert isinstance(results, dict) and results
    _check("results", results)
    for figure in results.get("figures", []):
        assert Path(figure).is_file() and Path(figure).parent == tmp_path
    for name, accuracy in results.get("accuracies", {}).items():
        assert 0.0 <= accuracy <= 1.0, name
    # the quick runs are tiny, but every trained classifier must beat chance
    # (10 classes, except transfer_shirt_sandal: 2 classes)
    if script.stem == "transfer_shirt_sandal":
        assert results["summary"]["transfer"]["mean"] > 0.6
        assert results["summary"]["scratch"]["mean"] > 0.6
    if script.stem == "vanishing_gradients":
        assert len(results["grad_norms_epoch_1"]["He + ELU"]) == 10
    if script.stem == "optimizers_and_schedules":
        assert len(results["optimizers"]) == 10 and len(results["schedules"]) == 6
    if script.stem == "exercise_09_transfer":
        assert results["cache_speedup"] > 0


def test_examples_found():
    assert len(SCRIPTS) >= 8
