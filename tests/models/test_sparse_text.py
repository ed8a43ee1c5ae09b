"""Sparse, high-dimensional linear models (issue 22): exact sparse self-influence, block PCG,
the probed estimator, ``method="auto"`` under a memory budget, TF-IDF pipelines."""

import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.frozen import FrozenEstimator
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import make_pipeline

from skinfluence import InfluenceScorer
from skinfluence.exceptions import ApproximationWarning
from skinfluence.inverse import DirectSolver, PreconditionedCGSolver
from skinfluence.inverse._explicit import explicit_inverse
from skinfluence.inverse._pcg import DEFAULT_RTOL as PCG_DEFAULT_RTOL
from skinfluence.models import LinearGradientMatrix, _sparse_rows, adapter_for
from skinfluence.models._sparse_rows import sparse_row_quadratic


def _sparse_problem(n=600, p=80, density=0.05, classes=2, seed=0):
    rng = np.random.RandomState(seed)
    X = sp.random(n, p, density=density, format="csr", random_state=rng)
    X.data = rng.uniform(0.2, 1.5, X.nnz)
    W = rng.standard_normal((p, classes)) * 3
    y = np.argmax(X @ W + 0.5 * rng.standard_normal((n, classes)), axis=1)
    return X, y


@pytest.mark.parametrize("classes", [2, 3])
def test_sparse_self_influence_equals_dense_exact_path(classes, monkeypatch):
    X, y = _sparse_problem(classes=classes)
    model = LogisticRegression(C=0.5, max_iter=2000).fit(X, y)
    calls = []
    original = _sparse_rows.sparse_row_quadratic

    def spy(*args, **kwargs):
        calls.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(_sparse_rows, "sparse_row_quadratic", spy)
    sparse = InfluenceScorer(FrozenEstimator(model), method="direct").fit(X, y)
    sparse_scores = sparse.scores_  # computed on first access
    assert calls, "the O(nnz²) path did not run"
    dense = InfluenceScorer(FrozenEstimator(model), method="direct").fit(X.toarray(), y)
    np.testing.assert_allclose(sparse_scores, dense.scores_, rtol=1e-8, atol=1e-12)
    assert sparse.scores_exact_ and sparse.scores_error_ is None
    # new rows (score_samples) and test influence through the sparse products too
    np.testing.assert_allclose(
        sparse.score_samples(X[:50], y[:50]),
        dense.score_samples(X[:50].toarray(), y[:50]),
        rtol=1e-8,
        atol=1e-12,
    )
    np.testing.assert_allclose(
        sparse.influence(X[:7], y[:7]),
        dense.influence(X[:7].toarray(), y[:7]),
        rtol=1e-8,
        atol=1e-12,
    )


@pytest.mark.parametrize("K", [1, 3])
def test_pair_chunks_and_long_rows_match_dense_quadratic_forms(K):
    rng = np.random.RandomState(3)
    X = sp.random(40, 30, density=0.2, format="lil", random_state=rng)
    X[5] = rng.uniform(size=30)  # one dense row, longer than the pair budget
    X = X.tocsr()
    G = LinearGradientMatrix(X, rng.standard_normal((40, K)), True)
    A = rng.standard_normal((31 * K, 31 * K))
    A = A @ A.T
    dense = G.dense_rows(slice(None))
    exact = np.einsum("ia,ab,ib->i", dense, A, dense)
    for budget in (2**21, 100, 1):
        np.testing.assert_allclose(sparse_row_quadratic(G, A, pair_budget=budget), exact)


def test_explicit_inverse_matches_solves_beyond_one_block():
    rng = np.random.RandomState(0)
    X = rng.standard_normal((800, 600)) * rng.uniform(0.1, 10, 600)
    adapter = adapter_for(Ridge(alpha=1.0).fit(X, X[:, 0] + rng.standard_normal(800)))
    solver = DirectSolver().fit(adapter, X, X[:, 0])
    inverse = explicit_inverse(solver)
    np.testing.assert_allclose(inverse, solver.solve(np.eye(adapter.n_params)), atol=1e-12)
    np.testing.assert_allclose(inverse, inverse.T, rtol=1e-14, atol=0)


@pytest.mark.parametrize("classes", [2, 3])
def test_block_pcg_influence_equals_direct(classes):
    X, y = _sparse_problem(classes=classes, seed=1)
    model = FrozenEstimator(LogisticRegression(max_iter=2000).fit(X, y))
    direct = InfluenceScorer(model, method="direct").fit(X, y)
    pcg = InfluenceScorer(model, method="pcg", solver_params={"rtol": 1e-12}).fit(X, y)
    exact = direct.influence(X[:9], y[:9])
    np.testing.assert_allclose(
        pcg.influence(X[:9], y[:9]), exact, rtol=1e-7, atol=1e-9 * np.abs(exact).max()
    )
    if classes == 2:  # the head-block preconditioner (intercept + 64 features): few iterations
        assert pcg.solver_.preconditioner_.head.size == 65
        assert pcg.solver_.n_iterations_ < 60


def test_pcg_self_influence_estimator_within_its_stated_error():
    X, y = _sparse_problem(n=3000, p=400, density=0.01, seed=2)
    model = FrozenEstimator(LogisticRegression(max_iter=2000).fit(X, y))
    exact = InfluenceScorer(model, method="direct").fit(X, y).scores_
    est = InfluenceScorer(model, method="pcg", solver_params={"rtol": 1e-10}).fit(X, y)
    assert not est.scores_exact_
    err = est.scores_error_
    assert err.shape == exact.shape and np.all(err >= 0)
    within = np.abs(est.scores_ - exact) <= 2 * err
    assert within.mean() >= 0.9  # ~95 % for a normal error
    assert np.abs(est.scores_ - exact).mean() <= 1.5 * err.mean()
    assert np.corrcoef(est.scores_, exact)[0, 1] >= 0.95
    # more probes, smaller stated and actual error
    more = InfluenceScorer(model, method="pcg", solver_params={"rtol": 1e-10, "n_probes": 256}).fit(
        X, y
    )
    assert more.scores_error_.mean() < 0.6 * err.mean()
    assert np.abs(more.scores_ - exact).mean() < np.abs(est.scores_ - exact).mean()


def test_pcg_self_influence_is_exact_on_few_rows():
    X, y = _sparse_problem(n=50, p=30, density=0.2, seed=4)
    model = FrozenEstimator(LogisticRegression(max_iter=2000).fit(X, y))
    exact = InfluenceScorer(model, method="direct").fit(X, y).scores_
    pcg = InfluenceScorer(model, method="pcg", solver_params={"rtol": 1e-12}).fit(X, y)
    assert pcg.scores_exact_ and pcg.scores_error_ is None
    np.testing.assert_allclose(pcg.scores_, exact, rtol=1e-8)


def test_auto_chooses_by_memory_budget_and_cost():
    X, y = _sparse_problem()
    model = LogisticRegression(max_iter=2000)
    default = InfluenceScorer(model).fit(X, y)
    assert default.method_ == "direct" and "MiB" in default.method_reason_
    small = InfluenceScorer(model, memory_budget=1000).fit(X, y)
    assert small.method_ == "pcg" and "memory_budget" in small.method_reason_
    exact = default.influence(X[:3], y[:3])
    approx = small.influence(X[:3], y[:3])  # PCG to its default rtol (1e-3)
    np.testing.assert_allclose(approx, exact, rtol=0, atol=2e-3 * np.abs(exact).max())
    assert np.corrcoef(approx.ravel(), exact.ravel())[0, 1] >= 1 - 1e-5
    # a dense Hessian that fits, but 40 rows: 40 CG solves are cheaper than factorising
    Xw, yw = _sparse_problem(n=40, p=3000, density=0.002, seed=5)
    assert InfluenceScorer(model).fit(Xw, yw).method_ == "pcg"
    assert InfluenceScorer(model, method="direct").fit(Xw, yw).method_reason_ is None


def test_auto_says_when_it_picks_arnoldi():
    rng = np.random.RandomState(0)
    X = rng.standard_normal((1100, 3))
    y = (X[:, 0] > 0).astype(int)
    mlp = MLPClassifier(hidden_layer_sizes=(3,), max_iter=30, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mlp.fit(X, y)
    frozen = FrozenEstimator(mlp)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert InfluenceScorer(frozen, memory_budget=0).fit(X[:200], y[:200]).method_ == "cg"
    with pytest.warns(ApproximationWarning, match="arnoldi"):
        scorer = InfluenceScorer(frozen, memory_budget=0, damping=0.01).fit(X, y)
    assert scorer.method_ == "arnoldi" and not scorer.scores_exact_


DOCS = [
    "the film was great and the acting superb",
    "a wonderful moving story, great cast",
    "superb direction and a great script",
    "boring plot and terrible acting",
    "the worst film, awful and boring",
    "terrible script, awful direction",
    "great fun, wonderful music",
    "awful music and a boring story",
]


def _text_problem(n=120, seed=0):
    rng = np.random.RandomState(seed)
    idx = rng.randint(len(DOCS), size=n)
    docs = [DOCS[i] + f" review{rng.randint(30)}" for i in idx]
    y = np.array([0 if i in (3, 4, 5, 7) else 1 for i in idx])
    y[:6] = 1 - y[:6]  # a few mislabelled reviews
    return docs, y


def test_tfidf_pipeline_explain_returns_documents_and_matches_dense_features():
    docs, y = _text_problem()
    pipe = make_pipeline(TfidfVectorizer(), LogisticRegression(C=2.0)).fit(docs, y)
    scorer = InfluenceScorer(FrozenEstimator(pipe)).fit(docs, y)
    test = ["great acting but a boring story", "awful film"]
    yt = np.array([1, 0])
    result = scorer.explain(test, yt, k=3)
    assert result.helpful_rows.shape == (2, 3)
    for t in range(2):
        for j, i in enumerate(result.helpful_indices[t]):
            assert result.helpful_rows[t, j] == docs[i]
        assert list(result.harmful_rows[t]) == [docs[i] for i in result.harmful_indices[t]]
    # the same numbers as the linear model on the dense TF-IDF matrix
    features = pipe[0].transform(docs).toarray()
    dense = InfluenceScorer(FrozenEstimator(pipe[-1])).fit(features, y)
    np.testing.assert_allclose(scorer.scores_, dense.scores_, rtol=1e-8, atol=1e-12)
    np.testing.assert_allclose(
        scorer.influence(test, yt),
        dense.influence(pipe[0].transform(test).toarray(), yt),
        rtol=1e-8,
        atol=1e-12,
    )
    pcg = InfluenceScorer(
        FrozenEstimator(pipe), memory_budget=0, solver_params={"rtol": 1e-12}
    ).fit(docs, y)
    assert pcg.method_ == "pcg"
    np.testing.assert_allclose(
        pcg.influence(test, yt), scorer.influence(test, yt), rtol=1e-6, atol=1e-10
    )


def test_pcg_solver_validates_its_parameters():
    with pytest.raises(ValueError, match="n_probes"):
        PreconditionedCGSolver(n_probes=1)
    with pytest.raises(ValueError, match="rtol"):
        PreconditionedCGSolver(rtol=2.0)
    with pytest.raises(ValueError, match="maxiter"):
        PreconditionedCGSolver(maxiter=0)


# -- the auto rule's cost model, the head-block preconditioner, the stated accuracy ----------


def test_route_costs_with_fixed_rates():
    from skinfluence.inverse._auto import PCG_OVERHEAD, Rates, route_costs

    rates = Rates(dense=2e10, sparse=5e8)
    # the 50 000 × 5 000 text at 0.1 %: probing is far cheaper than p³
    costs = route_costs(50_000, 5_001, 6.0, 1, rates)
    assert costs["direct"] == pytest.approx(5_001**3 / 2e10 + 2 * 50_000 * 36 / 5e8)
    solve = 10 * (4 * 50_000 * 6.0 / 5e8 + 4 * 5_001 * 65 / 2e10)
    assert costs["pcg_solve"] == pytest.approx(solve)
    assert costs["pcg"] == pytest.approx(PCG_OVERHEAD + 16 * solve)
    assert costs["pcg"] < costs["direct"]
    # dense rows: pcg's self-influence is one exact solve per row
    dense = route_costs(50_000, 5_001, 5_001.0, 1, rates, sparse_rows=False)
    assert dense["pcg"] == pytest.approx(PCG_OVERHEAD + 50_000 * dense["pcg_solve"])
    assert dense["pcg"] > dense["direct"]
    # small p: factorising wins
    small = route_costs(3_000, 401, 5.0, 1, rates)
    assert small["direct"] < small["pcg"]
    # a tiny model: pcg's fixed work outweighs its flop count (sample-weight equivalence
    # of the default call depends on both fits taking the same route)
    tiny = route_costs(15, 93, 31.0, 3, rates, sparse_rows=False)
    assert tiny["direct"] < tiny["pcg"]


def test_auto_decisions_by_cost_with_fixed_rates():
    from skinfluence.inverse._auto import Rates, plan_route

    X, y = _sparse_problem(n=3000, p=400, density=0.01, seed=2)
    adapter = adapter_for(LogisticRegression(max_iter=2000).fit(X, y))
    fast_blas = Rates(dense=2e10, sparse=5e8)
    plan = plan_route(adapter, X, 3000, rates=fast_blas)
    assert plan.method == "direct" and "cheaper than preconditioned CG" in plan.reason
    slow_blas = Rates(dense=1e6, sparse=5e8)  # p³ now costs a minute
    plan = plan_route(adapter, X, 3000, rates=slow_blas)
    assert plan.method == "pcg" and plan.fallback_direct
    assert "stated correlation ≥ 0.96" in plan.reason and "exact factorisation" in plan.reason
    assert plan.solver_params["target_correlation"] == 0.96
    assert plan.solver_params["max_probes"] >= 32
    over = plan_route(adapter, X, 3000, memory_budget=0, rates=fast_blas)
    assert over.method == "pcg" and not over.fallback_direct and "memory_budget" in over.reason


def test_auto_pcg_falls_back_to_exact_scores_or_warns(monkeypatch):
    from skinfluence.inverse import _auto

    X, y = _sparse_problem(n=3000, p=400, density=0.01, seed=2)
    model = FrozenEstimator(LogisticRegression(max_iter=2000).fit(X, y))
    exact = InfluenceScorer(model, method="direct").fit(X, y).scores_
    monkeypatch.setattr(_auto, "DEFAULT_RATES", _auto.Rates(dense=1e6, sparse=5e8))
    # a target the probes cannot reach within the factorisation's cost: exact scores instead
    strict = {"target_correlation": 0.99999, "max_probes": 64}
    scorer = InfluenceScorer(model, solver_params=strict).fit(X, y)
    assert scorer.method_ == "pcg"
    np.testing.assert_allclose(scorer.scores_, exact, rtol=1e-8)
    assert scorer.scores_exact_ and scorer.scores_error_ is None
    assert "scores_ are exact, from the factorisation" in scorer.method_reason_
    # above the memory budget there is nothing to fall back to: a warning
    over = InfluenceScorer(model, memory_budget=0, solver_params=strict).fit(X, y)
    with pytest.warns(ApproximationWarning, match="states a correlation"):
        _ = over.scores_
    assert not over.scores_exact_
    # a reachable target: the estimate, with its stated correlation
    ok = InfluenceScorer(model).fit(X, y)
    assert ok.method_ == "pcg" and not ok.scores_exact_  # (computes scores_)
    assert ok.solver_.estimated_correlation_ >= 0.96


@pytest.mark.parametrize("n_head", [0, 5, 64])
def test_head_block_preconditioner_is_the_stated_matrix(n_head):
    X, y = _sparse_problem(n=800, p=60, density=0.1, seed=3)
    X = sp.hstack([np.ones((800, 3)) + X[:, :3].toarray(), X[:, 3:]], format="csr")
    adapter = adapter_for(LogisticRegression(max_iter=2000).fit(X, y))
    solver = PreconditionedCGSolver(n_head=n_head, rtol=1e-12).fit(adapter, X, y)
    P_inv = solver.preconditioner_
    p = adapter.n_params
    H = solver.operator_(np.eye(p))  # the exact H + λI
    head = P_inv.head
    assert head.size == min(n_head, 60) + 1 and head[-1] == p - 1
    if n_head >= 3:  # the frequent features are in the head
        assert {0, 1, 2} <= set(head.tolist())
    # the matrix it inverts: H's head rows and columns (shrunk by s), H's diagonal elsewhere
    s = P_inv.shrink
    P = np.diag(np.diag(H))
    P[:, head] = s * H[:, head]
    P[head, :] = s * H[head, :]
    P[np.ix_(head, head)] = H[np.ix_(head, head)]
    np.testing.assert_allclose(P_inv(np.eye(p)), np.linalg.inv(P), rtol=1e-8, atol=1e-12)
    assert np.linalg.eigvalsh(P).min() > 0
    # g_iᵀ P⁻¹ g_i of every row against the dense form
    G = adapter.gradients(X, y)
    dense = G.dense_rows(slice(None))
    np.testing.assert_allclose(
        P_inv.row_quadratic(G), np.einsum("ij,jk,ik->i", dense, np.linalg.inv(P), dense)
    )
    # and CG with it solves exactly, in fewer iterations with a larger head
    V = dense[:5].T
    np.testing.assert_allclose(
        solver.solve(V), np.linalg.solve(H, V), rtol=1e-7, atol=1e-10 * np.abs(V).max()
    )


def test_stated_correlation_matches_the_actual_one_on_seeded_data():
    X, y = _sparse_problem(n=3000, p=400, density=0.01, seed=2)
    model = FrozenEstimator(LogisticRegression(max_iter=2000).fit(X, y))
    exact = InfluenceScorer(model, method="direct").fit(X, y).scores_
    for params in (
        {"n_probes": 16, "n_head": 0},
        {"n_probes": 64},
        {"target_correlation": 0.998, "n_head": 0},
    ):
        est = InfluenceScorer(model, method="pcg", solver_params=params).fit(X, y)
        _ = est.scores_  # computed on first access
        stated = est.solver_.estimated_correlation_
        actual = np.corrcoef(est.scores_, exact)[0, 1]
        assert abs(stated - actual) <= 0.01, (params, stated, actual)
        within = np.abs(est.scores_ - exact) <= 2 * est.scores_error_
        assert within.mean() >= 0.9
    assert est.solver_.n_probes_ > 16 and actual >= 0.996  # probes added to reach 0.998


class _CountingSparse:
    """A CSR matrix that records the shape of every dense operand it is multiplied with."""

    def __init__(self, X, log):
        self.X, self.log = X, log
        self.shape, self.nnz = X.shape, X.nnz

    def __matmul__(self, V):
        self.log.append(np.shape(V))
        return self.X @ V

    @property
    def T(self):
        return _CountingSparse(self.X.T.tocsr(), self.log)


def test_block_pcg_makes_one_sparse_block_product_per_iteration():
    X, y = _sparse_problem(n=500, p=120, density=0.05, seed=4)
    adapter = adapter_for(LogisticRegression(max_iter=2000).fit(X, y))
    solver = PreconditionedCGSolver(rtol=1e-10).fit(adapter, X, y)
    V = adapter.gradients(X[:7], y[:7]).dense_rows(slice(None)).T  # k = 7 columns
    expected = np.linalg.solve(solver.operator_(np.eye(adapter.n_params)), V)
    log = []
    solver.operator_._G.X = _CountingSparse(solver.operator_._G.X, log)
    calls_before = solver.operator_.n_products
    np.testing.assert_allclose(solver.solve(V), expected, rtol=1e-7, atol=1e-10 * np.abs(V).max())
    its = solver.n_iterations_
    # X @ V and Xᵀ @ T once each per iteration, on all the unconverged columns at once
    assert len(log) == 2 * its and its > 1
    assert log[0] == (120, 7) and log[1] == (500, 7)
    assert all(len(shape) == 2 for shape in log)
    assert solver.operator_.n_products - calls_before == sum(shape[1] for shape in log[::2])


def test_pcg_default_rtol_is_the_measured_one():
    # benchmarks/README.md (session 8, sparse2): test-row influence Pearson ≥ 1 − 7e-8 at
    # rtol 1e-3 against rtol 1e-11 on 50 000 × 5 000 / 100 000, uniform and Zipf columns
    assert PreconditionedCGSolver().rtol == PCG_DEFAULT_RTOL
    X, y = _sparse_problem(n=2000, p=300, density=0.02, seed=6)
    model = FrozenEstimator(LogisticRegression(max_iter=2000).fit(X, y))
    exact = InfluenceScorer(model, method="direct").fit(X, y).influence(X[:20], y[:20])
    default = InfluenceScorer(model, method="pcg").fit(X, y)
    got = default.influence(X[:20], y[:20])
    assert np.corrcoef(got.ravel(), exact.ravel())[0, 1] >= 1 - 1e-6
    assert default.solver_.last_residual_ <= PCG_DEFAULT_RTOL
