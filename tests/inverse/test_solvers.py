"""Solver-specific behaviour of the inverse-Hessian solvers.

The agreement of every registered solver with ``direct`` is in ``test_solver_common.py``.
"""

import warnings

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from skinfluence import InfluenceScorer
from skinfluence.exceptions import ApproximationWarning, ConvergenceWarning
from skinfluence.inverse import (
    ArnoldiSolver,
    ConjugateGradientSolver,
    DirectSolver,
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

        def hvp_operator(self, X, y, sample_weight=None):
            return lambda V: self.hvp(X, y, V, sample_weight)

    with pytest.warns(ConvergenceWarning, match="not positive definite"):
        ConjugateGradientSolver().fit(Indefinite(), X, y).solve(V)


def test_arnoldi_low_rank_keeps_top_eigenspace(wine_problem):
    # (full rank is exact: test_solver_common.py)
    adapter, X, y, _ = wine_problem
    low = ArnoldiSolver(damping=0.1, rank=10).fit(adapter, X, y)
    H = adapter.hessian(X, y) + adapter.null_space() @ adapter.null_space().T
    top = np.linalg.eigvalsh(H)[-10:]
    # ARPACK converges the top eigenvalues to machine precision.
    np.testing.assert_allclose(np.sort(low.eigenvalues_), top, rtol=1e-8)
    # On that subspace the solve is exact: H (solve(Hv)) projects v onto it.
    Q = low.eigenvectors_
    np.testing.assert_allclose(low.solve(H @ Q + 0.1 * Q), Q, atol=1e-8)


def test_lissa_minibatches_approach_direct_and_full_batch_repeats_run_once(wine_problem):
    # (the deterministic full-batch run against direct: test_solver_common.py)
    adapter, X, y, V = wine_problem
    exact = DirectSolver(damping=1.0).fit(adapter, X, y).solve(V)
    stochastic = (
        LissaSolver(damping=1.0, depth=500, batch_size=50, repeats=2, random_state=0)
        .fit(adapter, X, y)
        .solve(V)
    )
    assert _pearson(stochastic, exact) > 0.95  # minibatch noise, 2 repeats
    # Full batch, repeats are the same deterministic run: computed once, same result.
    repeated = LissaSolver(damping=1.0, depth=50, repeats=3).fit(adapter, X, y)
    before = repeated.operator_.n_products
    once = LissaSolver(damping=1.0, depth=50).fit(adapter, X, y).solve(V)
    np.testing.assert_allclose(repeated.solve(V), once, rtol=1e-12)
    assert repeated.operator_.n_products - before == 50 * V.shape[1]


def test_lissa_averages_the_iterates_after_burn_in(wine_problem):
    adapter, X, y, V = wine_problem
    damping, depth, burn_in = 1.0, 40, 25
    solver = LissaSolver(damping=damping, depth=depth, burn_in=burn_in).fit(adapter, X, y)
    # the recursion written out with the dense Hessian (plus the flat direction's B Bᵀ)
    B = adapter.null_space()
    A = adapter.hessian(X, y) + B @ B.T + damping * np.eye(adapter.n_params)
    h, iterates = V.copy(), []
    for _ in range(depth):
        h = V + h - A @ h / solver.scale_
        iterates.append(h)
    expected = np.mean(iterates[burn_in:], axis=0) / solver.scale_
    np.testing.assert_allclose(solver.solve(V), expected, rtol=1e-10)
    classic = LissaSolver(damping=damping, depth=depth, scale=solver.scale_)  # full batch
    np.testing.assert_allclose(classic.fit(adapter, X, y).solve(V), h / solver.scale_, rtol=1e-10)


def test_lissa_minibatch_averaging_beats_the_last_iterate(wine_problem):
    adapter, X, y, V = wine_problem
    exact = DirectSolver(damping=1.0).fit(adapter, X, y).solve(V)
    errors = {"average": [], "last": []}
    for seed in range(5):
        kw = {"damping": 1.0, "depth": 500, "batch_size": 20, "random_state": seed}
        # the same seed draws the same minibatches: the same iterates, read out two ways
        runs = {"average": LissaSolver(**kw), "last": LissaSolver(burn_in=499, **kw)}
        for name, solver in runs.items():
            approx = solver.fit(adapter, X, y).solve(V)
            errors[name].append(np.linalg.norm(approx - exact) / np.linalg.norm(exact))
    # measured: relative error 0.06-0.10 averaged, 0.17-0.32 for the last iterate
    assert np.all(np.array(errors["average"]) < np.array(errors["last"]))
    assert np.mean(errors["average"]) < 0.5 * np.mean(errors["last"])


@pytest.mark.parametrize("burn_in", [-1, 50, 2.5])
def test_lissa_burn_in_outside_its_range_is_an_error(burn_in):
    with pytest.raises(ValueError, match="burn_in"):
        LissaSolver(depth=50, burn_in=burn_in)


def test_lissa_with_too_small_scale_raises(wine_problem):
    adapter, X, y, V = wine_problem
    with pytest.raises(FloatingPointError, match="scale"):
        LissaSolver(scale=1e-3, depth=2000).fit(adapter, X, y).solve(V)


def test_lissa_warns_when_the_recursion_grows_and_not_when_it_converges(wine_problem):
    torch = pytest.importorskip("torch")
    nn = torch.nn
    from skinfluence.models import TorchModule

    torch.manual_seed(0)
    module = nn.Sequential(nn.Linear(4, 5), nn.Tanh(), nn.Linear(5, 3))  # untrained
    rng = np.random.RandomState(0)
    X, y = rng.randn(60, 4), rng.randint(0, 3, 60)
    net = adapter_for(TorchModule(module, nn.CrossEntropyLoss(), classes=[0, 1, 2]))
    V = net.gradients(X[:5], y[:5]).dense_rows(slice(None)).T
    smallest = np.linalg.eigvalsh(net.hessian(X, y))[0]
    assert smallest < -5  # a saddle: H + λI indefinite at damping 1
    for batch_size in (None, 20):
        solver = LissaSolver(damping=1.0, depth=300, batch_size=batch_size, random_state=0)
        with pytest.warns(ConvergenceWarning, match="negative eigenvalue.*damping"):
            solver.fit(net, X, y).solve(V)
    # converging runs, minibatch noise included, stay silent
    adapter, Xw, yw, Vw = wine_problem
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        LissaSolver(damping=1.0 - smallest, depth=300).fit(net, X, y).solve(V)
        for batch_size in (None, 10, 50):
            for seed in range(3):
                solver = LissaSolver(
                    damping=1.0, depth=300, batch_size=batch_size, random_state=seed
                )
                solver.fit(adapter, Xw, yw).solve(Vw)


def test_identity_is_gradient_similarity(wine_problem):
    # (the solve itself, V / (1 + λ): test_solver_common.py)
    X, y = wine_problem[1:3]
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


def test_solvers_on_a_torch_net_use_the_cached_products_and_match_direct():
    """A small MLP (p = 43) through the torch adapter's cached (linearised) HVPs."""
    torch = pytest.importorskip("torch")
    nn = torch.nn
    from skinfluence.models import TorchModule

    torch.manual_seed(0)
    module = nn.Sequential(
        nn.Linear(4, 5, dtype=torch.float64), nn.Tanh(), nn.Linear(5, 3, dtype=torch.float64)
    )
    rng = np.random.RandomState(0)
    X, y = rng.randn(60, 4), rng.randint(0, 3, 60)
    w = rng.uniform(0.5, 2.0, 60)
    adapter = adapter_for(TorchModule(module, nn.CrossEntropyLoss(), classes=[0, 1, 2]))
    V = adapter.gradients(X[:5], y[:5]).dense_rows(slice(None)).T
    H = adapter.hessian(X, y, sample_weight=w)
    damping = 2.0 - min(0.0, np.linalg.eigvalsh(H)[0])  # an untrained net: H indefinite
    exact = DirectSolver(damping=damping).fit(adapter, X, y, sample_weight=w).solve(V)
    cg = ConjugateGradientSolver(damping=damping, rtol=1e-10)
    np.testing.assert_allclose(
        cg.fit(adapter, X, y, sample_weight=w).solve(V), exact, rtol=1e-6, atol=1e-9
    )
    assert len(cg.operator_._products._graphs) == 1  # the products used the kept graph
    # Deterministic LiSSA: error factor (1 − λmin/scale)^depth < 1e-6 at this conditioning.
    scale = 2 * np.linalg.eigvalsh(H)[-1] + 2 * damping
    lissa = LissaSolver(damping=damping, depth=3000, scale=scale)
    cond = (np.linalg.eigvalsh(H)[-1] + damping) / (np.linalg.eigvalsh(H)[0] + damping)
    assert (1 - 1 / (2 * cond)) ** 3000 < 1e-6
    np.testing.assert_allclose(
        lissa.fit(adapter, X, y, sample_weight=w).solve(V), exact, rtol=1e-4, atol=1e-8
    )
    # Arnoldi through ARPACK (rank < p − 1): the top eigenvalues of the dense Hessian.
    arnoldi = ArnoldiSolver(damping=damping, rank=10).fit(adapter, X, y, sample_weight=w)
    top = np.sort(np.abs(np.linalg.eigvalsh(H)))[-10:]
    np.testing.assert_allclose(np.sort(np.abs(arnoldi.eigenvalues_)), top, rtol=1e-8)


def test_lissa_float32_products_on_a_torch_net_agree_with_float64():
    torch = pytest.importorskip("torch")
    nn = torch.nn
    from skinfluence.models import TorchModule

    torch.manual_seed(0)
    module = nn.Sequential(nn.Linear(4, 5), nn.Tanh(), nn.Linear(5, 3))  # float32, as trained
    rng = np.random.RandomState(0)
    X, y = rng.randn(60, 4), rng.randint(0, 3, 60)
    adapter = adapter_for(TorchModule(module, nn.CrossEntropyLoss(), classes=[0, 1, 2]))
    V = adapter.gradients(X[:5], y[:5]).dense_rows(slice(None)).T
    damping = 2.0 - min(0.0, np.linalg.eigvalsh(adapter.hessian(X, y))[0])
    results = {}
    for dtype in (np.float64, np.float32):
        for batch_size in (None, 20):
            solver = LissaSolver(
                damping=damping, depth=2000, batch_size=batch_size, dtype=dtype, random_state=0
            ).fit(adapter, X, y)
            assert solver.adapter_.dtype == getattr(torch, np.dtype(dtype).name)
            results[dtype, batch_size] = solver.solve(V)
    for batch_size in (None, 20):  # same iterates, float32 rounding damped by the contraction
        ref, low = results[np.float64, batch_size], results[np.float32, batch_size]
        err = np.abs(low - ref).max() / np.abs(ref).max()
        assert 1e-10 < err < 1e-4
    assert adapter.dtype == torch.float64  # the solver worked on a float32 copy


def test_lissa_dtype_is_validated_and_float32_is_for_torch_models(wine_problem):
    adapter, X, y, _ = wine_problem
    with pytest.raises(ValueError, match="dtype"):
        LissaSolver(dtype=np.float16)
    with pytest.raises(ValueError, match="dtype"):
        LissaSolver(dtype="double precision")
    with pytest.raises(ValueError, match="torch models"):
        LissaSolver(dtype=np.float32).fit(adapter, X, y)


def test_auto_rule(breast_cancer, monkeypatch):
    from skinfluence.inverse import _auto

    X, y = breast_cancer
    assert InfluenceScorer(LogisticRegression()).fit(X, y).method_ == "direct"  # p = 31
    # above the memory budget: preconditioned CG for a linear model, cg / arnoldi otherwise
    assert InfluenceScorer(LogisticRegression(), memory_budget=0).fit(X, y).method_ == "pcg"
    monkeypatch.setattr(_auto, "GeneralizedLinear", type("Nothing", (), {}))
    monkeypatch.setattr(_auto, "AUTO_CG_MAX_SOLVES", 50)
    small = InfluenceScorer(LogisticRegression(), memory_budget=0)
    assert small.fit(X[:50], y[:50]).method_ == "cg"
    with pytest.warns(ApproximationWarning, match="arnoldi"):
        assert small.fit(X[:100], y[:100]).method_ == "arnoldi"


# -- an MLP trained to convergence (the bars) ---------------------------------------
def _converged_mlp(X, y, hidden, wd):
    """skorch MLP (float64), Adam then L-BFGS on mean loss + wd/2 ‖θ‖² to a zero gradient."""
    torch = pytest.importorskip("torch")
    skorch = pytest.importorskip("skorch")
    nn = torch.nn
    torch.manual_seed(0)
    module = nn.Sequential(
        nn.Linear(X.shape[1], hidden, dtype=torch.float64),
        nn.Tanh(),
        nn.Linear(hidden, len(np.unique(y)), dtype=torch.float64),
    )
    net = skorch.NeuralNetClassifier(
        module,
        criterion=nn.CrossEntropyLoss,
        optimizer=torch.optim.Adam,
        lr=0.01,
        optimizer__weight_decay=wd,
        max_epochs=200,
        batch_size=-1,
        train_split=None,
        verbose=0,
    ).fit(X, y)
    params = list(net.module_.parameters())
    opt = torch.optim.LBFGS(
        params,
        max_iter=2000,
        tolerance_grad=1e-10,
        tolerance_change=1e-14,
        history_size=50,
        line_search_fn="strong_wolfe",
    )
    Xt, yt = torch.as_tensor(X), torch.as_tensor(y)

    def closure():
        opt.zero_grad()
        loss = nn.functional.cross_entropy(net.module_(Xt), yt)
        loss = loss + wd / 2 * sum((p**2).sum() for p in params)
        loss.backward()
        return loss

    opt.step(closure)
    return net


def _mlp_problems():
    from sklearn.datasets import load_digits, make_classification

    X, y = load_digits(return_X_y=True)
    idx = np.random.RandomState(0).permutation(len(y))
    yield "digits", X[idx] / 16.0, y[idx], 32  # p = 64·32 + 32 + 32·10 + 10 = 2410
    X, y = make_classification(
        n_samples=550, n_features=20, n_informative=10, n_classes=3, flip_y=0.02, random_state=0
    )
    yield "synthetic", (X - X.mean(0)) / X.std(0), y, 96  # p = 20·96 + 96 + 96·3 + 3 = 2307


@pytest.mark.slow
@pytest.mark.parametrize("problem", list(_mlp_problems()), ids=lambda p: p[0])
def test_mlp_solvers_agree_with_direct(problem):
    name, X, y, hidden = problem
    n, m = 500, 20  # as in benchmarks/bench_torch_influence.py
    Xtr, ytr, Xte, yte = X[:n], y[:n], X[n : n + m], y[n : n + m]
    net = _converged_mlp(Xtr, ytr, hidden, wd=1e-3)
    adapter = adapter_for(net)
    assert 2000 <= adapter.n_params <= 5000
    G, T = adapter.gradients(Xtr, ytr), adapter.gradients(Xte, yte).dense_rows(slice(None)).T
    damping = 0.01 * n  # Koh & Liang's 0.01 on the mean-loss Hessian, in sum form
    solvers = {
        "direct": DirectSolver(damping=damping),
        "cg": ConjugateGradientSolver(damping=damping),
        "arnoldi": ArnoldiSolver(damping=damping, rank=200),
        "lissa": LissaSolver(damping=damping, depth=1000, batch_size=100, random_state=0),
    }
    infl = {k: G.matmul(s.fit(adapter, Xtr, ytr).solve(T)) for k, s in solvers.items()}
    r = {k: _pearson(v, infl["direct"]) for k, v in infl.items()}
    print(name, r)
    # The bars (benchmarks/README.md has the measured values and timings).
    assert r["cg"] >= 0.99
    assert r["arnoldi"] >= 0.9
    assert r["lissa"] >= 0.9
