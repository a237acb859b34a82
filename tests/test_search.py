"""Hyperparameter searches in parallel: thread sizing per fit, and dask as the engine."""

from __future__ import annotations

import threading
import warnings

import numpy as np
import pytest
import torch
from joblib import Parallel, delayed, parallel_config
from sklearn.model_selection import RandomizedSearchCV

from skdnn import DNNClassifier
from skdnn._utils import threads

SPACE = {"learning_rate": [1e-3, 3e-3, 1e-2], "hidden_layer_sizes": [(8,), (16,)]}

#: torch.get_num_threads() seen during training, per batch (fits in this process).
SEEN: list[int] = []


def _record_threads(X, generator):
    SEEN.append(torch.get_num_threads())
    return X


@pytest.fixture
def data():
    rng = np.random.RandomState(0)
    X = rng.rand(120, 6).astype(np.float32)
    y = (X[:, 0] + X[:, 1] > 1).astype(int)
    return X, y


def _share(concurrent: int) -> int:
    return min(torch.get_num_threads(), max(threads.available_cpus() // concurrent, 1))


def test_fit_thread_share_rules(monkeypatch):
    assert threads.dask_task_threads() is None  # not in a dask worker
    assert threads.fit_thread_share(1) is None  # one fit: torch keeps its setting
    monkeypatch.setattr(threads, "available_cpus", lambda: 8)
    assert threads.fit_thread_share(2) == 4
    assert threads.fit_thread_share(3) == 2
    assert threads.fit_thread_share(16) == 1


def test_fits_in_threads_share_the_cpus(data):
    # Two fits in two threads of one process: once both run, each trains with
    # its share of the CPUs; the caller's setting is untouched afterwards.
    X, y = data
    before = torch.get_num_threads()
    both_running = threading.Barrier(2, timeout=60)
    seen: dict[int, list[int]] = {0: [], 1: []}

    def fit(index: int) -> None:
        def record(X_batch, generator):
            if len(seen[index]) % 2 == 0:  # each epoch starts in step with the other fit
                both_running.wait()
            seen[index].append(torch.get_num_threads())
            return X_batch

        DNNClassifier(
            hidden_layer_sizes=(8,),
            max_epochs=3,
            batch_size=60,
            augment=record,
            early_stopping=False,
            device="cpu",
            random_state=0,
        ).fit(X, y)

    workers = [threading.Thread(target=fit, args=(index,)) for index in range(2)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    for counts in seen.values():
        assert len(counts) == 6  # 3 epochs of 2 batches
        assert counts[2:] == [_share(2)] * 4  # from the second epoch on, both are known
    assert torch.get_num_threads() == before


def test_loky_workers_train_with_their_share(data):
    # joblib starts each loky worker with OMP_NUM_THREADS = cpu_count() // n_jobs,
    # which torch reads at import: each fit uses its share of the CPUs.
    X, y = data

    def fit_and_report():
        seen = []

        def record(X_batch, generator):
            seen.append(torch.get_num_threads())
            return X_batch

        DNNClassifier(
            hidden_layer_sizes=(8,),
            max_epochs=1,
            batch_size=60,
            augment=record,
            early_stopping=False,
            device="cpu",
            random_state=0,
        ).fit(X, y)
        return seen

    results = Parallel(n_jobs=2, backend="loky")(delayed(fit_and_report)() for _ in range(2))
    expected = max(threads.available_cpus() // 2, 1)
    assert all(counts == [expected] * 2 for counts in results)


def test_search_on_a_dask_cluster(data):
    distributed = pytest.importorskip("distributed")
    X, y = data
    estimator = DNNClassifier(
        max_epochs=3,
        batch_size=30,
        augment=_record_threads,
        early_stopping=False,
        device="cpu",
        random_state=0,
    )

    def search():
        # refit=False: the refit runs alone in this thread, not on the cluster.
        return RandomizedSearchCV(estimator, SPACE, n_iter=3, cv=2, refit=False, random_state=0)

    expected = search().fit(X, y)
    SEEN.clear()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # dask's notes about ports and event loops
        with (
            distributed.LocalCluster(
                n_workers=1,
                threads_per_worker=2,
                processes=False,
                protocol="tcp",
                host="127.0.0.1",
                dashboard_address=None,
            ) as cluster,
            distributed.Client(cluster),
            parallel_config(backend="dask"),
        ):
            on_dask = search().set_params(n_jobs=-1).fit(X, y)
    assert on_dask.best_params_ == expected.best_params_
    np.testing.assert_allclose(
        on_dask.cv_results_["mean_test_score"], expected.cv_results_["mean_test_score"]
    )
    # The tasks ran in the two threads of one in-process worker: each fit got half the CPUs.
    assert SEEN and set(SEEN) == {_share(2)}
