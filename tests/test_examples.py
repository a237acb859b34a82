"""Every script of examples/ runs in --quick mode and returns sane results.

Each script runs on scikit-learn's digits with Fashion-MNIST hidden (what a
pip user without the Debian package gets), and on Fashion-MNIST where it is
installed.
"""

from __future__ import annotations

import importlib.util
import math
import sys
from pathlib import Path

import numpy as np
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


def _uses_image_data(script: Path) -> bool:
    """Whether the script trains on the image data of ``_common.load_data``."""
    return "_common.load_data(" in script.read_text(encoding="utf-8")


def _run_example(script: Path, out: Path, monkeypatch) -> dict:
    monkeypatch.syspath_prepend(str(EXAMPLES))
    monkeypatch.delitem(sys.modules, "_common", raising=False)  # its data cache too
    spec = importlib.util.spec_from_file_location(f"example_{script.stem}", script)
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, module)
    spec.loader.exec_module(module)
    assert module.__doc__ and module.__doc__.strip()
    return module.main(["--quick", "--out", str(out)])


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.stem)
def test_example_quick_on_digits(script, tmp_path, monkeypatch, capsys, restore_threads):
    hidden = tmp_path / "no-fashion-mnist"
    hidden.mkdir()
    monkeypatch.setenv("SKDNN_FASHION_MNIST_DIR", str(hidden))
    out = tmp_path / "figures"
    results = _run_example(script, out, monkeypatch)
    printed = capsys.readouterr().out
    assert "Fashion-MNIST, 60000" not in printed
    if _uses_image_data(script):
        assert "data: scikit-learn's digits, 1347 training and 450 test images of 8x8" in printed
    _check_results(script, results, out)
    if script.stem == "vanishing_gradients":
        rows = {row["configuration"]: row for row in results["rows"]}
        # the lesson: with N(0,1) + logistic the bottom layers get far smaller
        # gradients than the top ones; He + ELU keeps them even, and far larger
        assert rows["N(0,1) + logistic"]["top/bottom"] > 3
        assert 0.3 < rows["He + ELU"]["top/bottom"] < 3
        assert rows["He + ELU"]["bottom_norm"] > 20 * rows["N(0,1) + logistic"]["bottom_norm"]


@pytest.mark.slow
@pytest.mark.skipif(not _has_fashion_mnist(), reason="Fashion-MNIST is not installed")
@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.stem)
def test_example_quick_on_fashion_mnist(script, tmp_path, monkeypatch, capsys,
                                         restore_threads):
    results = _run_example(script, tmp_path, monkeypatch)
    if _uses_image_data(script):
        assert "data: Fashion-MNIST, 60000 training" in capsys.readouterr().out
    _check_results(script, results, tmp_path)


def test_data_can_be_forced(monkeypatch, tmp_path):
    hidden = tmp_path / "empty"
    hidden.mkdir()
    monkeypatch.setenv("SKDNN_FASHION_MNIST_DIR", str(hidden))
    monkeypatch.syspath_prepend(str(EXAMPLES))
    monkeypatch.delitem(sys.modules, "_common", raising=False)
    import _common

    with pytest.raises(FileNotFoundError, match="not found in"):
        _common.load_data("fashion-mnist")
    digits = _common.load_data("digits")
    assert digits.small and digits.image_shape == (8, 8) and digits.X_train.dtype.name == "float32"
    rows = np.arange(len(digits.y_train))  # row numbers in place of images
    (rows_a, y_a), (rows_b, y_b) = _common.disjoint_per_class(
        rows, digits.y_train, (50, 30), classes=[5, 6], seed=0)
    assert sorted(set(y_a)) == sorted(set(y_b)) == [5, 6]
    assert np.bincount(y_a)[5:].tolist() == [50, 50] and np.bincount(y_b)[5:].tolist() == [30, 30]
    assert not set(rows_a) & set(rows_b)
    assert (digits.y_train[rows_a] == y_a).all()
    with pytest.raises(ValueError, match="fewer than the 200 requested"):
        _common.disjoint_per_class(digits.X_train, digits.y_train, (100, 100), seed=0)


def _check_results(script: Path, results: dict, tmp_path: Path) -> None:
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
        schedules = {row["schedule"]: row for row in results["schedules"]}
        # 1cycle: up to max_lr=0.05, and its last step at eta0 / 1000 (not the
        # rate at the start of the last epoch)
        assert schedules["1cycle"]["max_lr"] == pytest.approx(0.05, rel=0.02)
        assert schedules["1cycle"]["last_step_lr"] == pytest.approx(0.01 / 1000)
        assert schedules["constant"]["last_step_lr"] == pytest.approx(0.01)
    if script.stem == "exercise_09_transfer":
        assert results["cache_speedup"] > 0


def test_examples_found():
    assert len(SCRIPTS) >= 8
