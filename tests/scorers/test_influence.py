"""InfluenceScorer: exact against an independent dense computation, close to actual LOO."""

import warnings

import joblib
import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.base import clone
from sklearn.frozen import FrozenEstimator
from sklearn.linear_model import LinearRegression, LogisticRegression, Ridge
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skinfluence import InfluenceScorer, LeaveOneOutScorer
from skinfluence.exceptions import IllConditionedHessianWarning
from skinfluence.metrics import agreement
from tests.models.test_linear import _sklearn_reference

# LOO refits with solver="newton-cholesky" at tol=1e-10 are exact to ~1e-9 in the loss, far
# below the smallest influences that matter here (~1e-4). warm_start=False: scikit-learn's own
# refits, so that the ground truth owes nothing to skinfluence's objective (the faster Newton
# refits are checked against these in test_loo.py).
LOO = {"n_jobs": 2, "warm_start": False}


def _split(data, n_test=20):
    X, y = data
    return X[n_test:], y[n_test:], X[:n_test], y[:n_test]


def _dense_influence(model, X, y, Xt, yt, sample_weight=None):
    """w_i g_tᵀ H⁻¹ g_i with materialised gradients and Hessian of sklearn's objective."""
    from skinfluence.models import adapter_for

    weights = adapter_for(model).row_weights(y, sample_weight)
    G, H = _sklearn_reference(model, X, y, weights)
    Gt, _ = _sklearn_reference(model, Xt, yt)
    K = len(model.classes_)
    if K > 2 and model.fit_intercept:  # the exact flat direction: solve on its complement
        b = np.zeros((X.shape[1] + 1, K))
        b[-1] = 1 / np.sqrt(K)
        H = H + np.outer(b.ravel(), b.ravel())
    return Gt @ np.linalg.solve(H, G.T) * weights


@pytest.mark.parametrize("dataset", ["breast_cancer", "digits_1_vs_7", "wine"])
@pytest.mark.parametrize(
    "params,weighted",
    [
        ({}, False),
        ({"fit_intercept": False}, False),
        ({}, True),
        ({"class_weight": "balanced"}, True),
    ],
)
def test_influence_equals_dense_reference(request, dataset, params, weighted):
    X, y, Xt, yt = _split(request.getfixturevalue(dataset))
    X, y = X[:200], y[:200]
    sw = np.random.RandomState(0).uniform(0.5, 2.0, len(y)) if weighted else None
    scorer = InfluenceScorer(LogisticRegression(max_iter=5000, **params)).fit(
        X, y, sample_weight=sw
    )
    ref = _dense_influence(scorer.estimator_, X, y, Xt, yt, sw)
    # 1e-8 relative: both sides are float64 solves of a well-conditioned (penalised) system.
    np.testing.assert_allclose(
        scorer.influence(Xt, yt), ref, rtol=1e-8, atol=1e-8 * np.abs(ref).max()
    )
    diag = np.einsum("ij,ji->i", *_sklearn_pair(scorer.estimator_, X, y, sw))
    np.testing.assert_allclose(scorer.scores_, diag, rtol=1e-8, atol=1e-10)


def _sklearn_pair(model, X, y, sw):
    """(G, w·H⁻¹Gᵀ) for self-influence from the reference."""
    from skinfluence.models import adapter_for

    weights = adapter_for(model).row_weights(y, sw)
    G, H = _sklearn_reference(model, X, y, weights)
    K = len(model.classes_)
    if K > 2 and model.fit_intercept:
        b = np.zeros((X.shape[1] + 1, K))
        b[-1] = 1 / np.sqrt(K)
        H = H + np.outer(b.ravel(), b.ravel())
    return G, np.linalg.solve(H, G.T) * weights


@pytest.mark.parametrize(
    "dataset,first_pearson,newton_pearson",
    [
        # Bars from the foundation issue; first-order Pearson is dominated by a few
        # high-leverage pairs (see the docs), Spearman stays high.
        ("breast_cancer", 0.93, 0.97),
        ("wine", None, 0.99),
    ],
)
def test_agreement_with_actual_leave_one_out(request, dataset, first_pearson, newton_pearson):
    X, y, Xt, yt = _split(request.getfixturevalue(dataset))
    model = LogisticRegression(C=1.0)
    actual = LeaveOneOutScorer(model, **LOO).fit(X, y)
    loo = actual.influence(Xt, yt)
    first = InfluenceScorer(model).fit(X, y)
    newton = InfluenceScorer(model, newton_step=True).fit(X, y)
    a1, a2 = agreement(first.influence(Xt, yt), loo), agreement(newton.influence(Xt, yt), loo)
    if first_pearson is not None:
        assert a1.spearman >= 0.98
        assert a1.pearson >= first_pearson
    assert a2.pearson >= newton_pearson
    # Self-influence: the Newton step is far closer to actual self-LOO (measured 0.99 vs 0.63
    # on breast-cancer), because a row's own leverage is exactly what first order ignores.
    assert agreement(newton.scores_, actual.scores_).pearson >= 0.97


def test_agreement_digits_1_vs_7(digits_1_vs_7):
    X, y, Xt, yt = _split(digits_1_vs_7)
    loo = LeaveOneOutScorer(LogisticRegression(), **LOO).fit(X, y).influence(Xt, yt)
    first = agreement(InfluenceScorer(LogisticRegression()).fit(X, y).influence(Xt, yt), loo)
    newton = InfluenceScorer(LogisticRegression(), newton_step=True).fit(X, y)
    assert first.spearman >= 0.98
    assert first.pearson >= 0.95
    assert agreement(newton.influence(Xt, yt), loo).pearson >= 0.99


def test_ridge_newton_step_is_exact_leave_one_out(breast_cancer):
    X, y_cls = breast_cancer
    y = X[:, 0] * 2 + X[:, 1] + np.random.RandomState(0).randn(len(y_cls))
    X, y, Xt, yt = X[20:], y[20:], X[:20], y[:20]
    loo = LeaveOneOutScorer(Ridge(alpha=3.0)).fit(X, y)
    newton = InfluenceScorer(Ridge(alpha=3.0), newton_step=True).fit(X, y)
    # Closed-form leave-one-out: equal up to rounding, not just correlated.
    np.testing.assert_allclose(newton.influence(Xt, yt), loo.influence(Xt, yt), atol=1e-9)
    np.testing.assert_allclose(newton.scores_, loo.scores_, atol=1e-9)
    assert agreement(newton.influence(Xt, yt), loo.influence(Xt, yt)).pearson >= 0.9999


def test_newton_step_matches_brute_force_step(wine):
    # The Woodbury per-row solve equals forming (H − w_i ∇²ℓ_i)⁻¹ w_i ∇ℓ_i explicitly.
    X, y, Xt, yt = _split(wine)
    scorer = InfluenceScorer(LogisticRegression(), newton_step=True).fit(X, y)
    adapter = scorer.adapter_
    H = adapter.hessian(X, y) + adapter.null_space() @ adapter.null_space().T
    G = adapter.gradients(X, y)
    for i in (0, 7):
        Hi = adapter.hessian(X[[i]], y[[i]]) - np.diag(adapter.penalty_diagonal())
        step = np.linalg.solve(H - Hi, G.dense_rows([i])[0])
        eta = adapter.outputs(Xt) + (Xt @ step.reshape(-1, 3)[:-1] + step.reshape(-1, 3)[-1])
        expected = adapter.loss_from_outputs(eta, yt) - adapter.loss(Xt, yt)
        np.testing.assert_allclose(scorer.influence(Xt, yt)[:, i], expected, rtol=1e-7, atol=1e-12)


def test_aggregate_explain_out_and_dtype(breast_cancer, tmp_path):
    X, y, Xt, yt = _split(breast_cancer)
    scorer = InfluenceScorer(LogisticRegression(), chunk_size=64).fit(X, y)
    full = scorer.influence(Xt, yt)
    np.testing.assert_allclose(scorer.influence(Xt, yt, aggregate="sum"), full.sum(0), rtol=1e-10)
    np.testing.assert_allclose(scorer.influence(Xt, yt, aggregate="mean"), full.mean(0), rtol=1e-10)
    out = np.lib.format.open_memmap(tmp_path / "infl.npy", mode="w+", shape=full.shape)
    assert scorer.influence(Xt, yt, out=out) is out
    np.testing.assert_allclose(out, full)
    assert scorer.influence(Xt, yt, dtype=np.float32).dtype == np.float32
    ex = scorer.explain(Xt[:3], yt[:3], k=4)
    assert ex.helpful_indices.shape == (3, 4)
    np.testing.assert_array_equal(ex.helpful_indices[:, 0], full[:3].argmax(axis=1))
    np.testing.assert_array_equal(ex.harmful_indices[:, 0], full[:3].argmin(axis=1))
    assert np.all(np.diff(ex.helpful_influence, axis=1) <= 0)


def test_self_influence_is_nonnegative_and_transform_is_label_free(breast_cancer):
    X, y = breast_cancer
    scorer = InfluenceScorer(LogisticRegression()).fit(X, y)
    assert np.all(scorer.scores_ >= 0)
    np.testing.assert_allclose(scorer.score_samples(X, y), scorer.scores_)
    pred = scorer.estimator_.predict(X)
    np.testing.assert_allclose(scorer.transform(X)[:, 0], scorer.score_samples(X, pred))
    assert scorer.get_feature_names_out().tolist() == ["self_influence"]


def test_pipeline_frozen_and_sparse_agree(breast_cancer):
    X, y, Xt, yt = _split(breast_cancer)
    raw = X * 5 + 2
    pipe = make_pipeline(StandardScaler(), LogisticRegression()).fit(raw, y)
    via_pipe = InfluenceScorer(FrozenEstimator(pipe)).fit(raw, y)
    direct = InfluenceScorer(FrozenEstimator(pipe[-1])).fit(pipe[:-1].transform(raw), y)
    np.testing.assert_allclose(
        via_pipe.influence(Xt * 5 + 2, yt),
        direct.influence(pipe[:-1].transform(Xt * 5 + 2), yt),
        rtol=1e-10,
    )
    Xs = np.where(np.abs(X) > 0.8, X, 0.0)
    dense = InfluenceScorer(LogisticRegression()).fit(Xs, y)
    sparse = InfluenceScorer(LogisticRegression()).fit(sp.csr_matrix(Xs), y)
    np.testing.assert_allclose(
        sparse.influence(sp.csr_matrix(Xt), yt), dense.influence(Xt, yt), rtol=1e-6
    )


def test_pandas_in_keeps_feature_names(breast_cancer):
    pd = pytest.importorskip("pandas")
    X, y = breast_cancer
    df = pd.DataFrame(X, columns=[f"f{i}" for i in range(X.shape[1])])
    scorer = InfluenceScorer(LogisticRegression()).fit(df, pd.Series(y))
    assert list(scorer.feature_names_in_) == list(df.columns)
    scorer.set_output(transform="pandas")
    out = scorer.transform(df.iloc[:5])
    assert list(out.columns) == ["self_influence"]


@pytest.mark.parametrize(
    "kwargs,X_mod,match",
    [
        ({"method": "nope"}, None, "Unknown method"),
        ({"damping": -1.0}, None, "damping"),
        ({}, "nan", "NaN"),
        ({}, "inf", "infinity"),
        ({}, "short_y", "inconsistent numbers of samples"),
    ],
)
def test_bad_input_raises_clear_errors(breast_cancer, kwargs, X_mod, match):
    X, y = breast_cancer
    X = X.copy()
    if X_mod == "nan":
        X[3, 2] = np.nan
    elif X_mod == "inf":
        X[3, 2] = np.inf
    elif X_mod == "short_y":
        y = y[:-1]
    with pytest.raises(ValueError, match=match):
        InfluenceScorer(LogisticRegression(), **kwargs).fit(X, y)


def test_bad_input_at_influence_time(breast_cancer):
    X, y = breast_cancer
    scorer = InfluenceScorer(LogisticRegression()).fit(X, y)
    with pytest.raises(ValueError, match="features"):
        scorer.influence(X[:3, :10], y[:3])
    with pytest.raises(ValueError, match="aggregate"):
        scorer.influence(X[:3], y[:3], aggregate="median")
    with pytest.raises(ValueError, match=r"one class|1 class|classes"):
        InfluenceScorer(LogisticRegression()).fit(X[y == 1], y[y == 1])


def test_singular_hessian_warns_and_suggests_damping():
    # p > n with no penalty: X̃ᵀX̃ is singular; separable data without penalty likewise.
    rng = np.random.RandomState(0)
    X, y = rng.randn(10, 30), rng.randn(10)
    with pytest.warns(IllConditionedHessianWarning, match="damping"):
        scorer = InfluenceScorer(LinearRegression()).fit(X, y)
    assert np.all(np.isfinite(scorer.scores_))
    with warnings.catch_warnings():
        warnings.simplefilter("error", IllConditionedHessianWarning)
        InfluenceScorer(LinearRegression(), damping=1e-2).fit(X, y)
    Xs = np.vstack([rng.randn(20, 2) + 4, rng.randn(20, 2) - 4])
    ys = np.r_[np.ones(20), np.zeros(20)]
    with pytest.warns(IllConditionedHessianWarning, match="damping"):
        InfluenceScorer(LogisticRegression(C=np.inf, max_iter=10_000)).fit(Xs, ys)


def test_inputs_and_estimator_are_not_mutated(breast_cancer):
    X, y = breast_cancer
    X, y = X.copy(), y.copy()
    model = LogisticRegression(C=0.5)
    before = joblib.hash((X, y, model))
    scorer = InfluenceScorer(model, newton_step=True).fit(X, y)
    scorer.influence(X[:5], y[:5])
    scorer.explain(X[:5], y[:5])
    assert joblib.hash((X, y, model)) == before
    fitted = clone(model).fit(X, y)
    frozen_before = joblib.hash(fitted)
    InfluenceScorer(FrozenEstimator(fitted)).fit(X, y).influence(X[:3], y[:3])
    assert joblib.hash(fitted) == frozen_before


def test_pickle_round_trip(breast_cancer):
    import pickle

    X, y = breast_cancer
    scorer = InfluenceScorer(LogisticRegression(), newton_step=True).fit(X, y)
    again = pickle.loads(pickle.dumps(scorer))
    np.testing.assert_array_equal(again.influence(X[:4], y[:4]), scorer.influence(X[:4], y[:4]))


@pytest.mark.parametrize("n_classes", [2, 3])
@pytest.mark.parametrize("fit_intercept", [True, False])
def test_sparse_self_influence_touches_only_the_nonzeros_and_equals_the_dense_one(
    n_classes, fit_intercept
):
    """On sparse X the explicit-inverse self-influence is r_iᵀ (U_iᵀ H⁻¹ U_i) r_i over the
    row's non-zeros (O(nnz · p), not O(n p²)): it must equal the dense path to rounding, for
    scores_ and for new rows (score_samples), with and without intercept, binary and
    multinomial (K > 1 output blocks)."""
    rng = np.random.RandomState(n_classes)
    X = sp.random(300, 40, density=0.1, format="csr", random_state=rng)
    y = rng.randint(0, n_classes, 300)
    model = FrozenEstimator(LogisticRegression(C=2.0, fit_intercept=fit_intercept).fit(X, y))
    sparse = InfluenceScorer(model, method="direct").fit(X, y)
    dense = InfluenceScorer(model, method="direct").fit(X.toarray(), y)
    np.testing.assert_allclose(sparse.scores_, dense.scores_, rtol=1e-9, atol=1e-14)
    new = sp.random(20, 40, density=0.1, format="csr", random_state=rng)
    np.testing.assert_allclose(
        sparse.score_samples(new, y[:20]), dense.score_samples(new.toarray(), y[:20]), rtol=1e-9
    )
