"""The fast paths of issue 17's speed work give the numbers of the paths they replace.

- ``InfluenceScorer``: ``scores_`` computed on first access (present after fit and after a
  pickle round trip), the training features and residuals kept between calls; checked against
  the chunked path without the cache and against dense per-sample gradients.
- ``LeaveOneOutScorer``: the Newton refits' losses evaluated in blocks from the full-data
  adapter equal ``per_sample_loss`` of each refitted estimator; ``RidgeCV``'s closed-form
  leave-one-out (selection re-run) equals n cold refits of ``RidgeCV``.
"""

import pickle

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.kernel_ridge import KernelRidge
from sklearn.linear_model import (
    LogisticRegression,
    LogisticRegressionCV,
    PoissonRegressor,
    Ridge,
    RidgeClassifier,
    RidgeCV,
    SGDClassifier,
)
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skinfluence import InfluenceScorer, LeaveOneOutScorer
from skinfluence.scorers import _train_cache, per_sample_loss
from skinfluence.scorers._loo import _tightened


def _data(n=120, p=5, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, p))
    y = X @ rng.standard_normal(p) + rng.standard_normal(n)
    return X, y


def _cases():
    X, y = _data()
    w = np.random.default_rng(1).uniform(0.5, 2.0, len(y))
    yb, y3 = (y > 0).astype(int), np.digitize(y, [-1.0, 1.0])
    counts = np.random.default_rng(2).poisson(np.exp(0.3 * X[:, 0]))
    Xs = sp.random(len(y), 5, density=0.4, random_state=0, format="csr")
    return {
        "ridge-weighted": (Ridge(), X, y, w),
        "ridge-no-intercept": (Ridge(fit_intercept=False), X, y, None),
        "logistic-multiclass-weighted": (LogisticRegression(), X, y3, w),
        "pipeline-multiclass": (make_pipeline(StandardScaler(), LogisticRegression()), X, y3, None),
        "sparse-binary": (LogisticRegression(), Xs, yb, None),
        "sgd-penalty-share": (SGDClassifier(loss="log_loss", random_state=0), X, yb, None),
        "poisson-penalty-share": (PoissonRegressor(alpha=0.1), X, counts, w),
        "kernel-ridge": (KernelRidge(alpha=1.0, kernel="rbf"), X, y, None),
        "ridge-classifier-multiclass": (RidgeClassifier(), X, y3, None),
    }


CASES = _cases()


@pytest.mark.parametrize("name", list(CASES))
def test_cached_paths_equal_the_chunked_paths(name, monkeypatch):
    model, X, y, w = CASES[name]
    fast = InfluenceScorer(model).fit(X, y, sample_weight=w)
    assert fast._scores is None  # not computed by fit
    fast_scores = fast.scores_
    fast_infl = fast.influence(X[:7], y[:7])
    assert fast._training_cache() is not None
    # Without the cache: the chunked paths of before (features rebuilt per chunk).
    monkeypatch.setattr(_train_cache, "build_training_cache", lambda *a, **k: None)
    monkeypatch.setattr("skinfluence.scorers._influence.build_training_cache", lambda *a, **k: None)
    monkeypatch.setattr(
        "skinfluence.scorers._influence.cache_from_curvature_pass", lambda *a, **k: None
    )
    slow = InfluenceScorer(model).fit(X, y, sample_weight=w)
    np.testing.assert_allclose(fast_scores, slow.scores_, rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(fast_infl, slow.influence(X[:7], y[:7]), rtol=1e-10, atol=1e-14)
    total = fast.influence(X[:7], y[:7], aggregate="sum")
    np.testing.assert_allclose(total, fast_infl.sum(axis=0), rtol=1e-10, atol=1e-13)
    single = fast.influence(X[:7], y[:7], dtype=np.float32)
    np.testing.assert_allclose(single, fast_infl, rtol=1e-5, atol=1e-6)


# Bare linear models on arrays they read unchanged: fit keeps the residuals of the Hessian's
# pass (least squares computes them there when asked) instead of a second pass later.
FROM_CURVATURE_PASS = {
    "ridge-weighted",
    "ridge-no-intercept",
    "ridge-classifier-multiclass",
    "logistic-multiclass-weighted",
    "sparse-binary",
    "sgd-penalty-share",
    "poisson-penalty-share",
}


@pytest.mark.parametrize("name", list(CASES))
def test_cache_from_the_curvature_pass_holds_the_gradients(name):
    model, X, y, w = CASES[name]
    scorer = InfluenceScorer(model).fit(X, y, sample_weight=w)
    assert "_curvature_residuals" not in vars(scorer.adapter_)  # handed over, none left behind
    kept = scorer._train_cache
    assert (kept is not None) == (name in FROM_CURVATURE_PASS)
    if kept is None:
        return
    G = scorer.adapter_.gradients(X, y)
    assert kept.loss_gradients.X is X  # the training array itself, no copy
    np.testing.assert_allclose(kept.loss_gradients.R, G.R, rtol=1e-13, atol=1e-15)
    # pickled without it, rebuilt on first use with the same values
    again = pickle.loads(pickle.dumps(scorer))
    assert again._train_cache is None
    np.testing.assert_allclose(again.scores_, scorer.scores_, rtol=1e-12)


def test_curvature_residuals_are_kept_only_when_asked_and_for_their_rows():
    model, X, y, _ = CASES["logistic-multiclass-weighted"]
    adapter = InfluenceScorer(model).fit(X, y).adapter_
    adapter.hessian(X, y)
    assert "_curvature_residuals" not in vars(adapter)  # not asked for: nothing held
    adapter.keep_curvature_residuals()
    adapter.hessian(X, y)
    assert adapter.take_curvature_residuals(X.copy(), y) is None  # other rows: not theirs
    assert adapter.take_curvature_residuals(X, y) is None  # and the take ended the request
    adapter.keep_curvature_residuals()
    adapter.hessian(X, y)
    R = adapter.take_curvature_residuals(X, y)
    np.testing.assert_array_equal(R, adapter.gradients(X, y).R)
    assert "_curvature_residuals" not in vars(adapter)
    # A Pipeline's final adapter sees transformed rows: nothing is asked of it or kept there.
    model, X, y, _ = CASES["pipeline-multiclass"]
    scorer = InfluenceScorer(model).fit(X, y)
    scorer.influence(X[:3], y[:3])
    assert "_curvature_residuals" not in vars(scorer.adapter_.inner)


def test_products_equal_dense_gradients():
    # w_i g_tᵀ H⁻¹ g_i from explicitly formed per-sample gradients (multiclass, intercept;
    # H⁻¹ is the solver's, which handles softmax's flat direction, checked in test_influence).
    model, X, y, w = CASES["logistic-multiclass-weighted"]
    scorer = InfluenceScorer(model).fit(X, y, sample_weight=w)
    G = scorer.adapter_.gradients(X, y).dense_rows(slice(None))
    G_t = scorer.adapter_.gradients(X[:4], y[:4]).dense_rows(slice(None))
    H_inv = scorer.solver_.solve(np.eye(G.shape[1]))
    expected = (G_t @ H_inv @ G.T) * scorer.train_weights_[None, :]
    np.testing.assert_allclose(scorer.influence(X[:4], y[:4]), expected, rtol=1e-8, atol=1e-12)
    own = np.einsum("ij,jk,ik->i", G, H_inv, G) * scorer.train_weights_
    np.testing.assert_allclose(scorer.scores_, own, rtol=1e-8, atol=1e-12)


def test_lazy_scores_survive_pickle_and_refit():
    model, X, y, _ = CASES["ridge-weighted"]
    scorer = InfluenceScorer(model).fit(X, y)
    assert not hasattr(InfluenceScorer(model), "scores_")  # unfitted: AttributeError
    clone_before = pickle.loads(pickle.dumps(scorer))  # pickled before the first access
    np.testing.assert_allclose(clone_before.scores_, scorer.scores_, rtol=1e-12)
    scorer.influence(X[:2], y[:2])  # builds the kept features
    assert pickle.loads(pickle.dumps(scorer))._train_cache is None  # pickles carry no copy
    scorer.fit(X[:60], y[:60])  # a new fit forgets the old scores
    assert scorer.scores_.shape == (60,)


def test_features_above_the_bound_are_not_kept(monkeypatch):
    model, X, y, _ = CASES["pipeline-multiclass"]
    monkeypatch.setattr(_train_cache, "CACHE_BYTES", 8 * X.shape[0] * X.shape[1] - 1)
    scorer = InfluenceScorer(model).fit(X, y)
    assert scorer._training_cache() is None  # a copy would exceed it: chunks, as before
    bare = InfluenceScorer(LogisticRegression()).fit(X, y)
    cache = bare._training_cache()
    assert cache is not None and cache.loss_gradients.X is bare.train_X_  # no copy at all


@pytest.mark.parametrize(
    "model",
    [Ridge(), LogisticRegression(), RidgeClassifier(), PoissonRegressor(), KernelRidge(gamma=0.2)],
    ids=lambda m: type(m).__name__,
)
def test_blocked_refit_losses_equal_each_refitted_model(model):
    X, y = _data(60, 4)
    y = {
        "LogisticRegression": np.digitize(y, [-1.0, 1.0]),
        "RidgeClassifier": np.digitize(y, [-1.0, 1.0]),
        "PoissonRegressor": np.random.default_rng(0).poisson(np.exp(0.3 * X[:, 0])),
    }.get(type(model).__name__, y)
    loo = LeaveOneOutScorer(model).fit(X, y)
    assert loo.refit_method_ == "newton"
    each = np.stack([per_sample_loss(m, X[:9], y[:9]) for m in loo.estimators_], axis=1)
    full = per_sample_loss(loo.estimator_, X[:9], y[:9])
    np.testing.assert_allclose(loo.influence(X[:9], y[:9]), each - full[:, None], atol=1e-12)
    own = [per_sample_loss(m, X[i : i + 1], y[i : i + 1])[0] for i, m in enumerate(loo.estimators_)]
    np.testing.assert_allclose(loo.scores_, own - per_sample_loss(loo.estimator_, X, y), atol=1e-12)


@pytest.mark.parametrize("fit_intercept", [True, False])
@pytest.mark.parametrize(
    ("n", "p", "alphas"), [(40, 50, (0.01, 1.0, 100.0)), (80, 3, tuple(np.logspace(-3, 3, 13)))]
)
def test_ridge_cv_closed_form_equals_refits_of_the_selection(fit_intercept, n, p, alphas):
    rng = np.random.default_rng(n)
    X = rng.standard_normal((n, p)) + 0.5
    y = X @ rng.standard_normal(p) * 0.3 + rng.standard_normal(n) + 2.0
    model = RidgeCV(alphas=alphas, fit_intercept=fit_intercept)
    fast = LeaveOneOutScorer(model).fit(X, y)
    cold = LeaveOneOutScorer(model, warm_start=False).fit(X, y)
    assert (fast.refit_method_, cold.refit_method_) == ("closed-form", "refit")
    chosen = [m.alpha_ for m in cold.estimators_]
    assert len(set(chosen)) > 1  # removing some rows changes the selected alpha
    assert [m.alpha_ for m in fast.estimators_] == chosen
    np.testing.assert_allclose(
        [m.best_score_ for m in fast.estimators_],
        [m.best_score_ for m in cold.estimators_],
        rtol=1e-10,
    )
    np.testing.assert_allclose(
        [m.coef_ for m in fast.estimators_], [m.coef_ for m in cold.estimators_], atol=1e-10
    )
    np.testing.assert_allclose(fast.scores_, cold.scores_, rtol=1e-9, atol=1e-12)
    Xt = rng.standard_normal((5, p))
    np.testing.assert_allclose(
        fast.influence(Xt, Xt.sum(axis=1)), cold.influence(Xt, Xt.sum(axis=1)), atol=1e-10
    )


def test_ridge_cv_closed_form_only_where_it_is_exact():
    X, y = _data(30, 3)
    for model, kwargs in [
        (RidgeCV(cv=3), {}),
        (RidgeCV(scoring="r2"), {}),
        (RidgeCV(), {"sample_weight": np.ones(30)}),
    ]:
        assert LeaveOneOutScorer(model).fit(X, y, **kwargs).refit_method_ == "refit"


def test_logistic_regression_cv_refits_by_newton_cholesky():
    tight = _tightened(LogisticRegressionCV(Cs=[0.1, 1.0]), 1e-10)
    assert (tight.solver, tight.tol) == ("newton-cholesky", 1e-10)
    l1 = _tightened(LogisticRegressionCV(solver="saga", l1_ratios=[1.0]), 1e-10)
    assert l1.solver == "saga"  # another objective's solver is kept
    X, y = _data(80, 3)
    y = (y > 0).astype(int)
    model = LogisticRegressionCV(Cs=[0.1, 1.0, 10.0], cv=3)
    lbfgs = _tightened(model, 1e-10).set_params(solver="lbfgs").fit(X, y)
    newton = _tightened(model, 1e-10).fit(X, y)
    assert newton.C_ == lbfgs.C_
    np.testing.assert_allclose(newton.coef_, lbfgs.coef_, atol=1e-6)


def test_plain_gen_batches_are_sklearns():
    # the hot paths' batches without scikit-learn's per-call validation: the same slices
    from sklearn.utils import gen_batches as sklearn_batches

    from skinfluence._utils._batches import gen_batches

    for n in range(1, 30):
        for size in range(1, 12):
            assert list(gen_batches(n, size)) == list(sklearn_batches(n, size))
    with pytest.raises(ValueError, match="positive"):
        list(gen_batches(5, 0))


@pytest.mark.parametrize("weights", ["unit", "sampled"])
def test_training_rows_skip_unit_weights_only(weights):
    # w_i = 1 skips the scaling (x · 1 = x exactly); other weights are applied
    from skinfluence.models import LinearGradientMatrix, TrainingGradientMatrix

    rng = np.random.default_rng(0)
    X, R = rng.standard_normal((40, 3)), rng.standard_normal((40, 1))
    w = np.ones(40) if weights == "unit" else rng.random(40)
    T = TrainingGradientMatrix(LinearGradientMatrix(X, R, True), w)
    expected = w[:, None] * np.hstack([X * R, R])
    np.testing.assert_array_equal(T.dense_rows(slice(None)), expected)
    np.testing.assert_array_equal(T.dense_rows(slice(5, 9)), expected[5:9])


@pytest.mark.parametrize("K", [1, 3])
@pytest.mark.parametrize("fit_intercept", [True, False])
def test_leverage_blocks_in_cache_sized_blocks_equal_the_quadratic_forms(K, fit_intercept):
    from skinfluence.models import LinearGradientMatrix
    from skinfluence.scorers._newton import _QUADRATIC_BLOCK_BYTES, leverage_blocks

    rng = np.random.default_rng(K)
    n, d = 1500, 120  # ~400 rows per block: several blocks inside one chunk of 1 000 rows
    assert _QUADRATIC_BLOCK_BYTES // (8 * (d + 1)) < 1000
    X = rng.standard_normal((n, d))
    G = LinearGradientMatrix(X, np.zeros((n, K)), fit_intercept)
    p = (d + fit_intercept) * K
    A = rng.standard_normal((p, p))
    H_inv = A @ A.T
    M = leverage_blocks(G, H_inv, K, fit_intercept, 1000)
    Xt = np.hstack([X, np.ones((n, 1))]) if fit_intercept else X
    H4 = H_inv.reshape(Xt.shape[1], K, Xt.shape[1], K)
    expected = np.einsum("na,acbe,nb->nce", Xt, H4, Xt)
    np.testing.assert_allclose(M, expected, rtol=1e-10, atol=1e-8 * np.abs(expected).max())
