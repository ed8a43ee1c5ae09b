"""Linear adapters against scikit-learn's own objective (``LinearModelLoss``), independently.

scikit-learn minimises ``(1/s) Σ w_i ℓ_i + (λ/2)‖W‖²`` with s = Σ w_i and λ = 1/(C s) for
LogisticRegression; our adapters use the sum form ``Σ w_i ℓ_i + ‖W‖²/(2C)``, i.e. sklearn's
objective times s. The references below are built from sklearn's private ``LinearModelLoss``
(the very object its solvers minimise) and never from our code.
"""

import time

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn._loss.loss import HalfBinomialLoss, HalfMultinomialLoss
from sklearn.base import clone
from sklearn.linear_model import LinearRegression, LogisticRegression, Ridge
from sklearn.linear_model._linear_loss import LinearModelLoss
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skinfluence.models import LinearGradientMatrix, PipelineAdapter, _gram, adapter_for
from skinfluence.models._linear import _weighted_gram


def _sklearn_reference(model, X, y, sample_weight=None):
    """Per-sample gradients (n, p) and sum-form Hessian (p, p) from sklearn's LinearModelLoss."""
    classes = model.classes_
    K = 1 if len(classes) == 2 else len(classes)
    base = HalfBinomialLoss() if K == 1 else HalfMultinomialLoss(n_classes=K)
    loss = LinearModelLoss(base_loss=base, fit_intercept=model.fit_intercept)
    target = np.searchsorted(classes, y).astype(np.float64)
    coef = model.coef_.T  # (d0, K)
    if model.fit_intercept:
        coef = np.vstack([coef, model.intercept_[None]])
    coef = coef.ravel() if K > 1 else coef[:, 0]  # sklearn's flat layout = ours: (d, K) C-order
    if K > 1:  # sklearn expects classes contiguous: (K, d) in Fortran order, the same numbers
        coef = coef.reshape(-1, K).T.ravel(order="F")
    n = len(y)
    sw = np.ones(n) if sample_weight is None else sample_weight
    grads = np.empty((n, len(coef)))
    for i in range(n):
        e = np.zeros(n)
        e[i] = 1.0
        grads[i] = loss.gradient(coef, X, target, sample_weight=e).ravel(order="F")
    s = sw.sum()
    penalty = 0.0 if np.inf == model.C else 1.0 / (model.C * s)
    _, hess, _ = loss.gradient_hessian(coef, X, target, sample_weight=sw, l2_reg_strength=penalty)
    return grads, hess * s


@pytest.mark.parametrize("C", [0.1, 1.0, 10.0])
@pytest.mark.parametrize("fit_intercept", [True, False])
def test_sklearn_solution_is_a_stationary_point(breast_cancer, wine, C, fit_intercept):
    # At scikit-learn's solution the gradient of our sum-form objective must vanish. lbfgs stops
    # at gtol=tol on sklearn's scaled objective (1/(n)·ours), so with tol=1e-10 the sum-form
    # gradient is below ~1e-5 relative to the data term's scale.
    for X, y in (breast_cancer, wine):
        model = LogisticRegression(C=C, fit_intercept=fit_intercept, tol=1e-10, max_iter=10_000)
        model.fit(X, y)
        adapter = adapter_for(model)
        G = adapter.gradients(X, y)
        total = G.rmatmul(np.ones((len(y), 1)))[:, 0]
        total += adapter.penalty_diagonal() * adapter.params()
        scale = np.abs(G.dense_rows(slice(None))).sum(axis=0).max()
        assert np.abs(total).max() < 1e-5 * scale


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"fit_intercept": False},
        {"C": 0.05},
        {"class_weight": {0: 2.0, 1: 0.5, 2: 1.5}},
        {"class_weight": "balanced"},
    ],
)
@pytest.mark.parametrize("dataset", ["breast_cancer", "wine"])
def test_gradients_and_hessian_match_sklearn_objective(request, dataset, params):
    X, y = request.getfixturevalue(dataset)
    X, y = X[:120], y[:120]
    if "class_weight" in params and isinstance(params["class_weight"], dict):
        params = {"class_weight": {c: w for c, w in params["class_weight"].items() if c in y}}
    sw = np.random.RandomState(0).uniform(0.5, 2.0, len(y))
    model = LogisticRegression(max_iter=5000, **params).fit(X, y, sample_weight=sw)
    adapter = adapter_for(model)
    weights = adapter.row_weights(y, sw)
    G_ref, H_ref = _sklearn_reference(model, X, y, weights)
    G = adapter.gradients(X, y)
    np.testing.assert_allclose(G.dense_rows(slice(None)), G_ref, rtol=1e-10, atol=1e-12)
    H = adapter.hessian(X, y, sample_weight=sw)
    np.testing.assert_allclose(H, H_ref, rtol=1e-9, atol=1e-9 * np.abs(H_ref).max())
    V = np.random.RandomState(1).randn(adapter.n_params, 3)
    np.testing.assert_allclose(adapter.hvp(X, y, V, sample_weight=sw), H_ref @ V, rtol=1e-9)


def test_gradient_matrix_products_never_need_dense_rows(wine):
    X, y = wine
    adapter = adapter_for(LogisticRegression().fit(X, y))
    G = adapter.gradients(X, y)
    D = G.dense_rows(slice(None))
    rng = np.random.RandomState(0)
    V, U = rng.randn(G.shape[1], 4), rng.randn(G.shape[0], 2)
    np.testing.assert_allclose(G.matmul(V), D @ V, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(G.rmatmul(U), D.T @ U, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(G.row_norms(), np.linalg.norm(D, axis=1), rtol=1e-12)
    np.testing.assert_allclose(G.take([3, 1]).dense_rows(slice(None)), D[[3, 1]])


def test_sparse_input_gives_the_same_gradients_and_hessian(breast_cancer):
    X, y = breast_cancer
    X = np.where(np.abs(X) > 1, X, 0.0)
    model = LogisticRegression().fit(X, y)
    dense, sparse = adapter_for(model), adapter_for(model)
    Xs = sp.csr_matrix(X)
    assert isinstance(sparse.gradients(Xs, y), LinearGradientMatrix)
    np.testing.assert_allclose(sparse.hessian(Xs, y), dense.hessian(X, y), rtol=1e-12)
    V = np.ones((dense.n_params, 2))
    np.testing.assert_allclose(
        sparse.gradients(Xs, y).matmul(V), dense.gradients(X, y).matmul(V), rtol=1e-12
    )


@pytest.mark.parametrize("Model", [Ridge, LinearRegression])
def test_squared_loss_objective_is_stationary_and_hessian_exact(breast_cancer, Model):
    X, y_cls = breast_cancer
    y = X[:, 0] * 2.0 - X[:, 3] + np.random.RandomState(0).randn(len(y_cls))
    sw = np.random.RandomState(1).uniform(0.5, 2, len(y))
    model = (Model(alpha=3.0) if Model is Ridge else Model()).fit(X, y, sample_weight=sw)
    adapter = adapter_for(model)
    G = adapter.gradients(X, y)
    total = G.rmatmul(sw[:, None])[:, 0] + adapter.penalty_diagonal() * adapter.params()
    assert np.abs(total).max() < 1e-8 * np.abs(G.dense_rows(slice(None))).sum()
    # The squared loss is quadratic: its Hessian is 2 X̃ᵀ W X̃ + 2α on the coefficients.
    Xt = np.hstack([X, np.ones((len(y), 1))])
    H_ref = 2 * Xt.T @ (Xt * sw[:, None])
    if Model is Ridge:
        H_ref[np.arange(30), np.arange(30)] += 6.0
    np.testing.assert_allclose(adapter.hessian(X, y, sample_weight=sw), H_ref, rtol=1e-10)


def test_multinomial_null_space_is_exact_flat_direction(wine):
    X, y = wine
    model = LogisticRegression().fit(X, y)
    adapter = adapter_for(model)
    B = adapter.null_space()
    assert B.shape == (adapter.n_params, 1)
    H = adapter.hessian(X, y)
    assert np.abs(H @ B).max() < 1e-10 * np.abs(H).max()
    G = adapter.gradients(X, y).dense_rows(slice(None))
    assert np.abs(G @ B).max() < 1e-12  # every per-sample gradient is orthogonal to it
    no_icpt = adapter_for(clone(model).set_params(fit_intercept=False).fit(X, y))
    assert no_icpt.null_space() is None


def test_pipeline_adapter_uses_transformed_features(breast_cancer):
    X, y = breast_cancer
    pipe = make_pipeline(StandardScaler(), LogisticRegression()).fit(X * 7 + 3, y)
    adapter = adapter_for(pipe)
    assert isinstance(adapter, PipelineAdapter)
    inner = adapter_for(pipe[-1])
    Z = pipe[:-1].transform(X * 7 + 3)
    np.testing.assert_allclose(adapter.loss(X * 7 + 3, y), inner.loss(Z, y))
    np.testing.assert_allclose(adapter.hessian(X * 7 + 3, y), inner.hessian(Z, y))


def test_unsupported_and_unfitted_estimators():
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.exceptions import NotFittedError

    with pytest.raises(TypeError, match="MemorizationScorer or LeaveOneOutScorer"):
        adapter_for(RandomForestClassifier().fit([[0.0], [1.0]], [0, 1]))
    with pytest.raises(NotFittedError):
        adapter_for(LogisticRegression())
    with pytest.raises(TypeError, match="not twice differentiable"):
        adapter_for(LogisticRegression(l1_ratio=1.0, solver="saga").fit([[0.0], [1.0]], [0, 1]))


def test_unknown_labels_and_wrong_feature_count(breast_cancer):
    X, y = breast_cancer
    adapter = adapter_for(LogisticRegression().fit(X, y))
    with pytest.raises(ValueError, match="not seen in fit"):
        adapter.loss(X[:2], np.array([0, 5]))
    with pytest.raises(ValueError, match="features"):
        adapter.loss(X[:2, :5], y[:2])


# -- the weighted Gram behind every linear Hessian, whichever BLAS route computes it ------------
@pytest.mark.parametrize("kernel", sorted(_gram._KERNELS))
@pytest.mark.parametrize("sparse", [False, True])
@pytest.mark.parametrize("fit_intercept", [False, True])
@pytest.mark.parametrize("sign", ["nonnegative", "nonpositive", "mixed", "constant"])
def test_weighted_gram_equals_plain_product(monkeypatch, kernel, sparse, fit_intercept, sign):
    # X̃ᵀ diag(w) X̃ against the plain product, each route forced through the per-width choice
    # the probe would fill. Blocks of 700 rows: 3 000 rows make four full blocks and a partial
    # one. Sums of 3 000 products of O(1) numbers agree to ~1e-14 of the largest entry whatever
    # the summation order, so 1e-12 leaves room and still catches a lost block or triangle
    # (an error of O(1) / 3 000 at least).
    rng = np.random.default_rng(0)
    n, d0 = 3000, 12
    X = rng.standard_normal((n, d0))
    X[rng.random((n, d0)) < 0.5] = 0.0
    w = {"nonnegative": rng.random(n), "nonpositive": -rng.random(n)}.get(
        sign, rng.standard_normal(n)
    )
    w[::7] = 0.0
    if sign == "constant":  # least squares without weights: c XᵀX from X's own blocks
        w = np.full(n, 2.0)
    Xa = np.hstack([X, np.ones((n, 1))]) if fit_intercept else X
    expected = Xa.T @ np.diag(w) @ Xa
    monkeypatch.setattr(_gram, "_GRAM_BLOCK_BYTES", 8 * d0 * 700)  # 700-row blocks
    monkeypatch.setitem(_gram._KERNEL_BY_WIDTH, d0, kernel)
    Xin = sp.csr_matrix(X) if sparse else X
    G = _weighted_gram(Xin, w, fit_intercept)
    assert G.shape == expected.shape
    np.testing.assert_allclose(G, expected, rtol=0, atol=1e-12 * np.abs(expected).max())
    if not sparse:  # the sparse product (scipy's, no BLAS route) is symmetric to rounding only
        np.testing.assert_array_equal(G, G.T)
    with_ones = np.hstack([X, np.ones((n, 1))])
    full = with_ones.T @ np.diag(w) @ with_ones
    for intercept in (False, True):
        np.testing.assert_allclose(
            _gram.dense_weighted_gram(X, w, kernel=kernel, intercept=intercept),
            full[: d0 + intercept, : d0 + intercept],
            rtol=0,
            atol=1e-12 * np.abs(full).max(),
        )


@pytest.mark.parametrize("kernel", sorted(_gram._KERNELS))
def test_hessian_is_the_same_whichever_gram_kernel(monkeypatch, wine, kernel):
    # The multinomial Hessian (diagonal blocks w ≥ 0, off-diagonal w ≤ 0: both signed paths)
    # through each route, in blocks of 50 rows, against sklearn's own; a tenth of the tolerance
    # of test_gradients_and_hessian_match_sklearn_objective (1e-9), as no sample weights here.
    X, y = wine
    model = LogisticRegression(C=1.0, max_iter=5000).fit(X, y)
    monkeypatch.setattr(_gram, "_GRAM_BLOCK_BYTES", 8 * X.shape[1] * 50)  # 50-row blocks
    monkeypatch.setitem(_gram._KERNEL_BY_WIDTH, X.shape[1], kernel)
    _, H_ref = _sklearn_reference(model, X, y)
    H = adapter_for(model).hessian(X, y)
    np.testing.assert_allclose(H, H_ref, rtol=1e-10, atol=1e-10 * np.abs(H_ref).max())


def test_gram_probe_avoids_a_slow_kernel_and_keeps_its_choice(monkeypatch):
    # A default route made 20 ms slower per block (a cliff: > 10× a 4 369 × 30 block's ~1 ms)
    # must lose the probe and the choice must be kept for that width: the second Gram calls no
    # probe. Routes of equal speed keep the default.
    calls = []

    def slow(Xb, wb):
        time.sleep(0.02)
        return _gram._numpy_syrk(Xb, wb)

    def counted(Xb, wb):
        calls.append(len(Xb))
        return _gram._numpy_gemm(Xb, wb)

    monkeypatch.setattr(_gram, "_KERNELS", {"slow": slow, "counted": counted})
    monkeypatch.setattr(_gram, "_DEFAULT_KERNEL", "slow")
    monkeypatch.setattr(_gram, "_KERNEL_BY_WIDTH", {})
    rng = np.random.default_rng(1)
    X, w = rng.standard_normal((20_000, 30)), rng.random(20_000)
    n_blocks = -(-20_000 // _gram._block_rows(30))
    G = _gram.dense_weighted_gram(X, w)
    assert _gram._KERNEL_BY_WIDTH == {30: "counted"}
    np.testing.assert_allclose(G, X.T @ (w[:, None] * X), rtol=1e-12)
    assert len(calls) == _gram._PROBE_CALLS + n_blocks
    _gram.dense_weighted_gram(X, w)
    assert len(calls) == _gram._PROBE_CALLS + 2 * n_blocks
    # Fewer rows than one block: the default route, no probe and nothing cached.
    _gram.dense_weighted_gram(X[:100, :5], w[:100])
    assert 5 not in _gram._KERNEL_BY_WIDTH
    # Two equally fast routes (the same one; minimum of 5 calls each against load): the default
    # stays.
    monkeypatch.setattr(_gram, "_PROBE_CALLS", 5)
    monkeypatch.setattr(
        _gram, "_KERNELS", {"slow": _gram._numpy_syrk, "counted": _gram._numpy_syrk}
    )
    _gram.dense_weighted_gram(X[:, :7], w)
    assert _gram._KERNEL_BY_WIDTH[7] == "slow"
