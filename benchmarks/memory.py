"""Peak memory of ``DNNClassifier.fit`` on an in-memory float32 array, beyond the array itself.

Each case runs in a fresh process: it imports skdnn, builds ``X`` (C-contiguous
float32) and ``y``, fits once on 2,048 rows of it (so that the libraries torch
loads lazily, ~100 MiB of code and thread pools, are in memory), resets the
kernel's peak-RSS counter (``/proc/self/clear_refs``), fits on all rows for one
epoch and reads the peak back (``VmHWM`` in ``/proc/self/status``).
The peak counts every allocation, torch's included (``tracemalloc`` sees only
Python's and NumPy's). Reported: the resident memory after loading, the peak
during ``fit`` and the extra memory as a multiple of ``X.nbytes``:

* ``no split`` (``early_stopping=False``): the training tensors share ``X``'s
  memory, so the extra is the network, its optimizer and a batch, not a copy of X;
* ``10% split`` (the default early stopping): only the validation rows are copied.

Usage::

    python benchmarks/memory.py                       # 200,000 x 784, as issue 10 measured
    python benchmarks/memory.py --rows 50000          # smaller, on a busy machine

Linux only (``/proc``).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

MIB = 2**20
CASES = {"no split": False, "10% split": True}


def _status_mib(key: str) -> float:
    with open("/proc/self/status") as handle:
        for line in handle:
            name, _, rest = line.partition(":")
            if name == key:
                return float(rest.split()[0]) * 1024 / MIB  # kB
    raise KeyError(key)


def child(n_rows: int, n_features: int, early_stopping: bool) -> dict[str, Any]:
    """Fit once in this process and return its memory figures in MiB."""
    import numpy as np
    from sklearn.base import clone

    from skdnn import DNNClassifier

    rng = np.random.default_rng(0)
    X = rng.standard_normal((n_rows, n_features), dtype=np.float32)
    y = rng.integers(0, 10, n_rows)
    clf = DNNClassifier(
        hidden_layer_sizes=(32,), max_epochs=1, batch_size=1024, early_stopping=early_stopping,
        device="cpu", random_state=0,
    )
    clone(clf).fit(X[:2048].copy(), y[:2048])  # warm-up: lazily loaded libraries
    with open("/proc/self/clear_refs", "w") as handle:
        handle.write("5")  # peak RSS := current RSS
    loaded = _status_mib("VmHWM")
    clf.fit(X, y)
    peak = _status_mib("VmHWM")
    size = X.nbytes / MIB
    return {
        "X_mib": round(size, 1),
        "loaded_mib": round(loaded, 1),
        "peak_mib": round(peak, 1),
        "extra_mib": round(peak - loaded, 1),
        "extra_per_X": round((peak - loaded) / size, 3),
    }


def measure(n_rows: int, n_features: int) -> dict[str, dict[str, Any]]:
    """Every case of :data:`CASES`, each in a fresh interpreter."""
    results = {}
    for case, early_stopping in CASES.items():
        command = [sys.executable, str(Path(__file__).resolve()), "--child",
                   str(n_rows), str(n_features), str(int(early_stopping))]
        output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
        results[case] = json.loads(output.strip().splitlines()[-1])
    return results


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--features", type=int, default=784)
    parser.add_argument("--child", nargs=3, type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        n_rows, n_features, early_stopping = args.child
        print(json.dumps(child(n_rows, n_features, bool(early_stopping))))
        return
    print(f"fit on {args.rows:,} x {args.features} float32, one epoch, peak RSS (MiB)")
    print(f"{'case':<10} {'X':>8} {'loaded':>8} {'peak':>8} {'extra':>8} {'extra/X':>8}")
    for case, row in measure(args.rows, args.features).items():
        print(f"{case:<10} {row['X_mib']:>8} {row['loaded_mib']:>8} {row['peak_mib']:>8} "
              f"{row['extra_mib']:>8} {row['extra_per_X']:>8}")


if __name__ == "__main__":
    main()
