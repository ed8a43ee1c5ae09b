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


def _newton_cases(breast_cancer, wine):
    import scipy.sparse as sp
    from sklearn.linear_model import LinearRegression

    X, y = breast_cancer[0][:90], breast_cancer[1][:90]
    rng = np.random.RandomState(0)
    sw = rng.uniform(0.2, 3.0, len(y))
    y_reg = X[:, :5] @ np.arange(1.0, 6.0) + rng.randn(len(y))
    Xs = sp.csr_matrix(np.where(np.abs(X) > 1.0, X, 0.0))
    Xw, yw = wine
    return {
        "binary": (LogisticRegression(), X, y, None),
        "no-intercept-C10": (LogisticRegression(C=10.0, fit_intercept=False), X, y, None),
        "sample-weight": (LogisticRegression(), X, y, sw),
        "class-weight-dict": (LogisticRegression(class_weight={0: 2.0, 1: 0.5}), X, y, None),
        "multinomial": (LogisticRegression(), Xw[:90], yw[:90], None),
        "sparse": (LogisticRegression(), Xs, y, None),
        "ridge-2-targets": (Ridge(alpha=3.0), X, np.c_[y_reg, -y_reg + 1], sw),
        "ols": (LinearRegression(), X[:, :8], y_reg, None),
    }


@pytest.mark.parametrize(
    "case",
    [
        "binary",
        "no-intercept-C10",
        "sample-weight",
        "class-weight-dict",
        "multinomial",
        "sparse",
        "ridge-2-targets",
        "ols",
    ],
)
def test_newton_refits_equal_the_models_own_cold_refits(breast_cancer, wine, case):
    # Ground truth: scikit-learn's own solver refitted from scratch without each row.
    # Both stop at max|gradient| ≤ 1e-10 (mean form), so they meet the same optimum up to
    # ~1e-8 in the losses (measured ≤ 3.5e-8 across these cases; least squares ~1e-12).
    est, X, y, sw = _newton_cases(breast_cancer, wine)[case]
    newton = LeaveOneOutScorer(est).fit(X, y, sample_weight=sw)
    cold = LeaveOneOutScorer(est, warm_start=False).fit(X, y, sample_weight=sw)
    assert newton.refit_method_ == "newton"
    assert cold.refit_method_ == "refit"
    assert newton.n_iter_.max() >= 1  # rows fitted to ~1e-10 residual need none
    np.testing.assert_allclose(newton.scores_, cold.scores_, atol=1e-7)
    np.testing.assert_allclose(
        newton.influence(X[:7], y[:7]), cold.influence(X[:7], y[:7]), atol=1e-7
    )
    # The leave-one-out models are ordinary fitted estimators of the same type.
    model = newton.estimators_[3]
    assert type(model) is type(est)
    np.testing.assert_allclose(model.coef_, cold.estimators_[3].coef_, atol=1e-6)
    np.testing.assert_allclose(
        model.predict(X[:20]), cold.estimators_[3].predict(X[:20]), rtol=1e-6
    )


@pytest.mark.parametrize("case", ["binary", "no-intercept-C10", "sample-weight", "multinomial"])
def test_newton_refits_in_row_chunks_and_small_blocks_equal_cold_refits(
    breast_cancer, wine, case, monkeypatch
):
    from skinfluence.scorers import _loo_newton

    # Blocks of 17 refits and gradient passes over chunks of at most 11 rows (the default
    # sizes put these 90 rows in one chunk): the chunked sums give the same refits.
    est, X, y, sw = _newton_cases(breast_cancer, wine)[case]
    cold = LeaveOneOutScorer(est, warm_start=False).fit(X, y, sample_weight=sw)
    monkeypatch.setattr(_loo_newton, "_DENSE_BLOCK", 17)
    monkeypatch.setattr(_loo_newton, "_CHUNK_BYTES", 8 * 17 * 3 * 11)
    chunked = LeaveOneOutScorer(est).fit(X, y, sample_weight=sw)
    assert chunked.refit_method_ == "newton"
    np.testing.assert_allclose(chunked.scores_, cold.scores_, atol=1e-7)
    np.testing.assert_allclose(
        chunked.influence(X[:7], y[:7]), cold.influence(X[:7], y[:7]), atol=1e-7
    )


def test_newton_refits_are_not_used_where_the_objective_differs(breast_cancer):
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X, y = breast_cancer[0][:40], breast_cancer[1][:40]
    # A pipeline refits its scaler without the row too; 'balanced' class weights change with
    # the rows; refit_tol=None keeps the model's own (loose) tolerance.
    for est, kwargs in [
        (make_pipeline(StandardScaler(), LogisticRegression()), {}),
        (LogisticRegression(class_weight="balanced"), {}),
        (LogisticRegression(), {"refit_tol": None}),
    ]:
        assert LeaveOneOutScorer(est, **kwargs).fit(X, y).refit_method_ == "refit"


def test_newton_refits_refuse_a_non_stationary_start(breast_cancer):
    from skinfluence.models import adapter_for
    from skinfluence.scorers._loo_newton import newton_leave_one_out

    X, y = breast_cancer[0][:60], breast_cancer[1][:60]
    model = LogisticRegression(solver="newton-cholesky", tol=1e-10).fit(X, y)
    thetas, _, converged = newton_leave_one_out(adapter_for(model), X, y, tol=1e-10)
    assert thetas is not None and converged.all()
    model.coef_ = model.coef_ * 1.01  # no longer the minimiser of the objective
    thetas, _, converged = newton_leave_one_out(adapter_for(model), X, y, tol=1e-10)
    assert thetas is None and not converged.any()


def test_unconverged_newton_refits_are_refitted(breast_cancer, monkeypatch):
    import functools

    from skinfluence.scorers import _loo, _loo_newton

    X, y = breast_cancer[0][:60], breast_cancer[1][:60]
    # One iteration is not enough for any refit at 1e-10: every row but the few zero-
    # gradient ones falls back to scikit-learn's fit, and the result is unchanged.
    monkeypatch.setattr(
        _loo,
        "newton_leave_one_out",
        functools.partial(_loo_newton.newton_leave_one_out, max_iter=1),
    )
    mixed = LeaveOneOutScorer(LogisticRegression()).fit(X, y)
    monkeypatch.undo()
    newton = LeaveOneOutScorer(LogisticRegression()).fit(X, y)
    assert mixed.refit_method_ in ("mixed", "refit")
    assert (mixed.n_iter_ == 0).sum() > 50
    np.testing.assert_allclose(mixed.scores_, newton.scores_, atol=1e-7)


def test_high_leverage_rows_switch_to_exact_newton_steps():
    from sklearn.datasets import make_classification

    from skinfluence.scorers import _loo_newton

    # A few rows far out along rare directions: leaving one out moves θ far from θ̂, where
    # the full-data curvature is a poor preconditioner.
    X, y = make_classification(n_samples=80, n_features=10, random_state=1)
    X[:4] *= 8.0
    newton = LeaveOneOutScorer(LogisticRegression(C=10.0)).fit(X, y)
    cold = LeaveOneOutScorer(LogisticRegression(C=10.0), warm_start=False).fit(X, y)
    assert newton.refit_method_ == "newton"
    np.testing.assert_allclose(newton.scores_, cold.scores_, atol=1e-7)
    # Without the switch to exact steps these rows take many more iterations.
    slow_rate = _loo_newton._SLOW_RATE
    try:
        _loo_newton._SLOW_RATE = np.inf
        linear_only = LeaveOneOutScorer(LogisticRegression(C=10.0)).fit(X, y)
    finally:
        _loo_newton._SLOW_RATE = slow_rate
    assert linear_only.n_iter_[:4].max() > newton.n_iter_[:4].max()


def test_newton_refits_are_not_used_on_a_singular_hessian(recwarn):
    from sklearn.linear_model import LinearRegression

    # p > n: the least-squares minimiser without a row is not unique; scikit-learn's own
    # refits decide which one (the minimum-norm solution), silently.
    rng = np.random.RandomState(0)
    X, y = rng.randn(12, 20), rng.randn(12)
    loo = LeaveOneOutScorer(LinearRegression()).fit(X, y)
    assert loo.refit_method_ == "refit"
    assert not [w for w in recwarn if "Hessian" in str(w.message)]
