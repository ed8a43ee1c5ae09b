"""Gauss–Newton curvature: the torch products against each other and against the Hessian,
the curvature choice of InfluenceScorer, and the default damping on a trained net."""

import warnings

import numpy as np
import pytest
from sklearn.frozen import FrozenEstimator
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler

from skinfluence import InfluenceScorer
from skinfluence.exceptions import IllConditionedHessianWarning
from skinfluence.models import (
    GaussNewton,
    GaussNewtonView,
    adapter_for,
    resolve_curvature,
    with_curvature,
)

torch = pytest.importorskip("torch")
skorch = pytest.importorskip("skorch")
nn = torch.nn

from skinfluence.models import TorchModule  # noqa: E402


class TanhMLP(nn.Module):
    def __init__(self, d=4, h=6, k=3, softmax=False):
        super().__init__()
        self.fc1 = nn.Linear(d, h, dtype=torch.float64)
        self.fc2 = nn.Linear(h, k, dtype=torch.float64)
        self.softmax = softmax

    def forward(self, x):
        out = self.fc2(torch.tanh(self.fc1(x)))
        return out.softmax(dim=1) if self.softmax else out


def _data(n=60, d=4, k=3, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    y = (X[:, 0] + 0.5 * rng.normal(size=n) > 0).astype(int) + (X[:, 1] > 0.5)
    return X, y % k


def _trained(softmax=False, epochs=40, wd=1e-3, seed=0):
    X, y = _data()
    torch.manual_seed(seed)
    net = skorch.NeuralNetClassifier(
        TanhMLP,
        module__softmax=softmax,
        criterion=nn.NLLLoss if softmax else nn.CrossEntropyLoss,
        optimizer=torch.optim.Adam,
        optimizer__weight_decay=wd,
        lr=0.05,
        max_epochs=epochs,
        batch_size=16,
        train_split=None,
        verbose=0,
    ).fit(X, y)
    return net, X, y


@pytest.fixture(scope="module")
def trained():
    return _trained()


def test_products_dense_and_cached_operator_agree_and_are_psd(trained):
    net, X, y = trained
    adapter = adapter_for(net)
    assert isinstance(adapter, GaussNewton)
    G = adapter.ggn(X, y)  # from the output Jacobians
    V = np.random.default_rng(1).normal(size=(adapter.n_params, 4))
    # three code paths: jacrev blocks, JVP/Λ/VJP per call, the operator's cached Jacobian
    np.testing.assert_allclose(adapter.ggn_vp(X, y, V), G @ V, rtol=1e-9, atol=1e-10)
    np.testing.assert_allclose(adapter.ggn_operator(X, y)(V), G @ V, rtol=1e-9, atol=1e-10)
    assert np.linalg.eigvalsh(G).min() > 0  # PSD, plus weight decay n·wd
    H = adapter.hessian(X, y)
    # a tanh net away from interpolation: the dropped term is not zero
    assert np.abs(H - G).max() > 1e-3 * np.abs(H).max()


def test_operator_without_the_cached_jacobian_is_the_jvp_vjp_path(trained, monkeypatch):
    from skinfluence.torch import _ggn

    net, X, y = trained
    adapter = adapter_for(net)
    G = adapter.ggn(X, y)
    monkeypatch.setattr(_ggn, "_CACHED_JACOBIAN_ELEMENTS", 0)
    operator = adapter.ggn_operator(X, y, sample_weight=np.full(len(y), 2.0))
    V = np.random.default_rng(2).normal(size=(adapter.n_params, 3))
    G2 = adapter.ggn(X, y, sample_weight=np.full(len(y), 2.0))
    np.testing.assert_allclose(operator(V), G2 @ V, rtol=1e-9, atol=1e-10)
    assert operator._blocks and operator._jacobian is None
    np.testing.assert_allclose(G2, 2 * G, rtol=1e-9, atol=1e-10)  # weights scale all of it


def test_gauss_newton_of_a_single_layer_with_canonical_loss_is_the_hessian():
    X, y = _data()
    model = TorchModule(
        nn.Linear(4, 3, dtype=torch.float64), nn.CrossEntropyLoss(), classes=[0, 1, 2]
    )
    adapter = adapter_for(model)
    np.testing.assert_allclose(adapter.ggn(X, y), adapter.hessian(X, y), atol=1e-10)
    # ... but not for squared error on a sigmoid (a non-canonical link), away from a fit
    torch.manual_seed(0)
    squashed = TorchModule(
        nn.Sequential(nn.Linear(4, 1, dtype=torch.float64), nn.Sigmoid()), nn.MSELoss()
    )
    a = adapter_for(squashed)
    t = (y == 1).astype(float)[:, None]
    assert np.abs(a.ggn(X, t) - a.hessian(X, t)).max() > 1e-3


def test_nll_loss_on_probabilities_takes_the_log_probabilities_as_logits(trained):
    """NLLLoss is linear in its input; its Gauss–Newton matrix is the cross-entropy one of
    the logits, which a probability-output module's log-probabilities equal up to a
    per-row shift."""
    net, X, y = trained
    soft, _, _ = _trained(softmax=True, epochs=1)
    soft.module_.load_state_dict(net.module_.state_dict())
    # rtol: skorch's log(p + float32 eps) moves the log-probabilities by ~1e-7 / p
    G_soft, G = adapter_for(soft).ggn(X, y), adapter_for(net).ggn(X, y)
    np.testing.assert_allclose(G_soft, G, rtol=1e-4, atol=1e-4 * np.abs(G).max())


def test_linear_models_curvature_is_exact_and_the_same_under_either_choice(breast_cancer):
    X, y = breast_cancer[0][:100], breast_cancer[1][:100]
    adapter = adapter_for(make_pipeline(StandardScaler(), LogisticRegression()).fit(X, y))
    assert resolve_curvature(adapter, "auto") == "exact"
    assert with_curvature(adapter, "gauss-newton") is adapter  # G = H for η linear in θ
    a = InfluenceScorer(adapter.estimator, hessian="gauss-newton").fit(X, y)
    b = InfluenceScorer(adapter.estimator, hessian="exact").fit(X, y)
    assert a.damping_ == b.damping_ == 0.0
    np.testing.assert_array_equal(a.scores_, b.scores_)
    with pytest.raises(ValueError, match="hessian must be one of"):
        resolve_curvature(adapter, "fisher")


def test_gauss_newton_is_refused_for_a_family_without_one():
    from skinfluence.models import ModelAdapter

    class NoCurvature(ModelAdapter):
        n_params = 1
        params = with_params = encode_target = loss = gradients = hvp = None

    with pytest.raises(TypeError, match="hessian='exact'"):
        with_curvature(NoCurvature(None), "gauss-newton")
    assert resolve_curvature(NoCurvature(None), "auto") == "exact"


def test_default_call_on_a_trained_net_is_well_posed(trained):
    """The issue's symptom: the exact Hessian of an Adam-trained net is indefinite. The
    default (Gauss–Newton, damping a thousandth of its mean eigenvalue) warns nothing."""
    net, X, y = trained
    with warnings.catch_warnings():
        warnings.simplefilter("error", IllConditionedHessianWarning)
        scorer = InfluenceScorer(FrozenEstimator(net)).fit(X, y)
    assert scorer.curvature_ == "gauss-newton" and scorer.method_ == "direct"
    G = adapter_for(net).ggn(X, y)
    assert scorer.damping_ == pytest.approx(1e-3 * np.trace(G) / len(G), rel=1e-9)
    exact = adapter_for(net).hessian(X, y)
    if np.linalg.eigvalsh(exact).min() < 0:  # the comparison the issue made
        with pytest.warns(IllConditionedHessianWarning, match="indefinite"):
            InfluenceScorer(FrozenEstimator(net), hessian="exact", damping=0.0).fit(X, y)


def test_pipeline_of_a_net_forwards_the_gauss_newton_matrix(trained):
    net, X, y = trained
    scaler = StandardScaler().fit(X)
    Xs = scaler.transform(X)
    pipeline = Pipeline([("scale", FrozenEstimator(scaler)), ("net", FrozenEstimator(net))])
    adapter = adapter_for(pipeline)
    assert isinstance(adapter, GaussNewton)
    view = with_curvature(adapter, "auto")
    assert isinstance(view, GaussNewtonView)
    np.testing.assert_allclose(view.hessian(X, y), adapter_for(net).ggn(Xs, y), atol=1e-10)


@pytest.mark.parametrize("method", ["cg", "arnoldi", "lissa"])
def test_every_solver_works_on_the_gauss_newton_matrix(trained, method):
    """Defaults (damping="auto", the solver's default settings) against direct on the same
    curvature; a 63-parameter net, so arnoldi's default rank covers it (the issue's net:
    test_issue_net_solvers_agree_with_direct_on_the_gauss_newton_matrix)."""
    net, X, y = trained
    ref = InfluenceScorer(FrozenEstimator(net), method="direct").fit(X, y)
    other = InfluenceScorer(FrozenEstimator(net), method=method).fit(X, y)
    assert other.curvature_ == "gauss-newton"
    a, b = other.influence(X[:10], y[:10]), ref.influence(X[:10], y[:10])
    assert np.corrcoef(a.ravel(), b.ravel())[0, 1] > 0.999


def test_ridge_damping_auto_stays_zero():
    from sklearn.datasets import load_diabetes

    X, y = load_diabetes(return_X_y=True)
    scorer = InfluenceScorer(Ridge(alpha=1.0), method="cg").fit(X[:80], y[:80])
    assert scorer.damping_ == 0.0 and scorer.curvature_ == "exact"


@pytest.mark.slow
def test_issue_net_solvers_agree_with_direct_on_the_gauss_newton_matrix():
    """The issue's evidence at the defaults (benchmarks/bench_gauss_newton.py, shorter
    training): no indefinite-Hessian warning; cg ≥ 0.99, arnoldi ≥ 0.9, lissa ≥ 0.95
    Pearson with direct on G; EK-FAC at least K-FAC's agreement."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).parents[2] / "benchmarks"))
    import bench_gauss_newton as bench

    from skinfluence.inverse import make_solver

    X, y, Xte, yte = bench.make_data()
    net = bench.train(X, y, epochs=100)
    adapter = adapter_for(net)
    G = with_curvature(adapter, "auto")
    assert isinstance(G, GaussNewtonView)
    train, V = adapter.gradients(X, y), adapter.gradients(Xte[:20], yte[:20])
    V = V.dense_rows(slice(None)).T
    r = {}
    with warnings.catch_warnings():
        warnings.simplefilter("error", IllConditionedHessianWarning)
        ref = train.matmul(make_solver("direct", damping="auto").fit(G, X, y).solve(V))
        for method in ("cg", "arnoldi", "lissa", "kfac", "ekfac"):
            solver = make_solver(method, damping="auto").fit(G, X, y)
            r[method] = bench.pearson(train.matmul(solver.solve(V)), ref)
    print(r)
    assert r["cg"] >= 0.99 and r["arnoldi"] >= 0.9 and r["lissa"] >= 0.95
    assert r["ekfac"] >= r["kfac"] - 0.01
