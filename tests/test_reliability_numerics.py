"""Reliability: numerically hard inputs for the exact path (issue 9).

Separable data without a penalty, more features than rows, near-duplicate rows and features
on wildly different scales: the exact path must warn (``IllConditionedHessianWarning``) or
stay exact, never return NaN or silently wrong numbers, and still agree with leave-one-out
retraining wherever leave-one-out is defined. Plus the scale test (slow): n = 10⁶, p = 100
within a stated memory bound, with a progress bar.
"""

import time
import tracemalloc
import warnings

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer
from sklearn.frozen import FrozenEstimator
from sklearn.linear_model import LinearRegression, LogisticRegression, Ridge
from sklearn.preprocessing import scale

from skinfluence import InfluenceScorer, LeaveOneOutScorer
from skinfluence.exceptions import IllConditionedHessianWarning
from skinfluence.metrics import agreement


def _model():
    # Newton's method to 1e-10 for both the scorer's fit and the leave-one-out refits, so
    # that the comparison measures the influence approximation, not the optimiser.
    return LogisticRegression(solver="newton-cholesky", tol=1e-10)


@pytest.fixture(scope="module")
def cancer():
    X, y = load_breast_cancer(return_X_y=True)
    idx = np.random.RandomState(0).permutation(len(y))
    return scale(X)[idx], y[idx]


def _all_finite(scorer, X_test, y_test):
    infl = scorer.influence(X_test, y_test)
    assert np.all(np.isfinite(scorer.scores_))
    assert np.all(np.isfinite(infl))
    assert np.all(np.isfinite(scorer.influence(X_test, y_test, aggregate="sum")))
    return infl


@pytest.mark.parametrize("damping", [0.0, 1e-2])
@pytest.mark.parametrize(
    "model", [LogisticRegression(penalty=None), LogisticRegression(C=np.inf)], ids=repr
)
def test_separable_data_without_penalty_warns_and_stays_finite(model, damping):
    """The maximum-likelihood fit does not exist: leave-one-out is undefined, so the promise
    is a warning that says so and finite (not NaN) numbers, with or without damping."""
    rng = np.random.RandomState(0)
    X = rng.randn(40, 2)
    y = (X[:, 0] > 0).astype(int)
    X[:, 0] += np.where(y == 1, 1.0, -1.0)  # a margin of 2: perfectly separable
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # penalty=None deprecation in sklearn
        warnings.filterwarnings("ignore", message=".*(lbfgs|iterations|converge).*")
        with pytest.warns(IllConditionedHessianWarning, match="separated"):
            scorer = InfluenceScorer(model, damping=damping).fit(X, y)
    _all_finite(scorer, X[:5], y[:5])
    assert np.all(scorer.scores_ >= 0)


def test_more_features_than_rows_agrees_with_leave_one_out(cancer):
    """p = 70 > n = 30: the l2 penalty keeps H positive definite; no warning, and influence
    agrees with actual leave-one-out (first order: Pearson 0.94 measured; Newton step 0.9999)."""
    X, y = cancer
    rng = np.random.RandomState(1)
    X_wide = np.hstack([X[:40], rng.randn(40, 40)])
    X_train, y_train, X_test, y_test = X_wide[:30], y[:30], X_wide[30:], y[30:40]
    with warnings.catch_warnings():
        warnings.simplefilter("error", IllConditionedHessianWarning)
        first = InfluenceScorer(_model()).fit(X_train, y_train)
        newton = InfluenceScorer(_model(), newton_step=True).fit(X_train, y_train)
    loo = LeaveOneOutScorer(_model()).fit(X_train, y_train)
    truth = loo.influence(X_test, y_test)
    assert agreement(_all_finite(first, X_test, y_test), truth).pearson > 0.9
    assert agreement(_all_finite(newton, X_test, y_test), truth).pearson > 0.999
    assert agreement(newton.scores_, loo.scores_).pearson > 0.999


def test_more_features_than_rows_ridge_is_exact_and_ols_warns(cancer):
    X, _ = cancer
    rng = np.random.RandomState(2)
    X_wide = np.hstack([X[:40], rng.randn(40, 40)])
    y = X_wide @ rng.randn(70) + rng.randn(40)
    X_train, y_train, X_test, y_test = X_wide[:30], y[:30], X_wide[30:], y[30:]
    ridge = InfluenceScorer(Ridge(alpha=1.0), newton_step=True).fit(X_train, y_train)
    loo = LeaveOneOutScorer(Ridge(alpha=1.0)).fit(X_train, y_train)
    # The Newton step is the exact leave-one-out for a quadratic objective: only rounding
    # separates them (measured 1e-13 relative).
    np.testing.assert_allclose(ridge.scores_, loo.scores_, rtol=1e-8, atol=1e-12)
    np.testing.assert_allclose(
        ridge.influence(X_test, y_test), loo.influence(X_test, y_test), rtol=1e-8, atol=1e-10
    )
    # Unpenalised least squares with p > n interpolates: H is singular. Documented outcome:
    # a warning naming the smallest eigenvalue and suggesting damping, finite numbers.
    with pytest.warns(IllConditionedHessianWarning, match="damping"):
        ols = InfluenceScorer(LinearRegression()).fit(X_train, y_train)
    _all_finite(ols, X_test, y_test)


def test_near_duplicate_rows(cancer):
    """Five rows repeated with 1e-9 noise: no warning (H stays well conditioned with the
    penalty), twins get the same self-influence, agreement with leave-one-out holds."""
    X, y = cancer
    rng = np.random.RandomState(3)
    X_train = np.vstack([X[:100], X[:5] + 1e-9 * rng.randn(5, X.shape[1])])
    y_train = np.r_[y[:100], y[:5]]
    X_test, y_test = X[200:210], y[200:210]
    with warnings.catch_warnings():
        warnings.simplefilter("error", IllConditionedHessianWarning)
        scorer = InfluenceScorer(_model()).fit(X_train, y_train)
    infl = _all_finite(scorer, X_test, y_test)
    # Twins differ by 1e-9 in x: their self-influence differs by O(1e-9) (measured 5e-11).
    np.testing.assert_allclose(scorer.scores_[:5], scorer.scores_[100:], rtol=1e-6, atol=1e-9)
    loo = LeaveOneOutScorer(_model()).fit(X_train, y_train)
    # Measured Pearson 0.981 (influence), 0.977 (self-influence).
    assert agreement(infl, loo.influence(X_test, y_test)).pearson > 0.95
    assert agreement(scorer.scores_, loo.scores_).pearson > 0.95


def test_exactly_collinear_features_warn_without_penalty(cancer):
    X, _ = cancer
    X_train = np.hstack([X[:80, :5], X[:80, :1] * 2.0])  # column 5 = 2 × column 0
    y = X_train[:, :5] @ np.arange(1.0, 6.0) + np.random.RandomState(4).randn(80)
    with pytest.warns(IllConditionedHessianWarning, match="smallest eigenvalue"):
        scorer = InfluenceScorer(LinearRegression()).fit(X_train, y)
    _all_finite(scorer, X_train[:5], y[:5])


def _equilibrated_reference(scorer, X, y, X_test, y_test):
    """Exact influence and self-influence for the same fitted model, solved after Jacobi
    equilibration (H = D A D with D = sqrt(diag H)): cond(A) is ~4e3 here, whatever the
    feature scales, so this solve keeps ~13 digits."""
    adapter = scorer.adapter_
    H = adapter.hessian(X, y)
    d = np.sqrt(np.diag(H))
    A = H / d[:, None] / d[None, :]
    G = adapter.gradients(X, y).dense_rows(slice(None))
    G_test = adapter.gradients(X_test, y_test).dense_rows(slice(None))
    solve = lambda V: np.linalg.solve(A, V / d[:, None]) / d[:, None]  # noqa: E731
    return np.einsum("ij,ji->i", G, solve(G.T)), (G @ solve(G_test.T)).T


# (factor, tolerance relative to the largest entry). H has condition 4e8 at 10⁴ and 4e12 at
# 10⁶, but the direct solver factorises the diagonally scaled D⁻½HD⁻½ (condition ~4e3 in
# both cases), so neither warns and both keep ~10 digits against the equilibrated reference.
@pytest.mark.parametrize(("factor", "rtol"), [(1e4, 1e-8), (1e6, 1e-8)])
def test_badly_scaled_features_stay_accurate(cancer, factor, rtol):
    """Three features multiplied by 10⁴ or 10⁶: exact to the stated digits against an
    equilibrated solve, finite, and in agreement with leave-one-out retraining."""
    X, y = cancer
    X_train, y_train, X_test, y_test = X[:150].copy(), y[:150], X[200:220].copy(), y[200:220]
    X_train[:, :3] *= factor
    X_test[:, :3] *= factor
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", IllConditionedHessianWarning)
        scorer = InfluenceScorer(_model()).fit(X_train, y_train)
    # Badly scaled features are not an ill-posed problem: no warning, no damping suggested.
    assert not any(issubclass(w.category, IllConditionedHessianWarning) for w in caught)
    infl = _all_finite(scorer, X_test, y_test)
    self_ref, infl_ref = _equilibrated_reference(scorer, X_train, y_train, X_test, y_test)
    np.testing.assert_allclose(infl, infl_ref, rtol=0, atol=rtol * np.abs(infl_ref).max())
    np.testing.assert_allclose(scorer.scores_, self_ref, rtol=0, atol=rtol * self_ref.max())
    loo = LeaveOneOutScorer(_model()).fit(X_train, y_train)
    # Ground truth on the scaled problem itself: Pearson 0.959 measured (first order).
    assert agreement(infl, loo.influence(X_test, y_test)).pearson > 0.95


# -- scale ---------------------------------------------------------------------------------
def _dense_problem(n, p, seed=0):
    rng = np.random.RandomState(seed)
    X = rng.standard_normal((n, p))
    y = (X[:, :10].sum(axis=1) + 2.0 * rng.standard_normal(n) > 0).astype(np.int64)
    return X, y


@pytest.mark.slow
def test_one_million_rows_within_memory_bound(capsys, tmp_path):
    """n = 10⁶, p = 100 dense float64 (X is 800 MB): fit (self-influence of every row),
    influence on 10 test rows in memory and on 100 into a disk-backed ``out=`` memmap, with a
    progress bar, in at most 1/4 of X's size of extra memory (tracemalloc peak; X and the
    prefitted model excluded; the 10 × 10⁶ in-memory result, 80 MB, included; the 800 MB
    memmap is not memory). Measured: see benchmarks/README.md (bench_scale.py)."""
    n, p = 1_000_000, 100
    X, y = _dense_problem(n, p)
    model = LogisticRegression(solver="newton-cholesky").fit(X, y)
    out = np.lib.format.open_memmap(tmp_path / "influence.npy", mode="w+", shape=(100, n))
    tracemalloc.start()
    start = time.perf_counter()
    try:
        scorer = InfluenceScorer(FrozenEstimator(model), verbose=1).fit(X, y)
        infl = scorer.influence(X[:10], y[:10])
        scorer.influence(X[:100], y[:100], out=out)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    seconds = time.perf_counter() - start
    print(f"n=1e6 p=100: fit + influence {seconds:.1f} s, peak {peak / 1e6:.0f} MB")
    assert scorer.scores_.shape == (n,) and np.all(np.isfinite(scorer.scores_))
    assert np.all(scorer.scores_ >= 0)
    assert infl.shape == (10, n) and np.all(np.isfinite(infl))
    assert peak < X.nbytes / 4, f"peak {peak / 1e6:.0f} MB for X of {X.nbytes / 1e6:.0f} MB"
    assert "InfluenceScorer" in capsys.readouterr().err  # the tqdm bar was drawn
    # The memmap holds the same numbers (another test-block size sums in another order:
    # 3e-10 relative on entries ~1e-12 that cancel, 1e-12 of the largest entry), and a
    # training row's influence on itself is its self-influence (two code paths).
    np.testing.assert_allclose(out[:10], infl, rtol=0, atol=1e-12 * np.abs(infl).max())
    np.testing.assert_allclose(np.diagonal(out[:, :100]), scorer.scores_[:100], rtol=1e-8)
