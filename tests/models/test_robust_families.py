"""Influence of LinearSVC/LinearSVR (squared losses), HuberRegressor, KernelRidge and
Lasso/ElasticNet (and their CV forms) against actual leave-one-out retraining.

Ground truth is scikit-learn's own cold refits (``LeaveOneOutScorer(warm_start=False)``, the
model's tolerance tightened to 1e-10): they owe nothing to skinfluence's objective. Agreement
is Pearson over all (test row, removed row) pairs; the measured values are in comments, the
bars a little below them. The contract itself (gradients, Hessians, stationarity, penalty
shares) is checked on every family by ``test_adapter_common.py``.
"""

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.datasets import load_breast_cancer, load_diabetes, load_iris, make_classification
from sklearn.kernel_ridge import KernelRidge
from sklearn.linear_model import ElasticNet, ElasticNetCV, HuberRegressor, Lasso, LassoCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler, scale
from sklearn.svm import LinearSVC, LinearSVR

from skinfluence import InfluenceScorer, LeaveOneOutScorer
from skinfluence.metrics import agreement
from skinfluence.models import GeneralizedLinear, HuberRegressorAdapter, adapter_for

LOO = {"warm_start": False, "n_jobs": 1}


def _pearson(a, b):
    return agreement(a, b).pearson


def _diabetes(n_train=120, n_test=30):
    X, y = load_diabetes(return_X_y=True)
    X = scale(X)
    y = (y - y.mean()) / y.std()
    return X[:n_train], y[:n_train], X[n_train : n_train + n_test], y[n_train : n_train + n_test]


def _influences(model, X, y, Xt, yt, sw=None, fixed=None, newton=True):
    first = InfluenceScorer(model).fit(X, y, sample_weight=sw).influence(Xt, yt)
    step = None
    if newton:
        step = InfluenceScorer(model, newton_step=True).fit(X, y, sample_weight=sw)
        step = step.influence(Xt, yt)
    loo = LeaveOneOutScorer(fixed or model, **LOO).fit(X, y, sample_weight=sw)
    return first, step, loo


# -- LinearSVC / LinearSVR -----------------------------------------------------------------
def test_linear_svc_binary_matches_retraining():
    X, y = make_classification(180, 5, n_informative=3, n_redundant=0, flip_y=0.1, random_state=0)
    model = LinearSVC(C=1.0, dual=False, tol=1e-10)
    first, step, loo = _influences(model, X[:120], y[:120], X[120:], y[120:])
    truth = loo.influence(X[120:], y[120:])
    assert _pearson(first, truth) > 0.99  # measured 0.9954 (0.9999 at n=300)
    assert _pearson(step, truth) > 0.998  # measured 0.9989 (1.0000 at n=300)


def test_linear_svc_one_vs_rest_matches_retraining():
    X, y = load_iris(return_X_y=True)
    order = np.random.RandomState(0).permutation(len(y))
    X, y = scale(X)[order], y[order]
    model = LinearSVC(C=1.0, dual=False, tol=1e-10)
    first, step, loo = _influences(model, X[:100], y[:100], X[100:], y[100:])
    truth = loo.influence(X[100:], y[100:])
    assert _pearson(first, truth) > 0.99  # measured 0.995
    # One setosa support row has leverage ≈ 1 (removing it brings other rows inside the
    # margin): its single Newton step is far off (Pearson 0.289 with newton_refine=0); the
    # refit iterated with the active set updated (newton_refine="auto") is exact: 0.9988.
    assert _pearson(step, truth) > 0.998
    single = InfluenceScorer(model, newton_step=True, newton_refine=0).fit(X[:100], y[:100])
    assert _pearson(single.influence(X[100:], y[100:]), truth) < 0.5


@pytest.mark.parametrize(
    ("C", "first_bar", "newton_bar"),
    # measured first order / single Newton step / refined ("auto", 18 of 300 rows)
    [
        (0.05, 0.91, 0.9995),
        (1.0, 0.6, 0.9995),
    ],  # 0.9216 / 0.9918 / 0.9998; 0.6474 / 0.8456 / 0.9997
)
def test_linear_svc_nearly_separable_matches_retraining(C, first_bar, newton_bar):
    # Weakly regularised, nearly separable: few rows inside the margin, and removing one
    # changes the active set. First order is a linearisation and cannot follow; the refined
    # Newton step (semi-smooth Newton on the generalised Hessian, with a line search where
    # the active set oscillates) reaches the refits.
    X, y = load_breast_cancer(return_X_y=True)
    idx = np.random.RandomState(0).permutation(len(y))
    X, y = scale(X)[idx], y[idx]
    model = LinearSVC(C=C, dual=False, tol=1e-10, max_iter=100000)
    first, step, loo = _influences(model, X[:300], y[:300], X[300:350], y[300:350])
    truth = loo.influence(X[300:350], y[300:350])
    assert _pearson(first, truth) > first_bar
    assert _pearson(step, truth) > newton_bar


def test_linear_svr_squared_epsilon_insensitive_matches_retraining():
    X, y, Xt, yt = _diabetes()
    sw = np.random.RandomState(1).uniform(0.5, 2.0, len(y))
    model = LinearSVR(loss="squared_epsilon_insensitive", epsilon=0.2, dual=False, tol=1e-10)
    first, step, loo = _influences(model, X, y, Xt, yt, sw=sw)
    truth = loo.influence(Xt, yt)
    assert _pearson(first, truth) > 0.96  # measured 0.965
    assert _pearson(step, truth) > 0.998  # measured 0.9990


@pytest.mark.parametrize(
    ("model", "match"),
    [
        (LinearSVC(loss="hinge", dual=True), "non-smooth"),
        (LinearSVC(penalty="l1", dual=False), "l1 penalty"),
        (LinearSVC(multi_class="crammer_singer"), "crammer_singer"),
        (LinearSVC(class_weight="balanced", dual=False), "dict"),
        (LinearSVR(loss="epsilon_insensitive"), "non-smooth"),
    ],
)
def test_unsupported_linear_svm_variants_are_refused_with_the_retraining_scorers(model, match):
    X, y = load_iris(return_X_y=True)
    if isinstance(model, LinearSVR):
        y = y.astype(float)
    model.fit(X, y)
    with pytest.raises(TypeError, match=match) as err:
        adapter_for(model)
    assert "LeaveOneOutScorer" in str(err.value) or "dict" in str(err.value)


def test_linear_svc_intercept_penalty_follows_intercept_scaling():
    X, y = make_classification(60, 3, n_informative=2, n_redundant=0, random_state=0)
    adapter = adapter_for(LinearSVC(C=0.5, intercept_scaling=4.0, dual=False).fit(X, y))
    assert isinstance(adapter, GeneralizedLinear)
    np.testing.assert_allclose(adapter.penalty_diagonal(), [2.0, 2.0, 2.0, 2.0 / 16])


# -- HuberRegressor ------------------------------------------------------------------------
def _outlier_regression(n=160, seed=0):
    rng = np.random.RandomState(seed)
    X = rng.randn(n, 5)
    y = X @ rng.randn(5) + 0.5 * rng.randn(n)
    y[: n // 10] += rng.choice([-1, 1], n // 10) * rng.uniform(3, 8, n // 10)
    return X[:120], y[:120], X[120:], y[120:]


@pytest.mark.parametrize("sparse", [False, True])
def test_huber_influence_including_the_scale_matches_retraining(sparse):
    X, y, Xt, yt = _outlier_regression()
    sw = np.random.RandomState(2).uniform(0.5, 2.0, len(y))
    if sparse:
        X, Xt = sp.csr_matrix(X), sp.csr_matrix(Xt)
    model = HuberRegressor(alpha=0.1, max_iter=1000, tol=1e-10)
    first, _, loo = _influences(model, X, y, Xt, yt, sw=sw, newton=False)
    assert _pearson(first, loo.influence(Xt, yt)) > 0.99  # measured 0.9986 (n=200)


def test_huber_influence_needs_the_scale_term():
    # Dropping σ from θ (the scale held fixed) degrades the agreement: σ is a parameter.
    X, y, Xt, yt = _diabetes()
    model = HuberRegressor(alpha=1.0, max_iter=1000, tol=1e-10)
    scorer = InfluenceScorer(model).fit(X, y)
    truth = LeaveOneOutScorer(model, **LOO).fit(X, y).influence(Xt, yt)
    adapter = scorer.adapter_
    assert isinstance(adapter, HuberRegressorAdapter) and adapter.n_params == 12
    H = adapter.hessian(X, y)
    Gt = adapter.gradients(Xt, yt).dense_rows(slice(None))
    G = adapter.gradients(X, y).dense_rows(slice(None))
    fixed_scale = Gt[:, :-1] @ np.linalg.solve(H[:-1, :-1], G[:, :-1].T)
    full = scorer.influence(Xt, yt)
    np.testing.assert_allclose(full, Gt @ np.linalg.solve(H, G.T), rtol=1e-8, atol=1e-12)
    assert _pearson(full, truth) > 0.98  # measured 0.986 (0.996 at n=200)
    assert _pearson(full, truth) > _pearson(fixed_scale, truth)


# -- KernelRidge ---------------------------------------------------------------------------
def _laplacian(a, b):
    return float(np.exp(-0.3 * np.abs(a - b).sum()))


@pytest.mark.parametrize(
    ("params", "targets", "weighted", "sparse"),
    [
        ({"kernel": "rbf", "gamma": 0.05, "alpha": 0.1}, 1, False, False),
        ({"kernel": "poly", "degree": 2, "alpha": 1.0}, 1, True, False),
        ({"kernel": "laplacian", "gamma": 0.1, "alpha": [0.1, 1.0]}, 2, False, True),
        ({"kernel": "linear", "alpha": 1.0}, 1, False, False),  # rank 10 < n
        ({"kernel": _laplacian, "alpha": 0.3}, 1, True, False),
    ],
)
def test_kernel_ridge_newton_step_is_exact_leave_one_out(params, targets, weighted, sparse):
    n = 60 if callable(params["kernel"]) else 100
    X, y, Xt, yt = _diabetes(n, 20)
    if targets == 2:
        y = np.column_stack([y, np.sin(X[:, 0])])
        yt = np.column_stack([yt, np.sin(Xt[:, 0])])
    if sparse:
        X, Xt = sp.csr_matrix(X), sp.csr_matrix(Xt)
    sw = np.random.RandomState(3).uniform(0.5, 2.0, n) if weighted else None
    model = KernelRidge(**params)
    first, step, loo = _influences(model, X, y, Xt, yt, sw=sw)
    truth = loo.influence(Xt, yt)
    scale_ = np.abs(truth).max()
    np.testing.assert_allclose(step, truth, rtol=0, atol=1e-8 * scale_)  # measured ~1e-13
    np.testing.assert_allclose(loo.scores_, step_scores(model, X, y, sw), atol=1e-8 * scale_)
    assert _pearson(first, truth) > 0.9  # measured 0.914-0.95 here (0.972-0.991 at n=200)
    # LeaveOneOutScorer's own Newton refits (the default) give the same models
    warm = LeaveOneOutScorer(model).fit(X, y, sample_weight=sw)
    assert warm.refit_method_ == "newton"
    np.testing.assert_allclose(warm.influence(Xt, yt), truth, atol=1e-8 * scale_)


def step_scores(model, X, y, sw):
    """Self-influence of the exact (Newton-step) leave-one-out."""
    return InfluenceScorer(model, newton_step=True).fit(X, y, sample_weight=sw).scores_


def test_kernel_ridge_in_a_pipeline_and_in_chunks():
    X, y, Xt, yt = _diabetes(80, 10)
    pipe = make_pipeline(StandardScaler(), KernelRidge(kernel="rbf", gamma=0.1, alpha=0.5))
    scorer = InfluenceScorer(pipe, newton_step=True).fit(X, y)
    truth = LeaveOneOutScorer(pipe[-1], **LOO).fit(pipe[0].fit_transform(X), y)
    expected = truth.influence(pipe[0].transform(Xt), yt)
    np.testing.assert_allclose(scorer.influence(Xt, yt), expected, atol=1e-8)
    chunked = InfluenceScorer(pipe, chunk_size=7).fit(X, y)
    np.testing.assert_allclose(
        chunked.influence(Xt, yt), InfluenceScorer(pipe).fit(X, y).influence(Xt, yt)
    )


# -- Lasso / ElasticNet --------------------------------------------------------------------
_ALPHAS = [0.2, 0.3, 0.5]  # strong enough that the support is the true one for most rows


def _sparse_regression(n=160, seed=0):
    rng = np.random.RandomState(seed)
    X = rng.randn(n, 12)
    y = X[:, :4] @ rng.uniform(1, 2, 4) + rng.randn(n)
    return X[:120], y[:120], X[120:], y[120:]


@pytest.mark.parametrize(
    ("make", "weighted"),
    [
        (lambda X, y: (Lasso(alpha=0.2, tol=1e-10), None), False),
        (lambda X, y: (ElasticNet(alpha=0.3, l1_ratio=0.5, tol=1e-10), None), True),
        (
            lambda X, y: (
                LassoCV(alphas=_ALPHAS, cv=3, tol=1e-10),
                Lasso(alpha=LassoCV(alphas=_ALPHAS, cv=3, tol=1e-10).fit(X, y).alpha_),
            ),
            False,
        ),
        (
            lambda X, y: (
                ElasticNetCV(alphas=_ALPHAS, l1_ratio=[0.5, 0.8], cv=3, tol=1e-10),
                ElasticNet(
                    **{
                        k: getattr(m, k + "_")
                        for m in [
                            ElasticNetCV(alphas=_ALPHAS, l1_ratio=[0.5, 0.8], cv=3, tol=1e-10).fit(
                                X, y
                            )
                        ]
                        for k in ("alpha", "l1_ratio")
                    }
                ),
            ),
            False,
        ),
    ],
    ids=["Lasso", "ElasticNet-weighted", "LassoCV", "ElasticNetCV"],
)
def test_sparse_linear_models_match_retraining_where_the_support_is_kept(make, weighted):
    X, y, Xt, yt = _sparse_regression()
    sw = np.random.RandomState(4).uniform(0.5, 2.0, len(y)) if weighted else None
    model, fixed = make(X, y)
    first, step, loo = _influences(model, X, y, Xt, yt, sw=sw, fixed=fixed)
    truth = loo.influence(Xt, yt)
    support = np.flatnonzero(loo.estimator_.coef_)
    kept = np.array([np.array_equal(np.flatnonzero(m.coef_), support) for m in loo.estimators_])
    assert kept.sum() >= 30
    # measured: 0.9984-0.9996 first order, Newton 1.0000 (exact for Lasso; ElasticNet's
    # share of the l2 curvature stays in H: 0.9999999)
    assert _pearson(first[:, kept], truth[:, kept]) > 0.998
    assert _pearson(step[:, kept], truth[:, kept]) > 0.99999
    assert _pearson(first, truth) > 0.94  # all rows, the support changing for some: 0.95-0.999


def test_lasso_penalty_share_matters():
    # Without each row's share of the penalty (the mean form), first order drifts.
    X, y, Xt, yt = _sparse_regression()
    model = Lasso(alpha=0.2, tol=1e-10)
    scorer = InfluenceScorer(model).fit(X, y)
    truth = LeaveOneOutScorer(model, **LOO).fit(X, y).influence(Xt, yt)
    adapter = scorer.adapter_
    H = adapter.hessian(X, y)
    Gt = adapter.gradients(Xt, yt).dense_rows(slice(None))
    G = adapter.gradients(X, y).dense_rows(slice(None))
    without_share = Gt @ np.linalg.solve(H, G.T)
    # measured 0.9986 with the share, 0.9932 without
    assert _pearson(scorer.influence(Xt, yt), truth) > 0.998
    assert _pearson(without_share, truth) < _pearson(scorer.influence(Xt, yt), truth) - 0.003


def test_lasso_refuses_two_dimensional_targets():
    X, y, _, _ = _sparse_regression()
    with pytest.raises(TypeError, match="one target at a time"):
        adapter_for(Lasso(alpha=0.1).fit(X, np.column_stack([y, y])))


# -- Pipelines and LeaveOneOutScorer's Newton refits -------------------------------------------
@pytest.mark.parametrize(
    "model",
    [
        LinearSVC(C=0.5, dual=False, tol=1e-10),
        HuberRegressor(alpha=0.1, max_iter=1000, tol=1e-10),
        Lasso(alpha=0.05, tol=1e-10),
    ],
    ids=["LinearSVC", "HuberRegressor", "Lasso"],
)
def test_a_pipeline_ending_in_the_model_is_the_model_on_transformed_rows(model):
    X, y, Xt, yt = _diabetes(80, 10)
    if isinstance(model, LinearSVC):
        y, yt = (y > 0).astype(int), (yt > 0).astype(int)
    raw, raw_t = 10 * X + 3, 10 * Xt + 3  # the scaler undoes this
    pipe = make_pipeline(StandardScaler(), model)
    scorer = InfluenceScorer(pipe).fit(raw, y)
    bare = InfluenceScorer(model).fit(scorer.estimator_[0].transform(raw), y)
    expected = bare.influence(scorer.estimator_[0].transform(raw_t), yt)
    np.testing.assert_allclose(scorer.influence(raw_t, yt), expected, rtol=1e-7, atol=1e-10)


@pytest.mark.parametrize(
    "model",
    [
        LinearSVC(C=0.05, dual=False),
        LinearSVR(loss="squared_epsilon_insensitive", epsilon=0.2, dual=False),
    ],
    ids=["LinearSVC", "LinearSVR"],
)
def test_newton_refits_of_the_squared_svms_are_the_cold_refits(model):
    # The refits minimise the same C¹ objective (semismooth Newton on the generalised
    # Hessian); their fixed point is liblinear's.
    X, y, Xt, yt = _diabetes(60, 10)
    if isinstance(model, LinearSVC):
        y, yt = (y > 0).astype(int), (yt > 0).astype(int)
    warm = LeaveOneOutScorer(model).fit(X, y)
    cold = LeaveOneOutScorer(model, **LOO).fit(X, y)
    # liblinear's tol is relative to its first gradient: LinearSVC at tol=1e-10 stops at
    # max|∇J|/Σw ≈ 5e-8 here, above the 1e-8 the Newton refits require of θ̂, so they fall
    # back to scikit-learn's refits (the safe side); LinearSVR gets to 2e-9.
    assert warm.refit_method_ == ("newton" if isinstance(model, LinearSVR) else "refit")
    truth = cold.influence(Xt, yt)
    np.testing.assert_allclose(warm.influence(Xt, yt), truth, atol=1e-6 * np.abs(truth).max())
