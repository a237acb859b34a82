"""Fit once on an .npy file and print peak memory as JSON (run by sections.memmap_memory).

Usage: ``python memmap_child.py PATH MODE`` with MODE ``in_memory`` (the array is
read into memory, then ``fit``), ``memmap_fit`` (a read-only numpy.memmap is
passed to ``fit``) or ``memmap_partial_fit`` (the memmap is passed to
``partial_fit``, one epoch, which streams its batches from the file).

Peak anonymous memory (what the process allocated itself) is sampled from
/proc every 5 ms; the file pages a memmap maps are page cache, counted in RSS
but reclaimable, and reported separately.
"""

from __future__ import annotations

import json
import sys
import threading
import time

import numpy as np


def _status() -> dict[str, float]:
    values = {}
    with open("/proc/self/status") as handle:
        for line in handle:
            key, _, rest = line.partition(":")
            if key in ("RssAnon", "VmHWM", "VmRSS"):
                values[key] = float(rest.split()[0]) / 1024  # kB -> MB
    return values


class PeakSampler(threading.Thread):
    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.peak_anon = 0.0
        self.running = True

    def run(self) -> None:
        while self.running:
            self.peak_anon = max(self.peak_anon, _status()["RssAnon"])
            time.sleep(0.005)


def main(path: str, mode: str) -> None:
    from skdnn import DNNClassifier

    sampler = PeakSampler()
    baseline = _status()["RssAnon"]
    sampler.start()
    X = np.load(path) if mode == "in_memory" else np.load(path, mmap_mode="r")
    y = np.arange(len(X)) % 10
    params = dict(hidden_layer_sizes=(300, 100), activation="relu", batch_size=256,
                  max_epochs=1, early_stopping=False, device="cpu", random_state=0)
    started = time.perf_counter()
    if mode == "memmap_partial_fit":
        DNNClassifier(**params).partial_fit(X, y, classes=np.arange(10))
    else:
        DNNClassifier(**params).fit(X, y)
    fit_s = time.perf_counter() - started
    sampler.running = False
    sampler.join()
    status = _status()
    print(json.dumps({
        "mode": mode,
        "baseline_anon_mb": baseline,
        "peak_anon_mb": sampler.peak_anon,
        "peak_rss_mb": status["VmHWM"],
        "fit_s": fit_s,
    }))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
