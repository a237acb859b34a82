"""The benchmark sections. Each returns a JSON-friendly dict and prints a short table."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
from measure import gemm_rate, interleave, latency, median, paired_ratios, rotated
from systems import (
    FIT_SYSTEMS,
    HIDDEN,
    System,
    plain_torch,
    skdnn_classifier,
    sklearn_mlp,
    skorch_net,
)

#: The documented fast configuration (see README "Time to accuracy").
FAST_CONFIG: dict[str, Any] = {
    "batch_size": 64,
    "learning_rate": 2e-3,
    "lr_schedule": "cosine",
    "max_epochs": 8,
}


def _print(title: str, rows: list[list[Any]], header: list[str]) -> None:
    widths = [max(len(str(x)) for x in column) for column in zip(header, *rows, strict=True)]
    print(f"\n## {title}")
    print("  ".join(str(h).ljust(w) for h, w in zip(header, widths, strict=True)))
    for row in rows:
        print("  ".join(str(x).ljust(w) for x, w in zip(row, widths, strict=True)))
    sys.stdout.flush()


# --------------------------------------------------------------------------- fit throughput
def fit_throughput(
    data: Any,
    *,
    rows_by_batch_size: dict[int, int],
    rounds: int,
    ceiling: dict[str, float],
    systems: tuple[str, ...],
) -> dict[str, Any]:
    """Epochs of every system interleaved; samples/s and paired ratios to ``torch``."""
    out: dict[str, Any] = {"rounds": rounds, "by_batch_size": {}}
    factories = {**FIT_SYSTEMS, "torch-fused": _tuned_torch}
    for batch_size, n_rows in rows_by_batch_size.items():
        X, y = data.X_train[:n_rows], data.y_train[:n_rows]
        contenders: dict[str, System] = {}
        for name in systems:
            contenders[name] = factories[name](X, y, batch_size=batch_size)
        # The GEMM probe runs in every round too: the ceiling drifts with the machine,
        # so each epoch is compared with the ceiling measured beside it.
        probes: list[float] = []
        tasks: dict[str, Any] = {n: s.epoch for n, s in contenders.items()}
        tasks["gemm probe"] = lambda found=probes: found.append(gemm_rate())
        seconds = interleave(tasks, rounds, warmup=1)
        del seconds["gemm probe"]
        probes = probes[-rounds:]
        ceilings = [rate / ceiling["flops_per_sample"] for rate in probes]
        ceiling["samples_per_s"] = max(ceiling["samples_per_s"], *ceilings)
        ratios = paired_ratios(seconds, "torch")
        result: dict[str, Any] = {"n_rows": n_rows,
                                  "gemm_ceiling_samples_per_s_by_round": ceilings}
        rows = []
        for name in contenders:
            rate = n_rows / median(seconds[name])
            fraction = median([n_rows / t / c for t, c in zip(seconds[name], ceilings,
                                                              strict=True)])
            result[name] = {
                "epoch_seconds": seconds[name],
                "samples_per_s": rate,
                "fraction_of_gemm_ceiling": fraction,
                "speedup_vs_torch": ratios[name],
            }
            rows.append([
                name,
                f"{rate:,.0f}",
                f"{fraction:.0%}",
                f"{ratios[name]['median']:.2f}x",
                f"[{ratios[name]['min']:.2f}, {ratios[name]['max']:.2f}]",
            ])
        out["by_batch_size"][str(batch_size)] = result
        _print(
            f"Fit, batch {batch_size} ({n_rows:,} rows, {rounds} interleaved rounds)",
            rows,
            ["system", "samples/s", "of GEMM ceiling (paired)", "vs torch (median)",
             "per-round range"],
        )
    return out


def _tuned_torch(X: np.ndarray, y: np.ndarray, **kwargs: Any) -> System:
    return plain_torch(X, y, tuned=True, **kwargs)


# --------------------------------------------------------------------------- predict latency
def predict_latency(data: Any, *, n_train: int, calls: int, rounds: int) -> dict[str, Any]:
    """predict_proba on 1 row and on 10,000 rows, systems interleaved block by block."""
    X, y = data.X_train[:n_train], data.y_train[:n_train]
    contenders = {
        "torch": plain_torch(X, y, batch_size=256),
        "skorch": skorch_net(X, y, batch_size=256),
        "sklearn": sklearn_mlp(X, y, batch_size=256),
        "skdnn": skdnn_classifier(X, y, batch_size=256),
    }
    for system in contenders.values():
        system.epoch()
    one_row = np.ascontiguousarray(data.X_test[:1])
    many = np.ascontiguousarray(data.X_test[:10_000])
    out: dict[str, Any] = {"n_train": n_train}
    rows = []
    for label, X_new, n_calls in (("1_row", one_row, calls), ("10000_rows", many, 5)):
        times: dict[str, list[float]] = {name: [] for name in contenders}
        for system in contenders.values():  # warm-up
            system.predict_proba(X_new)
        for round_index in range(rounds):
            for name in rotated(list(contenders), round_index):
                predict = contenders[name].predict_proba
                times[name] += latency(lambda p=predict, x=X_new: p(x), calls=n_calls)
        out[label] = {name: {"median_s": median(t), "p90_s": float(np.quantile(t, 0.9))}
                      for name, t in times.items()}
    for name in contenders:
        one, big = out["1_row"][name]["median_s"], out["10000_rows"][name]["median_s"]
        rows.append([name, f"{one * 1e6:.0f} us", f"{big * 1e3:.1f} ms"])
    _print("predict_proba latency (median)", rows, ["system", "1 row", "10,000 rows"])
    out["inference_cache"] = _inference_cache(contenders["skdnn"], one_row, many, calls)
    out["batch_norm_folding"] = _batch_norm_folding(data, n_train, one_row, many, calls)
    return out


def _inference_cache(
    system: System, one_row: np.ndarray, many: np.ndarray, calls: int
) -> dict[str, Any]:
    """Latency with the cached inference network against rebuilding it every call."""
    clf = system.estimator  # type: ignore[attr-defined]
    if not hasattr(clf, "_inference_cache"):
        return {"available": False}
    out: dict[str, Any] = {"available": True}
    for label, X_new, n_calls in (("1_row", one_row, calls), ("10000_rows", many, 5)):

        def cold(x: np.ndarray = X_new) -> None:
            clf.__dict__.pop("_inference_cache", None)
            clf.predict_proba(x)

        def warm(x: np.ndarray = X_new) -> None:
            clf.predict_proba(x)

        warm()
        cold_times = latency(cold, calls=n_calls)
        warm_times = latency(warm, calls=n_calls)
        out[label] = {
            "cached_s": median(warm_times),
            "rebuilt_s": median(cold_times),
            "speedup": median(cold_times) / median(warm_times),
        }
    _print(
        "skdnn inference cache (predict_proba, median)",
        [[label, f"{v['cached_s'] * 1e6:.0f} us", f"{v['rebuilt_s'] * 1e6:.0f} us",
          f"{v['speedup']:.2f}x"] for label, v in out.items() if label != "available"],
        ["input", "cached", "rebuilt each call", "speedup"],
    )
    return out


def _batch_norm_folding(
    data: Any, n_train: int, one_row: np.ndarray, many: np.ndarray, calls: int
) -> dict[str, Any]:
    """Batch-norm network: folded inference against the unfolded module."""
    X, y = data.X_train[:n_train], data.y_train[:n_train]
    system = skdnn_classifier(X, y, batch_size=256, normalization="batch", name="skdnn-bn")
    system.epoch()
    clf = system.estimator  # type: ignore[attr-defined]
    with torch.inference_mode():
        module = clf.model_.eval()
        reference = torch.softmax(module(torch.from_numpy(many)).double(), dim=1).numpy()

        def unfolded(x: np.ndarray) -> np.ndarray:
            return torch.softmax(module(torch.from_numpy(x)).double(), dim=1).numpy()

    folded = clf.predict_proba(many)
    out = {"max_abs_difference": float(np.max(np.abs(folded - reference)))}
    for label, X_new, n_calls in (("1_row", one_row, calls), ("10000_rows", many, 5)):
        with torch.inference_mode():
            base = latency(lambda x=X_new: unfolded(x), calls=n_calls)
        fast = latency(lambda x=X_new: clf.predict_proba(x), calls=n_calls)
        out[label] = {"folded_predict_proba_s": median(fast), "unfolded_module_s": median(base)}
    _print(
        "Batch norm folded into the Linear (skdnn-bn predict_proba vs the raw unfolded module)",
        [[label, f"{v['folded_predict_proba_s'] * 1e6:.0f} us",
          f"{v['unfolded_module_s'] * 1e6:.0f} us"]
         for label, v in out.items() if label != "max_abs_difference"]
        + [["max |difference|", f"{out['max_abs_difference']:.1e}", ""]],
        ["input", "predict_proba (folded)", "raw module (unfolded)"],
    )
    return out


# --------------------------------------------------------------------------- scaling
def fit_scaling(
    data: Any, *, sizes: tuple[int, ...], epochs: int, rounds: int, batch_size: int
) -> dict[str, Any]:
    """skdnn fit time for growing row counts (interleaved); the cost should be linear."""

    def task(n: int):
        def run() -> None:
            from skdnn import DNNClassifier

            DNNClassifier(
                hidden_layer_sizes=HIDDEN,
                activation="relu",
                batch_size=batch_size,
                max_epochs=epochs,
                early_stopping=False,
                device="cpu",
                random_state=0,
            ).fit(data.X_train[:n], data.y_train[:n])

        return run

    seconds = interleave({str(n): task(n) for n in sizes}, rounds, warmup=0)
    fit = {n: median(seconds[str(n)]) for n in sizes}
    slope, intercept = np.polyfit(np.array(sizes, float), np.array([fit[n] for n in sizes]), 1)
    per_row = {n: fit[n] / n for n in sizes}
    out = {
        "epochs": epochs,
        "batch_size": batch_size,
        "seconds": {str(n): fit[n] for n in sizes},
        "us_per_row_epoch": {str(n): per_row[n] / epochs * 1e6 for n in sizes},
        "linear_fit": {"seconds_per_row": slope, "intercept_s": intercept},
        "largest_over_smallest_per_row": per_row[sizes[-1]] / per_row[sizes[0]],
    }
    _print(
        f"skdnn fit time vs rows ({epochs} epochs, batch {batch_size}, median of {rounds})",
        [[f"{n:,}", f"{fit[n]:.2f} s", f"{per_row[n] / epochs * 1e6:.1f} us"] for n in sizes],
        ["rows", "fit", "per row and epoch"],
    )
    return out


# --------------------------------------------------------------------------- time to accuracy
def time_to_accuracy(
    data: Any,
    *,
    contenders: dict[str, dict[str, Any]],
    targets: tuple[float, ...],
    budget_s: float,
    max_epochs: int,
) -> dict[str, Any]:
    """Training seconds until the test accuracy first reaches each target.

    Contenders train one epoch each in turn (the first one rotating), and the
    test accuracy is measured after every epoch outside the clock. A contender
    stops when it reached every target, spent ``budget_s`` of training time or
    ran ``max_epochs`` (for skdnn: its own ``max_epochs`` when given, which also
    sets the span of its learning-rate schedule; ``partial_fit`` continues it).
    """
    systems: dict[str, System] = {}
    limits: dict[str, int] = {}
    factories = {"torch": plain_torch, "torch-fused": _tuned_torch, "skorch": skorch_net,
                 "sklearn": sklearn_mlp, "skdnn": skdnn_classifier}
    for name, spec in contenders.items():
        spec = dict(spec)
        kind = spec.pop("system")
        limits[name] = spec.get("max_epochs", max_epochs) if kind == "skdnn" else max_epochs
        extra = {"name": name} if kind == "skdnn" else {}
        systems[name] = factories[kind](data.X_train, data.y_train, **spec, **extra)
    state = {name: {"train_s": 0.0, "curve": [], "reached": {}} for name in systems}
    active = list(systems)
    turn = 0
    while active:
        for name in rotated(active, turn):
            record = state[name]
            started = time.perf_counter()
            systems[name].epoch()
            record["train_s"] += time.perf_counter() - started
            accuracy = systems[name].accuracy(data.X_test, data.y_test)
            record["curve"].append([round(record["train_s"], 3), accuracy])
            for target in targets:
                if accuracy >= target and str(target) not in record["reached"]:
                    record["reached"][str(target)] = record["train_s"]
            if (
                len(record["reached"]) == len(targets)
                or record["train_s"] >= budget_s
                or len(record["curve"]) >= limits[name]
            ):
                active.remove(name)
        turn += 1
    rows = []
    for name, record in state.items():
        record["best_accuracy"] = max(a for _, a in record["curve"])
        record["config"] = {k: repr(v) if isinstance(v, tuple | dict) else v
                            for k, v in contenders[name].items()}
        reached = [record["reached"].get(str(t)) for t in targets]
        rows.append([
            name,
            *[f"{r:.1f} s" if r is not None else "-" for r in reached],
            f"{record['best_accuracy']:.4f}",
            len(record["curve"]),
            f"{record['train_s']:.1f} s",
        ])
    _print(
        "Time to test accuracy (training seconds; test accuracy after every epoch)",
        rows,
        ["contender", *[f"{t:.0%}" for t in targets], "best", "epochs", "trained"],
    )
    return {"targets": list(targets), "budget_s": budget_s, "contenders": state}


# --------------------------------------------------------------------------- parallel search
def parallel_search(
    data: Any,
    *,
    n_rows: int,
    rounds: int,
    with_dask: bool,
    n_iter: int = 6,
    cv: int = 3,
    epochs: int = 10,
) -> dict[str, Any]:
    """The same RandomizedSearchCV with n_jobs=1, n_jobs=2 and on a dask cluster.

    The loky workers are started (and warmed up by one tiny fit, see
    :func:`_warm_up`) before the clock runs: a session pays that once, not
    every search. The dask cluster is a
    ``LocalCluster`` of two single-threaded worker processes on 127.0.0.1, the
    shape of a real cluster (its nanny starts workers with one BLAS/OpenMP
    thread); they are warmed up before the clock runs too.
    """
    from joblib import Parallel, delayed, parallel_config
    from sklearn.model_selection import RandomizedSearchCV

    from skdnn import DNNClassifier

    X, y = data.X_train[:n_rows], data.y_train[:n_rows]
    space = {
        "learning_rate": [1e-3, 2e-3, 3e-3],
        "hidden_layer_sizes": [(100,), (200,), (100, 50)],
        "batch_size": [64, 128],
    }

    def search(n_jobs: int) -> RandomizedSearchCV:
        return RandomizedSearchCV(
            DNNClassifier(activation="relu", max_epochs=epochs, early_stopping=False,
                          device="cpu", random_state=0),
            space, n_iter=n_iter, cv=cv, n_jobs=n_jobs, random_state=0,
        )

    Parallel(n_jobs=2)(delayed(_warm_up)() for _ in range(2))  # start the workers
    tasks = {"n_jobs=1": lambda: search(1).fit(X, y), "n_jobs=2": lambda: search(2).fit(X, y)}
    with contextlib.ExitStack() as stack:
        if with_dask:
            from distributed import Client, LocalCluster

            warnings.filterwarnings("ignore", module="distributed")
            cluster = stack.enter_context(LocalCluster(
                n_workers=2, threads_per_worker=1, processes=True, protocol="tcp",
                host="127.0.0.1", dashboard_address=None,
            ))
            client = stack.enter_context(Client(cluster))
            client.run(_warm_up)  # as for loky: start-up is not the search's cost

            def on_dask() -> None:
                with parallel_config(backend="dask"):
                    search(-1).fit(X, y)

            tasks["dask (2 workers)"] = on_dask
        seconds = interleave(tasks, rounds, warmup=0)
    ratios = paired_ratios(seconds, "n_jobs=1")
    out = {"n_rows": n_rows, "n_iter": n_iter, "cv": cv, "epochs": epochs, "rounds": rounds,
           "seconds": seconds, "speedup_vs_n_jobs_1": ratios}
    _print(
        f"RandomizedSearchCV ({n_iter} candidates x {cv} folds + refit, {n_rows:,} rows, "
        f"{epochs} epochs)",
        [[name, f"{median(t):.1f} s", f"{ratios[name]['median']:.2f}x"]
         for name, t in seconds.items()],
        ["run", "time (median)", "speedup vs n_jobs=1"],
    )
    return out


def _warm_up() -> None:
    """What a worker does once: import skdnn and fit once (torch imports its compiler
    stack, ~1.5 s, when the first optimizer is built)."""
    from skdnn import DNNClassifier

    X = np.arange(8, dtype=np.float32).reshape(4, 2)
    DNNClassifier(hidden_layer_sizes=(4,), max_epochs=1, early_stopping=False,
                  device="cpu").fit(X, [0, 1, 0, 1])


# --------------------------------------------------------------------------- memory
_MEMORY_CHILD = Path(__file__).with_name("memmap_child.py")


def memmap_memory(*, n_rows: int, n_features: int) -> dict[str, Any]:
    """Peak memory of fitting on a numpy.memmap, each mode in a fresh process."""
    out: dict[str, Any] = {"n_rows": n_rows, "n_features": n_features}
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "X.f32"
        rng = np.random.default_rng(0)
        X = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32,
                                      shape=(n_rows, n_features))
        for start in range(0, n_rows, 8192):
            stop = min(start + 8192, n_rows)
            X[start:stop] = rng.random((stop - start, n_features), dtype=np.float32)
        X.flush()
        del X
        out["array_mb"] = n_rows * n_features * 4 / 2**20
        rows = []
        for mode in ("in_memory", "memmap_fit", "memmap_partial_fit"):
            result = subprocess.run(
                [sys.executable, str(_MEMORY_CHILD), str(path), mode],
                capture_output=True, text=True, check=False,
                env={**os.environ, "PYTHONWARNINGS": "ignore"},
            )
            if result.returncode != 0:
                out[mode] = {"error": result.stderr.strip().splitlines()[-1:]}
                rows.append([mode, "error", "", ""])
                continue
            record = json.loads(result.stdout.strip().splitlines()[-1])
            out[mode] = record
            rows.append([mode, f"{record['peak_anon_mb']:.0f} MB",
                         f"{record['peak_rss_mb']:.0f} MB", f"{record['fit_s']:.1f} s"])
    _print(
        f"Fit on a {out['array_mb']:.0f} MB float32 array (1 epoch, fresh process each)",
        rows, ["mode", "peak anonymous memory", "peak RSS (incl. file pages)", "fit"],
    )
    return out
