"""Side-by-side benchmarks of skdnn, a plain torch loop, skorch and scikit-learn's MLP.

    python benchmarks/run.py [--quick] [--out benchmarks/results/NAME.json] [--only SECTION ...]

All systems run in this one process; training epochs are interleaved system by
system with the starting system rotating each round, and ratios are paired per
round (median over rounds), because the machine's speed drifts. Only ratios
from one run are comparable. ``--quick`` finishes in about two minutes on two
cores; the full run takes about ten. See README.md in this folder.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import regression
import sections
from measure import gemm_ceiling, load_average, machine
from systems import HIDDEN, n_weights

SECTIONS = ("fit", "predict", "scaling", "accuracy", "search", "memory", "regression")

QUICK: dict[str, Any] = {
    "fit": {"rows_by_batch_size": {32: 8_000, 256: 20_000}, "rounds": 3,
            "systems": ("torch", "skorch", "sklearn", "skdnn")},
    "predict": {"n_train": 5_000, "calls": 200, "rounds": 3},
    "scaling": {"sizes": (5_000, 10_000, 20_000, 40_000), "epochs": 1, "rounds": 2,
                "batch_size": 256},
    "accuracy": {"contenders": ("torch-fused b128", "skdnn fast"), "budget_s": 14.0,
                 "max_epochs": 12},
    "search": {"n_rows": 10_000, "rounds": 1, "with_dask": True},
    "memory": {"n_rows": 100_000},
    "regression": {"rows_by_batch_size": {32: 8_000, 256: 20_000}, "rounds": 3},
}
FULL: dict[str, Any] = {
    "fit": {"rows_by_batch_size": {32: 60_000, 256: 60_000}, "rounds": 5,
            "systems": ("torch", "torch-fused", "skorch", "sklearn", "skdnn")},
    "predict": {"n_train": 20_000, "calls": 1000, "rounds": 5},
    "scaling": {"sizes": (10_000, 20_000, 40_000, 60_000), "epochs": 2, "rounds": 3,
                "batch_size": 256},
    "accuracy": {"contenders": ("torch b128", "torch-fused b128", "skorch b128",
                                "sklearn b200", "skdnn b32", "skdnn fast"),
                 "budget_s": 40.0, "max_epochs": 40},
    "search": {"n_rows": 20_000, "rounds": 2, "with_dask": True},
    "memory": {"n_rows": 400_000},
    "regression": {"rows_by_batch_size": {32: 30_000, 256: 60_000}, "rounds": 5},
}


def accuracy_contenders(names: tuple[str, ...]) -> dict[str, dict[str, Any]]:
    """Configurations of the time-to-accuracy race, by name."""
    fast = dict(sections.FAST_CONFIG)
    catalogue: dict[str, dict[str, Any]] = {
        "torch b128": {"system": "torch", "batch_size": 128},
        "torch-fused b128": {"system": "torch-fused", "batch_size": 128},
        "skorch b128": {"system": "skorch", "batch_size": 128},
        "sklearn b200": {"system": "sklearn", "batch_size": 200},
        "skdnn b32": {"system": "skdnn", "batch_size": 32},
        "skdnn fast": {"system": "skdnn", **fast},
    }
    return {name: catalogue[name] for name in names}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="about two minutes")
    parser.add_argument("--out", type=Path, help="write the results as JSON here")
    parser.add_argument("--only", nargs="+", choices=SECTIONS, help="run only these sections")
    parser.add_argument(
        "--threads", type=int, help="torch threads for every system (default: torch's own)"
    )
    parser.add_argument(
        "--blas-threads",
        type=int,
        default=1,
        help="threads of numpy's BLAS, which only scikit-learn's MLP uses (default: 1; its "
        "idle threads spin and slow the next system's epoch otherwise, see README)",
    )
    args = parser.parse_args(argv)
    import torch
    from threadpoolctl import threadpool_limits

    if args.threads is not None:
        torch.set_num_threads(args.threads)
    threadpool_limits(args.blas_threads, user_api="blas")
    settings = QUICK if args.quick else FULL
    chosen = args.only or SECTIONS
    warnings.filterwarnings("ignore", category=UserWarning)

    from skdnn.datasets import load_fashion_mnist

    started = time.perf_counter()
    data = load_fashion_mnist()
    flops = 6 * n_weights(data.X_train.shape[1], HIDDEN, 10)
    results: dict[str, Any] = {
        "mode": "quick" if args.quick else "full",
        "machine": machine(),
        "load_average_start": load_average(),
        "numpy_blas_threads": args.blas_threads,
        "network": {"layers": [784, *HIDDEN, 10], "weights": flops // 6},
    }
    print(f"skdnn benchmarks ({results['mode']}) on {results['machine']['processor']}, "
          f"{results['machine']['cpu_count']} CPUs, torch threads "
          f"{results['machine']['torch_threads']}, load {results['load_average_start']}")
    ceiling = gemm_ceiling(flops)
    results["gemm_ceiling"] = ceiling
    libraries = ", ".join(f"{k} {v:.0f}" for k, v in ceiling["gflops_by_library"].items())
    print(f"GEMM ceiling: {ceiling['gflops']:.0f} GFLOP/s ({libraries}) = "
          f"{ceiling['samples_per_s']:,.0f} samples/s at {flops / 1e6:.2f} MFLOP "
          "(6 x weights) per sample")
    if "fit" in chosen:
        results["fit"] = sections.fit_throughput(data, ceiling=ceiling, **settings["fit"])
    if "predict" in chosen:
        results["predict"] = sections.predict_latency(data, **settings["predict"])
    if "scaling" in chosen:
        results["scaling"] = sections.fit_scaling(data, **settings["scaling"])
    if "accuracy" in chosen:
        spec = dict(settings["accuracy"])
        contenders = accuracy_contenders(spec.pop("contenders"))
        results["accuracy"] = sections.time_to_accuracy(
            data, contenders=contenders, targets=(0.88, 0.89), **spec
        )
    if "search" in chosen:
        results["search"] = sections.parallel_search(data, **settings["search"])
    if "memory" in chosen:
        results["memory"] = sections.memmap_memory(n_features=784, **settings["memory"])
    if "regression" in chosen:
        results["regression"] = regression.regression_fit_throughput(
            data, **settings["regression"]
        )
    results["load_average_end"] = load_average()
    results["total_s"] = time.perf_counter() - started
    print(f"\nTotal {results['total_s']:.0f} s, load average at the end "
          f"{results['load_average_end']}")
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(results, indent=1, default=_json_default))
        print(f"Results written to {args.out}")
    return results


def _json_default(value: Any) -> Any:
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, tuple):
        return list(value)
    return repr(value)


if __name__ == "__main__":
    main()
