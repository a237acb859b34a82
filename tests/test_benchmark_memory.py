"""Smoke test of benchmarks/memory.py on a tiny array (memory is measured there, not here)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


@pytest.mark.skipif(not Path("/proc/self/clear_refs").exists(), reason="needs Linux /proc")
def test_memory_benchmark_reports_every_case():
    sys.path.insert(0, str(BENCHMARKS))
    try:
        import memory
    finally:
        sys.path.remove(str(BENCHMARKS))
    results = memory.measure(n_rows=2000, n_features=20)
    assert set(results) == set(memory.CASES)
    for row in results.values():
        assert row["peak_mib"] >= row["loaded_mib"] > 0
        assert row["X_mib"] == pytest.approx(2000 * 20 * 4 / 2**20, abs=0.1)
