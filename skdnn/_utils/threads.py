"""Size torch's CPU threads to a fit's share of the machine when fits run side by side.

torch uses every core by default. When a hyperparameter search runs several
fits at once, each fit's torch then starts as many threads as there are cores:
with ``n`` fits on ``n`` cores that is ``n * n`` busy threads, and OpenMP
teams that wait on each other's preempted threads run slower than one fit
alone. Each fit should use ``cores // concurrent fits`` threads.

Where the fits run decides who knows that share:

* joblib's process backends (loky, the default of scikit-learn's ``n_jobs``,
  and multiprocessing) start each worker with ``OMP_NUM_THREADS`` and friends
  set to ``cpu_count() // n_jobs``, and torch reads them when it is imported in
  the worker: nothing to do.
* Fits that share one process -- threads of a ``dask.distributed`` worker
  (e.g. ``LocalCluster(processes=False)``), joblib's threading backend, the
  user's own threads -- all see the same torch setting. :class:`FitThreads`
  (a training callback) covers them: it counts the fits running in this process (and, inside a dask
  worker, the task threads of the dask workers living in it), and sets the
  calling thread's torch threads to the share of each fit. OpenMP's thread
  count is a per-thread setting, so this does not touch other threads.

torch's own setting is only ever lowered, never raised, and restored when the
fit ends.
"""

from __future__ import annotations

import sys
import threading

import torch

_lock = threading.Lock()
_running_fits = 0


def available_cpus() -> int:
    """CPUs this process may use (affinity and cgroup quotas included, as joblib counts)."""
    try:
        from joblib import cpu_count

        return max(int(cpu_count()), 1)
    except Exception:  # pragma: no cover - joblib is a dependency; be safe anyway
        import os

        return os.cpu_count() or 1


def dask_task_threads() -> int | None:
    """Task threads of the dask workers in this process, when called from a dask task."""
    if "distributed" not in sys.modules:
        return None
    try:
        from distributed import get_worker

        worker = get_worker()
    except (ImportError, ValueError):
        return None
    try:  # every worker of this process shares its CPUs (LocalCluster(processes=False))
        from distributed.worker import Worker

        running = [w for w in list(Worker._instances) if w.status.name == "running"]
        return max(sum(w.state.nthreads for w in running), worker.state.nthreads, 1)
    except Exception:  # pragma: no cover - private layout changed: this worker alone
        return max(int(worker.state.nthreads), 1)


def fit_thread_share(concurrent_fits: int) -> int | None:
    """torch threads for one of ``concurrent_fits`` fits in this process, or None (no limit)."""
    concurrent = max(concurrent_fits, dask_task_threads() or 1)
    if concurrent <= 1:
        return None
    return max(available_cpus() // concurrent, 1)


class FitThreads:
    """The one owner of torch's thread count during a training run.

    A training callback (see :class:`skdnn.training.setup.Callback`): counts the
    run as a running fit when it begins, sizes torch's threads to the fit's
    share after every epoch (following fits that started or ended meanwhile)
    and restores the calling thread's setting when the run ends. Nothing else
    in skdnn sets torch's thread count while training.
    """

    def __init__(self) -> None:
        self.initial = 0
        self.current = 0

    def on_train_begin(self, run: object) -> None:
        """Count this fit and size the threads."""
        global _running_fits
        with _lock:
            _running_fits += 1
        self.initial = self.current = torch.get_num_threads()
        self.refresh()

    def on_epoch_end(self, run: object, record: object) -> None:
        """Resize the threads to the share of fits running now."""
        self.refresh()

    def on_train_end(self, run: object) -> None:
        """Stop counting this fit and restore torch's setting."""
        global _running_fits
        with _lock:
            _running_fits -= 1
        if self.current != self.initial:
            torch.set_num_threads(self.initial)
            self.current = self.initial

    def refresh(self) -> None:
        """Set torch's threads to this fit's share now."""
        share = fit_thread_share(_running_fits)
        wanted = self.initial if share is None else min(share, self.initial)
        if wanted != self.current:
            torch.set_num_threads(wanted)
            self.current = wanted
