"""Retraining-based scorers run their fits on a dask cluster through joblib, unchanged."""

import joblib
import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.tree import DecisionTreeClassifier

from skinfluence import BanzhafScorer, LeaveOneOutScorer, MemorizationScorer

distributed = pytest.importorskip("dask.distributed")


def _on_cluster(processes, fit):
    """Run ``fit()`` under joblib's dask backend; return its result and the number of dask
    tasks the cluster ran (0 would mean joblib silently stayed local)."""
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=processes, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        with distributed.get_task_stream(client) as stream, joblib.parallel_config("dask"):
            result = fit()
        return result, len(stream.data)


def _memorization(X, y):
    return MemorizationScorer(
        DecisionTreeClassifier(random_state=0), n_estimators=16, random_state=0
    ).fit(X, y)


def test_memorization_on_threaded_local_cluster(wine):
    X, y = wine
    local = _memorization(X, y)
    remote, n_tasks = _on_cluster(False, lambda: _memorization(X, y))
    assert n_tasks >= 2  # the fits were split over the cluster's 2 workers
    np.testing.assert_array_equal(remote.in_bag_, local.in_bag_)
    np.testing.assert_allclose(remote.scores_, local.scores_, equal_nan=True)


def test_banzhaf_on_threaded_local_cluster(wine):
    """BanzhafScorer shares MemorizationScorer's engine, so its subsets go to dask too."""
    X, y = wine

    def fit():
        return BanzhafScorer(
            DecisionTreeClassifier(random_state=0), n_estimators=16, random_state=0
        ).fit(X, y)

    local = fit()
    remote, n_tasks = _on_cluster(False, fit)
    assert n_tasks >= 2
    np.testing.assert_array_equal(remote.in_bag_, local.in_bag_)
    np.testing.assert_allclose(remote.scores_, local.scores_, equal_nan=True)


@pytest.mark.slow
def test_scorers_on_process_local_cluster(breast_cancer, wine):
    X, y = breast_cancer[0][:60], breast_cancer[1][:60]
    # warm_start=False: the default Newton refits of a linear model run in-process.
    loo_local = LeaveOneOutScorer(LogisticRegression(), warm_start=False).fit(X, y)
    loo_remote, n_tasks = _on_cluster(
        True, lambda: LeaveOneOutScorer(LogisticRegression(), warm_start=False).fit(X, y)
    )
    assert n_tasks >= 2
    # Same refits on other processes: equal up to floating-point summation order.
    np.testing.assert_allclose(loo_remote.scores_, loo_local.scores_, rtol=1e-6, atol=1e-12)

    Xw, yw = wine
    mem_remote, n_tasks = _on_cluster(True, lambda: _memorization(Xw, yw))
    assert n_tasks >= 2
    np.testing.assert_allclose(mem_remote.scores_, _memorization(Xw, yw).scores_, equal_nan=True)


def test_linear_datamodeling_score_on_threaded_local_cluster(wine):
    """The LDS retrains on the same engine: its subset models go to dask too."""
    from skinfluence.metrics import linear_datamodeling_score

    X, y = wine
    A = np.random.default_rng(0).normal(size=(20, len(y) - 20))

    def score():
        return linear_datamodeling_score(
            A, DecisionTreeClassifier(), X[20:], y[20:], X[:20], y[:20], n_subsets=8,
            random_state=0, return_details=True,
        )  # fmt: skip

    local = score()
    remote, n_tasks = _on_cluster(False, score)
    assert n_tasks >= 2
    np.testing.assert_array_equal(remote.in_subset, local.in_subset)
    np.testing.assert_allclose(remote.actual, local.actual)
