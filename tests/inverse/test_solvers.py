"""Approximate inverse-Hessian solvers against the exact `direct` path."""

import warnings

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from skinfluence import InfluenceScorer
from skinfluence.exceptions import ConvergenceWarning
from skinfluence.inverse import (
    ArnoldiSolver,
    ConjugateGradientSolver,
    DirectSolver,
    IdentitySolver,
    LissaSolver,
    available_methods,
)
from skinfluence.models import adapter_for


def _pearson(a, b):
    return np.corrcoef(np.ravel(a), np.ravel(b))[0, 1]


@pytest.fixture(scope="module")
def wine_problem(wine):
    """Multinomial logistic regression with intercept (a flat direction) on wine."""
    X, y = wine
    adapter = adapter_for(LogisticRegression(C=1.0, tol=1e-10, max_iter=10_000).fit(X, y))
    V = adapter.gradients(X[:10], y[:10]).dense_rows(slice(None)).T
    return adapter, X, y, V


def test_all_solvers_registered():
    assert {"direct", "cg", "lissa", "arnoldi", "identity"} <= set(available_methods())


@pytest.mark.parametrize("block", [True, False])
def test_cg_equals_direct_on_linear_model(wine_problem, block):
    adapter, X, y, V = wine_problem
    exact = DirectSolver(damping=0.01).fit(adapter, X, y).solve(V)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        approx = (
            ConjugateGradientSolver(damping=0.01, rtol=1e-10, block=block)
            .fit(adapter, X, y)
            .solve(V)
        )
    # rtol 1e-10 on the residual, cond(H) ~ 1e3: solution error ≲ 1e-7 relative.
    np.testing.assert_allclose(approx, exact, rtol=1e-6, atol=1e-8 * np.abs(exact).max())


def test_block_cg_and_scipy_cg_take_the_same_iterates(wine_problem):
    adapter, X, y, V = wine_problem
    a = ConjugateGradientSolver(maxiter=5, block=True).fit(adapter, X, y)
    b = ConjugateGradientSolver(maxiter=5, block=False).fit(adapter, X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        np.testing.assert_allclose(a.solve(V), b.solve(V), rtol=1e-8, atol=1e-12)


def test_cg_not_converging_warns_with_residual_and_damping(wine_problem):
    adapter, X, y, V = wine_problem
    solver = ConjugateGradientSolver(maxiter=2).fit(adapter, X, y)
    with pytest.warns(ConvergenceWarning, match=r"residual .*damping"):
        solver.solve(V)
    assert solver.last_residual_ > 1e-6


def test_cg_on_indefinite_matrix_warns(wine_problem):
    adapter, X, y, V = wine_problem

    class Indefinite:
        n_params = adapter.n_params

        def null_space(self):
            return None

        def hvp(self, X, y, V, sample_weight=None):
            d = np.linspace(-1, 1, self.n_params)
            return d[:, None] * V

    with pytest.warns(ConvergenceWarning, match="not positive definite"):
        ConjugateGradientSolver().fit(Indefinite(), X, y).solve(V)


def test_arnoldi_full_rank_is_exact_and_low_rank_keeps_top_eigenspace(wine_problem):
    adapter, X, y, V = wine_problem
    exact = DirectSolver(damping=0.1).fit(adapter, X, y)
    full = ArnoldiSolver(damping=0.1, rank=adapter.n_params).fit(adapter, X, y)
    np.testing.assert_allclose(full.solve(V), exact.solve(V), rtol=1e-8, atol=1e-12)
    low = ArnoldiSolver(damping=0.1, rank=10).fit(adapter, X, y)
    H = adapter.hessian(X, y) + adapter.null_space() @ adapter.null_space().T
    top = np.linalg.eigvalsh(H)[-10:]
    # ARPACK converges the top eigenvalues to machine precision.
    np.testing.assert_allclose(np.sort(low.eigenvalues_), top, rtol=1e-8)
    # On that subspace the solve is exact: H (solve(Hv)) projects v onto it.
    Q = low.eigenvectors_
    np.testing.assert_allclose(low.solve(H @ Q + 0.1 * Q), Q, atol=1e-8)


def test_lissa_converges_to_direct(wine_problem):
    adapter, X, y, V = wine_problem
    exact = DirectSolver(damping=1.0).fit(adapter, X, y).solve(V)
    full = LissaSolver(damping=1.0, depth=3000).fit(adapter, X, y).solve(V)
    # Deterministic full-batch recursion: error (1 - λmin/scale)^depth is below 1e-6 here.
    np.testing.assert_allclose(full, exact, rtol=1e-5, atol=1e-6 * np.abs(exact).max())
    stochastic = (
        LissaSolver(damping=1.0, depth=500, batch_size=50, repeats=2, random_state=0)
        .fit(adapter, X, y)
        .solve(V)
    )
    assert _pearson(stochastic, exact) > 0.95  # minibatch noise, 2 repeats


def test_lissa_with_too_small_scale_raises(wine_problem):
    adapter, X, y, V = wine_problem
    with pytest.raises(FloatingPointError, match="scale"):
        LissaSolver(scale=1e-3, depth=2000).fit(adapter, X, y).solve(V)


def test_identity_is_gradient_similarity(wine_problem):
    adapter, X, y, V = wine_problem
    np.testing.assert_array_equal(IdentitySolver(damping=1.0).fit(adapter, X, y).solve(V), V / 2)
    scorer = InfluenceScorer(LogisticRegression(), method="identity").fit(X, y)
    G = adapter_for(scorer.estimator_).gradients(X, y).dense_rows(slice(None))
    np.testing.assert_allclose(scorer.influence(X[:3], y[:3]), G[:3] @ G.T, rtol=1e-10)


@pytest.mark.parametrize("method", ["cg", "arnoldi", "lissa"])
def test_influence_scorer_runs_every_method(breast_cancer, method):
    X, y = breast_cancer
    X, y = X[:100], y[:100]
    params = {"cg": {"rtol": 1e-10}, "arnoldi": {"rank": 30}, "lissa": {"depth": 300}}[method]
    damping = 10.0 if method == "lissa" else 0.1  # LiSSA's depth grows with cond(H + λI)
    exact = InfluenceScorer(LogisticRegression(), method="direct", damping=damping).fit(X, y)
    approx = InfluenceScorer(
        LogisticRegression(), method=method, damping=damping, solver_params=params
    ).fit(X, y)
    # Breast cancer: p = 31 ≤ rank + 1 makes arnoldi exact; cg runs to 1e-10 and lissa's
    # error factor (1 − λmin/scale)^300 is small at this damping: all agree beyond 0.999.
    assert _pearson(approx.influence(X[:20], y[:20]), exact.influence(X[:20], y[:20])) > 0.999
    assert _pearson(approx.scores_, exact.scores_) > 0.999
