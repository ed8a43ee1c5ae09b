"""scikit-learn's own nets (``MLPClassifier``, ``MLPRegressor``): what the common adapter tests
do not cover.

The common tests (``test_adapter_common.py``) check every registered MLP example with the
default (numpy) backend. Here: scikit-learn's own gradient as the reference, the torch backend
against numpy (and through the common checks), every solver, Pipelines, the flat direction of
a softmax output, the warnings, and influence against actual leave-one-out refits.
"""

import copy
import subprocess
import sys
import warnings
from itertools import pairwise

import numpy as np
import pytest
from sklearn.datasets import load_iris
from sklearn.frozen import FrozenEstimator
from sklearn.neural_network import MLPClassifier, MLPRegressor
from sklearn.neural_network._multilayer_perceptron import _pack
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler, scale

from skinfluence import InfluenceScorer, LeaveOneOutScorer
from skinfluence.exceptions import ApproximationWarning
from skinfluence.models import MLPAdapter, adapter_for, registered_adapter, registered_families
from skinfluence.models._mlp_examples import mlp_classifier_example, polish_lbfgs
from tests.models.test_adapter_common import CHECKS

MLP_EXAMPLES = [
    pytest.param(make, id=f"{family.name}-{i}")
    for family in registered_families()
    if family.name in ("MLPClassifier", "MLPRegressor")
    for i, make in enumerate(family.examples)
]
_BUILT = {}


def _example(make):
    if make not in _BUILT:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ApproximationWarning)
            _BUILT[make] = make()
    return _BUILT[make]


def _adapter(example, backend="numpy"):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ApproximationWarning)
        return MLPAdapter(example.estimator, backend=backend)


def _relative(a, b):
    return np.abs(a - b).max() / max(np.abs(b).max(), 1e-300)


@pytest.mark.parametrize("make", MLP_EXAMPLES)
def test_summed_gradient_is_scikit_learns_backprop(make):
    """Σ_i w_i ∇ℓ_i + α W equals Σ_i w_i times scikit-learn's own full-batch gradient
    (``_loss_grad_lbfgs``), away from the optimum where the terms do not cancel: the objective
    is the one scikit-learn differentiates."""
    example = _example(make)
    net, X, y, sw = example.estimator, example.X, example.y, example.sample_weight
    Xv, Y = net._validate_input(X, y, incremental=False, reset=False)
    Y = Y.reshape(len(Y), -1)
    units = [X.shape[1]] + [c.shape[1] for c in net.coefs_]
    buffers = (
        [Xv] + [None] * (len(units) - 1),
        [None] * (len(units) - 1),
        [np.empty((i, o)) for i, o in pairwise(units)],
        [np.empty(o) for o in units[1:]],
    )
    adapter = _adapter(example)
    theta = adapter.params() + 0.1 * np.random.RandomState(0).randn(adapter.n_params)
    moved = adapter.with_params(theta)
    np.testing.assert_array_equal(_pack(moved.estimator.coefs_, moved.estimator.intercepts_), theta)
    _, coef_grads, intercept_grads = moved.estimator._backprop(Xv, Y, sw, *buffers)
    reference = _pack(coef_grads, intercept_grads) * (len(y) if sw is None else sw.sum())
    w = moved.row_weights(y, sw)
    ours = moved.gradients(X, y).rmatmul(w[:, None])[:, 0]
    n_coefs = sum(c.size for c in net.coefs_)
    ours[:n_coefs] += net.alpha * theta[:n_coefs]
    np.testing.assert_allclose(ours, reference, rtol=1e-9, atol=1e-12 * np.abs(reference).max())


@pytest.mark.parametrize("make", MLP_EXAMPLES)
def test_torch_backend_agrees_with_numpy(make):
    pytest.importorskip("torch")
    example = _example(make)
    X, y, sw = example.X, example.y, example.sample_weight
    ours, theirs = _adapter(example), _adapter(example, "torch")
    rng = np.random.RandomState(0)
    V, U = rng.randn(ours.n_params, 3), rng.randn(len(y), 2)
    G, T = ours.gradients(X, y), theirs.gradients(X, y)
    # two float64 implementations of the same sums: rounding only (measured ≤ 7e-15)
    assert _relative(theirs.loss(X, y), ours.loss(X, y)) < 1e-10
    assert _relative(T.dense_rows(slice(None)), G.dense_rows(slice(None))) < 1e-10
    assert _relative(T.matmul(V), G.matmul(V)) < 1e-10
    assert _relative(T.rmatmul(U), G.rmatmul(U)) < 1e-10
    HV = ours.hvp(X, y, V, sample_weight=sw)
    assert _relative(theirs.hvp(X, y, V, sample_weight=sw), HV) < 1e-10
    assert _relative(theirs.hvp_operator(X, y, sample_weight=sw)(V), HV) < 1e-10


@pytest.mark.parametrize("check", CHECKS, ids=lambda c: c.__name__.removeprefix("check_"))
@pytest.mark.parametrize("index", [1, 3])
def test_torch_backend_passes_the_common_checks(check, index):
    pytest.importorskip("torch")
    make = MLP_EXAMPLES[index].values[0]
    example = _example(make)
    check(example, _adapter(example, "torch"))


def test_importing_and_adapting_needs_no_torch():
    code = (
        "import sys, numpy as np\n"
        "from sklearn.neural_network import MLPClassifier\n"
        "from skinfluence.models import adapter_for\n"
        "X, y = np.random.RandomState(0).randn(20, 3), np.arange(20) % 2\n"
        "a = adapter_for(MLPClassifier((3,), max_iter=50, random_state=0).fit(X, y))\n"
        "a.hvp(X, y, np.ones(a.n_params)); a.gradients(X, y).row_norms()\n"
        "print('torch' in sys.modules)\n"
    )
    out = subprocess.run(
        [sys.executable, "-W", "ignore", "-c", code], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "False"


def test_softmax_flat_direction_is_exact():
    example = _example(MLP_EXAMPLES[1].values[0])  # 3 classes
    adapter = _adapter(example)
    B = adapter.null_space()
    assert B.shape == (adapter.n_params, 1)
    np.testing.assert_allclose(B.T @ B, np.eye(1))
    G = adapter.gradients(example.X, example.y)
    assert np.abs(G.matmul(B)).max() < 1e-12
    H = adapter.hessian(example.X, example.y, sample_weight=example.sample_weight)
    assert np.abs(H @ B).max() < 1e-10 * np.abs(H).max()
    binary = _adapter(_example(MLP_EXAMPLES[0].values[0]))
    assert binary.null_space() is None


def test_unknown_labels_and_wrong_shapes_are_refused():
    example = _example(MLP_EXAMPLES[0].values[0])
    adapter = _adapter(example)
    with pytest.raises(ValueError, match="features"):
        adapter.loss(example.X[:, :2], example.y)
    with pytest.raises(ValueError):
        adapter.loss(example.X[:2], [7, 7])
    with pytest.raises(ValueError, match="backend"):
        MLPAdapter(example.estimator, backend="jax")


def test_several_targets_fitted_by_lbfgs_warn():
    rng = np.random.RandomState(0)
    X, Y = rng.randn(40, 3), rng.randn(40, 2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        net = MLPRegressor(hidden_layer_sizes=(3,), solver="lbfgs", random_state=0).fit(X, Y)
        single = MLPRegressor(hidden_layer_sizes=(3,), solver="lbfgs", random_state=0)
        single.fit(X, Y[:, 0])
    with pytest.warns(ApproximationWarning, match="8349"):
        adapter_for(net)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ApproximationWarning)
        adapter_for(single)


def test_minibatch_penalty_is_shared_per_row():
    """adam applies α/2 ‖W‖² once per batch of B rows: a share α/(2B) ‖W‖² per row, no fixed
    part; L-BFGS's penalty is fixed."""
    make = next(p.values[0] for p in MLP_EXAMPLES if "adam" in _example(p.values[0]).id)
    example = _example(make)
    adapter = _adapter(example)
    B = example.estimator.batch_size
    assert (adapter.penalty_kind, adapter.batch_size) == ("shared", B)
    n_coefs = sum(c.size for c in example.estimator.coefs_)
    alpha, theta = example.estimator.alpha, adapter.params()
    assert not adapter.penalty_diagonal().any()
    np.testing.assert_allclose(adapter.penalty_share_diagonal()[:n_coefs], alpha / B)
    assert not adapter.penalty_share_diagonal()[n_coefs:].any()
    np.testing.assert_allclose(
        adapter.penalty_share_gradient()[:n_coefs], alpha / B * theta[:n_coefs]
    )
    lbfgs = _adapter(_example(MLP_EXAMPLES[0].values[0]))
    assert lbfgs.penalty_share_gradient() is None and lbfgs.penalty_share_diagonal() is None


@pytest.fixture(scope="module")
def iris_net():
    """A 3-class tanh net on 60 standardised iris rows, at an L-BFGS minimum."""
    X, y = load_iris(return_X_y=True)
    rows = np.random.RandomState(0).permutation(len(y))
    X, y = scale(X)[rows], y[rows]
    net = MLPClassifier((6,), activation="tanh", alpha=1.0, solver="lbfgs", random_state=0)
    net.set_params(tol=1e-10, max_iter=5000)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        net.fit(X[:60], y[:60])
    polish_lbfgs(net, X[:60], y[:60])
    return net, X[:60], y[:60], X[60:90], y[60:90]


def test_every_solver_works_and_agrees_with_direct(iris_net):
    net, X, y, X_test, y_test = iris_net
    damping = 0.01 * len(y)  # the nearly flat directions of a net; the same for every solver
    reference = InfluenceScorer(FrozenEstimator(net), method="direct", damping=damping)
    reference = reference.fit(X, y).influence(X_test, y_test)
    settings = {
        "cg": {},
        "arnoldi": {"rank": 40},
        "lissa": {"depth": 3000},
    }
    for method, params in settings.items():
        scorer = InfluenceScorer(
            FrozenEstimator(net), method=method, damping=damping, solver_params=params
        )
        influence = scorer.fit(X, y).influence(X_test, y_test)
        r = np.corrcoef(influence.ravel(), reference.ravel())[0, 1]
        assert r > 0.999, (method, r)


def test_pipeline_ending_in_a_net_is_the_net_on_transformed_rows(iris_net):
    _, X, y, X_test, y_test = iris_net
    raw = X * 3.0 + 1.0  # the scaler undoes it
    pipe = make_pipeline(
        StandardScaler(), MLPClassifier((4,), solver="lbfgs", max_iter=300, random_state=0)
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pipe.fit(raw, y)
    scorer = InfluenceScorer(FrozenEstimator(pipe), damping=1.0).fit(raw, y)
    alone = InfluenceScorer(FrozenEstimator(pipe[-1]), damping=1.0)
    alone.fit(pipe[0].transform(raw), y)
    np.testing.assert_allclose(
        scorer.influence(X_test * 3.0 + 1.0, y_test),
        alone.influence(pipe[0].transform(X_test * 3.0 + 1.0), y_test),
        rtol=1e-10,
        atol=1e-14,
    )


class _PolishedMLPClassifier(MLPClassifier):
    """An MLPClassifier whose L-BFGS fit is continued to a stationary point (``ftol=0``)."""

    def fit(self, X, y, sample_weight=None):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            super().fit(X, y, sample_weight=sample_weight)
        return polish_lbfgs(self, X, y, sample_weight, gtol=1e-10)


def _warm_refit_without(net, X, y, i):
    """The net refitted without row i from its own weights, to a stationary point."""
    keep = np.delete(np.arange(len(y)), i)
    model = copy.deepcopy(net).set_params(warm_start=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(X[keep], y[keep])
    return polish_lbfgs(model, X[keep], y[keep], gtol=1e-10)


def test_influence_agrees_with_leave_one_out_on_some_rows(iris_net):
    """Ground truth for 8 rows: each left out and the net refitted from the full-data weights
    (as LeaveOneOutScorer's warm start does) to a stationary point of scikit-learn's own
    objective. α = 1 keeps this small tanh net's Hessian well away from singular (its smallest
    eigenvalue, the softmax shift apart, is 0.25): first order reaches Pearson 0.99 (0.989 over
    every row; benchmarks/README.md has the weaker penalties, where it does not)."""
    net, X, y, X_test, y_test = iris_net
    rows = np.arange(0, 60, 8)
    adapter = adapter_for(net)
    base = adapter.loss(X_test, y_test)
    actual = np.column_stack(
        [adapter_for(_warm_refit_without(net, X, y, i)).loss(X_test, y_test) - base for i in rows]
    )
    scorer = InfluenceScorer(FrozenEstimator(net), method="direct").fit(X, y)
    influence = scorer.influence(X_test, y_test)[:, rows]
    r = np.corrcoef(influence.ravel(), actual.ravel())[0, 1]
    assert r > 0.98, r


@pytest.mark.slow
def test_influence_agrees_with_leave_one_out_scorer(iris_net):
    """The same, every row, through LeaveOneOutScorer's warm refits."""
    net, X, y, X_test, y_test = iris_net
    model = _PolishedMLPClassifier(**net.get_params())
    with registered_adapter(_PolishedMLPClassifier, MLPAdapter, name="polished MLP"):
        loo = LeaveOneOutScorer(model, warm_start=True).fit(X, y)
        actual = loo.influence(X_test, y_test)
        approx = InfluenceScorer(FrozenEstimator(loo.estimator_), method="direct").fit(X, y)
        influence = approx.influence(X_test, y_test)
    assert loo.refit_method_ == "refit"
    r = np.corrcoef(influence.ravel(), actual.ravel())[0, 1]
    assert r > 0.985, r


def test_gradients_of_a_sparse_net_match_dense():
    import scipy.sparse as sp

    example = _example(mlp_classifier_example)
    adapter = _adapter(example)
    dense = adapter.gradients(example.X, example.y).dense_rows(slice(None))
    G = adapter.gradients(sp.csr_matrix(example.X), example.y)
    np.testing.assert_allclose(G.dense_rows(slice(None)), dense, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(G.take(np.arange(5)).dense_rows(slice(None)), dense[:5])
