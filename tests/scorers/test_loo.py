"""LeaveOneOutScorer: the ground truth must itself be right."""

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.neighbors import KNeighborsClassifier

from skinfluence import LeaveOneOutScorer


def test_ridge_matches_closed_form_leave_one_out(breast_cancer):
    # For least squares the leave-one-out residual is e_i / (1 − h_i) (hat-matrix identity),
    # so the actual self-influence is (e_i/(1−h_i))² − e_i², exactly.
    X, _ = breast_cancer
    X = X[:80, :6]
    y = X @ np.arange(1.0, 7.0) + np.random.RandomState(0).randn(80)
    alpha = 2.0
    loo = LeaveOneOutScorer(Ridge(alpha=alpha)).fit(X, y)
    Xt = np.hstack([X, np.ones((80, 1))])
    P = np.diag([alpha] * 6 + [0.0])
    hat = Xt @ np.linalg.solve(Xt.T @ Xt + P, Xt.T)
    e = y - hat @ y
    expected = (e / (1 - np.diag(hat))) ** 2 - e**2
    np.testing.assert_allclose(loo.scores_, expected, rtol=1e-8)


def test_warm_start_parallel_and_cold_agree(breast_cancer):
    X, y = breast_cancer
    X, y = X[:60], y[:60]
    warm = LeaveOneOutScorer(LogisticRegression(), n_jobs=2).fit(X, y)
    cold = LeaveOneOutScorer(LogisticRegression(), warm_start=False).fit(X, y)
    # Both refits converge to 1e-10: the same optimum up to ~1e-8 in the loss.
    np.testing.assert_allclose(warm.scores_, cold.scores_, atol=1e-7)
    np.testing.assert_allclose(
        warm.influence(X[:5], y[:5]), cold.influence(X[:5], y[:5]), atol=1e-7
    )
    assert len(warm.estimators_) == 60
    assert warm.influence(X[:5], y[:5], aggregate="sum").shape == (60,)


def test_any_classifier_and_progress_bar(breast_cancer, capsys):
    X, y = breast_cancer
    loo = LeaveOneOutScorer(KNeighborsClassifier(n_neighbors=5), verbose=1).fit(X[:40], y[:40])
    assert loo.scores_.shape == (40,)
    assert np.all(np.isfinite(loo.scores_))
    assert "LeaveOneOutScorer" in capsys.readouterr().err


def test_frozen_estimator_is_rejected(breast_cancer):
    from sklearn.frozen import FrozenEstimator

    X, y = breast_cancer
    with pytest.raises(TypeError, match="retrains"):
        LeaveOneOutScorer(FrozenEstimator(LogisticRegression().fit(X, y))).fit(X[:20], y[:20])
