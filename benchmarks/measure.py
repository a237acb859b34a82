"""Timing helpers: interleaved rounds, paired ratios, the GEMM ceiling, the machine."""

from __future__ import annotations

import os
import platform
import statistics
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch


def rotated(items: Sequence[Any], shift: int) -> list[Any]:
    """``items`` starting at position ``shift`` (mod its length)."""
    shift %= len(items)
    return [*items[shift:], *items[:shift]]


def interleave(
    tasks: dict[str, Callable[[], Any]], rounds: int, *, warmup: int = 1
) -> dict[str, list[float]]:
    """Run every task once per round, rotating which one goes first; return seconds.

    The machine drifts (other processes, clocks), so only measurements taken
    side by side are compared: each round runs every task once, and each round
    starts with the next task. ``warmup`` untimed rounds come first.
    """
    names = list(tasks)
    for _ in range(warmup):
        for name in names:
            tasks[name]()
    seconds: dict[str, list[float]] = {name: [] for name in names}
    for round_index in range(rounds):
        for name in rotated(names, round_index):
            started = time.perf_counter()
            tasks[name]()
            seconds[name].append(time.perf_counter() - started)
    return seconds


def paired_ratios(
    seconds: dict[str, list[float]], reference: str
) -> dict[str, dict[str, float]]:
    """Per system: median over rounds of ``reference_time / system_time`` (>1 is faster).

    Also the minimum and maximum of the per-round ratios, to show the spread.
    """
    out = {}
    for name, times in seconds.items():
        ratios = [ref / own for ref, own in zip(seconds[reference], times, strict=True)]
        out[name] = {
            "median": statistics.median(ratios),
            "min": min(ratios),
            "max": max(ratios),
        }
    return out


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values))


def gemm_ceiling(flops_per_sample: float, *, repeats: int = 10) -> dict[str, Any]:
    """Best float32 matrix-product rate of the machine and the samples/s it allows.

    Square products of a few sizes run with torch's current thread count, on
    the BLAS behind ``torch.mm`` (MKL on x86) and on oneDNN (through
    ``torch.ops.mkldnn._linear_pointwise``, when this torch has it); on CPUs
    where MKL takes a generic path the two differ by about 2x. The best rate
    over sizes, repeats and libraries is the ceiling.
    """
    rates: dict[str, dict[str, float]] = {"torch.mm": {}, "onednn": {}}
    onednn = _onednn_linear()
    for size in (256, 512, 1024, 2048):
        a, b = torch.rand(size, size), torch.rand(size, size)
        out = torch.empty(size, size)
        calls: dict[str, Callable[[], Any]] = {
            "torch.mm": lambda a=a, b=b, out=out: torch.mm(a, b, out=out)
        }
        if onednn is not None:
            calls["onednn"] = lambda a=a, b=b: onednn(a, b, None, "none", [], "")
        for library, call in calls.items():
            call()
            rate = 0.0
            for _ in range(repeats):
                started = time.perf_counter()
                call()
                rate = max(rate, 2 * size**3 / (time.perf_counter() - started))
            rates[library][str(size)] = rate / 1e9
    best = {library: max(r.values(), default=0.0) for library, r in rates.items()}
    top = max(best.values()) * 1e9
    return {
        "gflops": top / 1e9,
        "gflops_by_library": best,
        "gflops_by_library_and_size": rates,
        "flops_per_sample": flops_per_sample,
        "samples_per_s": top / flops_per_sample,
    }


def _onednn_linear() -> Callable[..., torch.Tensor] | None:
    try:
        return torch.ops.mkldnn._linear_pointwise
    except (AttributeError, RuntimeError):  # pragma: no cover - builds without oneDNN
        return None


def gemm_rate(size: int = 1024, repeats: int = 8) -> float:
    """Best float32 FLOP/s of ``repeats`` square products (a short probe of the ceiling).

    Uses oneDNN when available (the faster library where they differ), else ``torch.mm``.
    """
    a, b = torch.rand(size, size), torch.rand(size, size)
    out = torch.empty(size, size)
    onednn = _onednn_linear()

    def call() -> Any:
        if onednn is not None:
            return onednn(a, b, None, "none", [], "")
        return torch.mm(a, b, out=out)

    best = 0.0
    call()
    for _ in range(repeats):
        started = time.perf_counter()
        call()
        best = max(best, 2 * size**3 / (time.perf_counter() - started))
    return best


def latency(call: Callable[[], Any], *, calls: int) -> list[float]:
    """Seconds of each of ``calls`` consecutive calls."""
    out = []
    for _ in range(calls):
        started = time.perf_counter()
        call()
        out.append(time.perf_counter() - started)
    return out


def machine() -> dict[str, Any]:
    """What the numbers were measured on."""
    import sklearn

    info: dict[str, Any] = {
        "platform": platform.platform(),
        "processor": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "sklearn": sklearn.__version__,
        "numpy": np.__version__,
        "python": platform.python_version(),
    }
    try:
        import skorch

        info["skorch"] = skorch.__version__
    except ImportError:  # pragma: no cover - optional peer
        pass
    return info


def load_average() -> list[float]:
    """1, 5 and 15 minute load averages (other processes share the machine)."""
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except OSError:  # pragma: no cover - not on every platform
        return []


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:  # pragma: no cover
        pass
    return platform.processor()
