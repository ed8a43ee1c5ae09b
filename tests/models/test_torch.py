"""Torch adapter: skorch nets and bare modules against exact references."""

import subprocess
import sys
import warnings

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.ensemble import RandomForestClassifier
from sklearn.exceptions import NotFittedError
from sklearn.frozen import FrozenEstimator
from sklearn.linear_model import LogisticRegression

from skinfluence import GradientOutlierScorer, InfluenceScorer, TracInScorer
from skinfluence.exceptions import ApproximationWarning
from skinfluence.models import ParameterSubset, TorchModule, adapter_for

torch = pytest.importorskip("torch")
skorch = pytest.importorskip("skorch")
nn = torch.nn


def test_import_does_not_import_torch():
    # The torch layout (skinfluence/torch/) included: only using a name there imports torch.
    code = (
        "import sys, skinfluence, skinfluence.models, skinfluence.torch, "
        "skinfluence.torch._adapter, skinfluence.torch._hvp, skinfluence.torch._wrappers, "
        "skinfluence.torch._imports, skinfluence._utils._estimators\n"
        "from skinfluence.models import ParameterSubset, TorchAdapter, TorchModule\n"
        "from sklearn.linear_model import LogisticRegression\n"
        "assert not skinfluence._utils._estimators.is_skorch_net(LogisticRegression())\n"
        "print('torch' in sys.modules or 'skorch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_models_reexports_the_torch_pieces():
    from skinfluence import models
    from skinfluence.torch import _adapter, _wrappers

    assert models.TorchAdapter is _adapter.TorchAdapter
    assert models.TorchModule is _wrappers.TorchModule
    assert models.ParameterSubset is _wrappers.ParameterSubset


def test_is_skorch_net_unwraps_and_finds_subclasses():
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from skinfluence._utils._estimators import is_skorch_net

    class OwnNet(skorch.NeuralNetClassifier):  # defined outside skorch: isinstance, not name
        pass

    net = OwnNet(MLP)
    assert is_skorch_net(net) and is_skorch_net(skorch.NeuralNetRegressor(MLP))
    assert is_skorch_net(FrozenEstimator(net))
    assert is_skorch_net(ParameterSubset(FrozenEstimator(net), params=["fc2"]))
    assert is_skorch_net(make_pipeline(StandardScaler(), ParameterSubset(net, params=["fc2"])))
    assert not is_skorch_net(make_pipeline(StandardScaler(), LogisticRegression()))
    assert not is_skorch_net(TorchModule(MLP(), nn.CrossEntropyLoss(), classes=[0, 1, 2]))
    assert not is_skorch_net(make_pipeline(net, "passthrough"))


class MLP(nn.Module):
    def __init__(self, n_in=4, hidden=5, n_out=3):
        super().__init__()
        self.fc1 = nn.Linear(n_in, hidden, dtype=torch.float64)
        self.fc2 = nn.Linear(hidden, n_out, dtype=torch.float64)

    def forward(self, x):
        return self.fc2(torch.tanh(self.fc1(x)))


def _data(n=40, d=4, k=3, seed=0):
    rng = np.random.RandomState(seed)
    X = rng.randn(n, d)
    y = rng.randint(0, k, n)
    return X, y


def _mlp_net(wd=1e-2, epochs=3, **kw):
    torch.manual_seed(0)
    return skorch.NeuralNetClassifier(
        MLP,
        criterion=nn.CrossEntropyLoss,
        optimizer__weight_decay=wd,
        max_epochs=epochs,
        lr=0.1,
        train_split=None,
        verbose=0,
        batch_size=-1,
        **kw,
    )


def _torch_logistic_net(X, y, C):
    """A skorch logistic regression holding scikit-learn's fitted parameters, L2 = 1/(nC)."""
    n, d = X.shape
    lr = LogisticRegression(C=C, tol=1e-12, max_iter=10_000).fit(X, y)
    net = skorch.NeuralNetBinaryClassifier(
        nn.Linear,
        module__in_features=d,
        module__out_features=1,
        module__dtype=torch.float64,
        optimizer__weight_decay=1.0 / (n * C),
        optimizer__param_groups=[("bias", {"weight_decay": 0.0})],
        train_split=None,
        verbose=0,
    ).initialize()
    with torch.no_grad():
        net.module_.weight.copy_(torch.as_tensor(lr.coef_))
        net.module_.bias.copy_(torch.as_tensor(lr.intercept_))
    return lr, net


def test_torch_logistic_regression_equals_linear_adapter(breast_cancer):
    X, y = breast_cancer
    Xtr, ytr, Xte, yte = X[:300], y[:300], X[300:340], y[300:340]
    lr, net = _torch_logistic_net(Xtr, ytr, C=0.5)
    lin, tor = adapter_for(lr), adapter_for(net)
    assert tor.n_params == lin.n_params
    # float64 throughout, same θ: only rounding separates the two paths (torch's and scipy's
    # log-sigmoid differ by ~1e-10 relative on losses near 1e-6).
    np.testing.assert_allclose(tor.loss(Xte, yte), lin.loss(Xte, yte), rtol=1e-8)
    H = lin.hessian(Xtr, ytr)
    np.testing.assert_allclose(tor.hessian(Xtr, ytr), H, rtol=1e-9, atol=1e-9)
    # The sigmoid is logistic regression's canonical link: the net's Gauss–Newton matrix,
    # computed by the torch path (Jacobians; JVP/VJP products), is the exact Hessian.
    np.testing.assert_allclose(tor.ggn(Xtr, ytr), H, rtol=1e-9, atol=1e-9)
    V = np.random.default_rng(0).normal(size=(tor.n_params, 3))
    np.testing.assert_allclose(tor.ggn_vp(Xtr, ytr, V), H @ V, rtol=1e-9, atol=1e-9)
    infl_lin = InfluenceScorer(FrozenEstimator(lr), method="direct").fit(Xtr, ytr)
    # damping=0: the default ("auto") damps nets, which the linear adapter is not
    infl_tor = InfluenceScorer(
        FrozenEstimator(net), method="direct", hessian="gauss-newton", damping=0.0
    ).fit(Xtr, ytr)
    assert infl_lin.damping_ == 0.0 and infl_tor.curvature_ == "gauss-newton"
    a, b = infl_tor.influence(Xte, yte), infl_lin.influence(Xte, yte)
    # The bar: equal to 1e-6 relative (relative to the largest entry for
    # the smallest ones, whose last digits are rounding).
    np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-6 * np.abs(b).max())
    s_tor, s_lin = infl_tor.scores_, infl_lin.scores_
    np.testing.assert_allclose(s_tor, s_lin, rtol=1e-6, atol=1e-6 * s_lin.max())


def test_per_sample_gradients_match_autograd_row_by_row():
    X, y = _data()
    net = _mlp_net().fit(X, y)
    G = adapter_for(net).gradients(X, y).dense_rows(slice(None))
    module, crit = net.module_, nn.CrossEntropyLoss()
    for i in (0, 7, 39):
        module.zero_grad()
        crit(module(torch.as_tensor(X[i : i + 1])), torch.as_tensor(y[i : i + 1])).backward()
        ref = torch.cat([p.grad.reshape(-1) for p in module.parameters()]).numpy()
        np.testing.assert_allclose(G[i], ref, rtol=1e-10, atol=1e-12)


def test_hvp_matches_finite_difference_of_objective_gradient():
    X, y = _data()
    net = _mlp_net(wd=0.05).fit(X, y)
    a = adapter_for(net)
    theta, wd, n = a.params(), a.penalty_diagonal(), len(y)
    np.testing.assert_allclose(wd, 0.05)  # read from the optimizer

    def objective_grad(th):
        return a.with_params(th).gradients(X, y).rmatmul(np.ones((n, 1)))[:, 0] + n * wd * th

    v = np.random.RandomState(1).randn(a.n_params)
    eps = 1e-5
    fd = (objective_grad(theta + eps * v) - objective_grad(theta - eps * v)) / (2 * eps)
    # Central differences: O(eps²) truncation ≈ 1e-10 relative, far below 1e-6.
    np.testing.assert_allclose(a.hvp(X, y, v), fd, rtol=1e-6, atol=1e-8)
    H = a.hessian(X, y)
    np.testing.assert_allclose(H, H.T, atol=1e-10)


def test_cached_hvp_operator_equals_hvp_and_survives_pickling():
    import pickle

    X, y = _data(n=70)
    w = np.random.RandomState(2).uniform(0.5, 2.0, len(y))
    a = adapter_for(_mlp_net(wd=0.05).fit(X, y))
    V = np.random.RandomState(3).randn(a.n_params, 5)
    ref = a.hessian(X, y, sample_weight=w) @ V
    a.chunk_size = 1  # cached blocks of 64 rows: two of them, and 1-column calls
    # Same products to rounding (1e-10 relative) through the kept gradient graphs, then,
    # after linearize_after columns, through the traced linearisation.
    op = a.hvp_operator(X, y, sample_weight=w)
    op.linearize_after = 12
    for stage in ("graphs", "graphs", "graphs", "linearized"):
        np.testing.assert_allclose(op(V), ref, rtol=1e-10, atol=1e-12)
        cache = op._graphs if stage == "graphs" else op._linearized
        assert len(cache) == 2, stage  # in use, row blocks of 64 + 6 rows
    np.testing.assert_allclose(op(V[:, 0]), ref[:, 0], rtol=1e-10, atol=1e-12)
    restored = pickle.loads(pickle.dumps(op))  # graphs dropped, rebuilt on demand
    assert restored._graphs is None and restored._linearized is None
    np.testing.assert_allclose(restored(V), ref, rtol=1e-10, atol=1e-12)
    # Over the memory budget: no cache, the same values recomputed at every call.
    small = type(op)(a, X, y, sample_weight=w, memory_budget=0)
    for _ in range(2):
        np.testing.assert_allclose(small(V), ref, rtol=1e-10, atol=1e-12)
    assert small._linearized is False and small._graphs is None


def test_params_restricts_to_named_submodules():
    X, y = _data()
    net = _mlp_net().fit(X, y)
    full = adapter_for(net)
    sub = adapter_for(ParameterSubset(FrozenEstimator(net), params=["fc2"]))
    assert sub.n_params == 5 * 3 + 3
    G_full = full.gradients(X, y).dense_rows(slice(None))
    G_sub = sub.gradients(X, y).dense_rows(slice(None))
    np.testing.assert_allclose(G_sub, G_full[:, -18:], rtol=1e-12)
    with pytest.raises(ValueError, match="match no parameter"):
        adapter_for(ParameterSubset(FrozenEstimator(net), params=["fc3"]))


def test_parameter_subset_in_scorer_is_last_layer_influence():
    X, y = _data()
    scorer = InfluenceScorer(
        ParameterSubset(_mlp_net(), params="fc2"), method="direct", damping=1e-3
    ).fit(X, y)
    assert scorer.adapter_.n_params == 18
    assert scorer.influence(X[:3], y[:3]).shape == (3, 40)


def test_bare_module_wrapper_equals_skorch_net():
    X, y = _data()
    net = _mlp_net(wd=0.02).fit(X, y)
    bare = TorchModule(net.module_, nn.CrossEntropyLoss(), classes=np.arange(3), weight_decay=0.02)
    a, b = adapter_for(bare), adapter_for(net)
    np.testing.assert_allclose(a.hessian(X, y), b.hessian(X, y), rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(bare.predict(X), net.predict(X))


def test_regressor_loss_is_the_criterion_per_row():
    rng = np.random.RandomState(0)
    X = rng.randn(30, 4)
    y = rng.randn(30, 3)
    torch.manual_seed(0)
    net = skorch.NeuralNetRegressor(MLP, max_epochs=2, train_split=None, verbose=0).fit(X, y)
    pred = net.predict(X)
    np.testing.assert_allclose(
        adapter_for(net).loss(X, y), ((pred - y) ** 2).mean(axis=1), rtol=1e-10
    )


@pytest.mark.parametrize(
    "criterion, traceable",
    [(nn.MSELoss, True), (nn.L1Loss, True), (nn.HuberLoss, False)],
)
def test_linearised_products_of_regression_nets(criterion, traceable):
    """MSELoss's forward-mode formula once crashed torch's tracer (a segfault, not an error:
    pytorch/pytorch#123996); HuberLoss has no forward-mode formula: the operator keeps the
    gradient graphs, with the same values."""
    rng = np.random.RandomState(0)
    X, y = rng.randn(50, 4), rng.randn(50, 3)
    torch.manual_seed(0)
    net = skorch.NeuralNetRegressor(
        MLP, criterion=criterion, max_epochs=2, train_split=None, verbose=0
    ).fit(X, y)
    a = adapter_for(net)
    V = rng.randn(a.n_params, 3)
    op = a.hvp_operator(X, y)
    op.linearize_after = 0
    np.testing.assert_allclose(op(V), a.hvp(X, y, V), rtol=1e-10, atol=1e-12)
    assert bool(op._linearized) is traceable and op._traceable is traceable


def test_a_trace_that_fails_when_run_keeps_the_gradient_graphs():
    """An nn.Embedding traces, but its traced products raise under vmap (a view of
    non-contiguous tangents): the operator checks the trace once and keeps the graphs."""

    class Embedded(nn.Module):
        def __init__(self):
            super().__init__()
            self.embed = nn.Embedding(10, 3, dtype=torch.float64)
            self.out = nn.Linear(12, 3, dtype=torch.float64)

        def forward(self, x):
            return self.out(self.embed(x.long()).flatten(1))

    rng = np.random.RandomState(0)
    X, y = rng.randint(0, 10, (40, 4)).astype(float), rng.randint(0, 3, 40)
    torch.manual_seed(0)
    a = adapter_for(TorchModule(Embedded(), nn.CrossEntropyLoss(), classes=[0, 1, 2]))
    V = rng.randn(a.n_params, 3)
    op = a.hvp_operator(X, y)
    op.linearize_after = 0
    np.testing.assert_allclose(op(V), a.hvp(X, y, V), rtol=1e-10, atol=1e-12)
    assert op._graphs and not op._linearized and op._traceable is False


@pytest.mark.parametrize("kind", ["classifier", "regressor"])
def test_float32_copy_computes_the_same_quantities_in_float32(kind):
    X, y = _data(n=70)
    if kind == "regressor":
        y = np.random.RandomState(1).randn(70, 3)
        torch.manual_seed(0)
        net = skorch.NeuralNetRegressor(
            MLP, optimizer__weight_decay=0.05, max_epochs=2, train_split=None, verbose=0
        ).fit(X, y)
    else:
        net = _mlp_net(wd=0.05).fit(X, y)
    a = adapter_for(net)
    a32 = a.astype(np.float32)
    assert a32.dtype == torch.float32 and a.dtype == torch.float64  # a copy; a unchanged
    assert next(a.module.parameters()).dtype == torch.float64
    assert a.astype("float64") is a and a32.astype(torch.float32) is a32
    V = np.random.RandomState(3).randn(a.n_params, 4)
    G, G32 = (b.gradients(X, y).dense_rows(slice(None)) for b in (a, a32))
    op32 = a32.hvp_operator(X, y)
    op32.linearize_after = 4
    pairs = [
        (a.loss(X, y), a32.loss(X, y)),
        (G, G32),
        (a.gradients(X, y).matmul(V), a32.gradients(X, y).matmul(V)),
        (a.hvp(X, y, V), a32.hvp(X, y, V)),
        (a.hvp(X, y, V), op32(V)),  # through the kept gradient graphs
        (a.hvp(X, y, V), op32(V)),  # through the traced linearisation
    ]
    for ref, low in pairs:
        assert low.dtype == np.float64  # returned as float64 arrays
        err = np.abs(low - ref).max() / np.abs(ref).max()
        # float32 rounding (eps 6e-8) summed over 70 rows; nonzero: computed in float32
        assert 1e-10 < err < 1e-5
    assert op32._linearized
    with pytest.raises(ValueError, match="float32 or float64"):
        a.astype(np.float16)


def test_float32_pipeline_keeps_its_feature_map():
    """``astype`` is part of the adapter contract: a Pipeline ending in a net converts its
    final step and keeps the earlier steps (before, LiSSA's float32 path found ``astype``
    through attribute forwarding and dropped the feature map)."""
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from skinfluence.inverse import LissaSolver

    X, y = _data(n=70)
    X = 5 * X + 3  # the scaler matters
    pipe = make_pipeline(StandardScaler(), _mlp_net(wd=0.05)).fit(X, y)
    a = adapter_for(pipe)
    a32 = a.astype(np.float32)
    assert a32.inner.dtype == torch.float32 and a32.estimator is a.estimator
    np.testing.assert_allclose(a32.loss(X, y), a.loss(X, y), rtol=1e-5)
    with pytest.raises(ValueError, match="applies to torch models"):
        LissaSolver(dtype=np.float32).fit(adapter_for(LogisticRegression().fit(X, y)), X, y)


def test_probability_output_with_nll_loss_uses_log_as_skorch_does():
    class Softmax(MLP):
        def forward(self, x):
            return torch.softmax(super().forward(x), dim=-1)

    X, y = _data()
    torch.manual_seed(0)
    net = skorch.NeuralNetClassifier(Softmax, max_epochs=2, train_split=None, verbose=0).fit(X, y)
    proba = net.predict_proba(X)
    np.testing.assert_allclose(
        adapter_for(net).loss(X, y),
        -np.log(proba[np.arange(len(y)), y] + np.finfo(np.float32).eps),
        rtol=1e-8,
    )


def test_unfitted_net_raises_not_fitted():
    with pytest.raises(NotFittedError):
        adapter_for(_mlp_net())
    X, y = _data()
    with pytest.raises(NotFittedError):
        InfluenceScorer(FrozenEstimator(_mlp_net())).fit(X, y)


@pytest.mark.parametrize(
    "scorer",
    [
        InfluenceScorer(RandomForestClassifier(n_estimators=3), method="cg"),
        TracInScorer(RandomForestClassifier(n_estimators=3)),
        GradientOutlierScorer(RandomForestClassifier(n_estimators=3)),
    ],
    ids=["cg", "tracin", "outlier"],
)
def test_model_without_gradients_names_retraining_scorers(scorer):
    X, y = _data()
    with pytest.raises(TypeError, match="MemorizationScorer or LeaveOneOutScorer"):
        scorer.fit(X, y)


def test_decoupled_weight_decay_warns():
    X, y = _data()
    net = _mlp_net(optimizer=torch.optim.AdamW).fit(X, y)
    with pytest.warns(ApproximationWarning, match="AdamW"):
        adapter_for(net)


def test_checkpoint_state_dict_moves_the_parameters():
    X, y = _data()
    net = _mlp_net().fit(X, y)
    a = adapter_for(net)
    state = {k: torch.zeros_like(v) for k, v in net.module_.state_dict().items()}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        zero = a.at_state_dict(state)
    assert np.all(zero.params() == 0)
    assert not np.all(a.params() == 0)  # the original is untouched
    # At θ = 0 every logit is 0: the loss is log K for every row.
    np.testing.assert_allclose(zero.loss(X, y), np.log(3))


def test_default_float32_skorch_net_works_through_the_scorers():
    """skorch modules are float32 by default and refuse float64 batches: the scorers keep a
    skorch net's float32 input (the adapter computes in float64 on its own copy)."""
    torch = pytest.importorskip("torch")
    skorch = pytest.importorskip("skorch")
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    X, y = (X[:200] / 16).astype(np.float32), y[:200].astype(np.int64)
    net = skorch.NeuralNetClassifier(
        torch.nn.Sequential(torch.nn.Linear(64, 8), torch.nn.Tanh(), torch.nn.Linear(8, 10)),
        criterion=torch.nn.CrossEntropyLoss,
        max_epochs=2,
        train_split=None,
        verbose=0,
    )
    # A net trained for 2 epochs is far from a minimum: large damping keeps H + λI positive.
    scorer = InfluenceScorer(net, damping=1e3).fit(X, y)
    assert next(scorer.estimator_.module_.parameters()).dtype == torch.float32
    influence = scorer.influence(X[:3], y[:3])
    assert influence.shape == (3, 200)
    assert np.all(np.isfinite(influence))
    assert np.all(np.isfinite(scorer.transform(X[:3])))


class _WeightedNet(skorch.NeuralNetClassifier):
    """Full-batch net whose fit weights each row's loss (mean weighted by sample_weight)."""

    def fit(self, X, y, sample_weight=None):
        self.fit_weights_ = None if sample_weight is None else torch.as_tensor(sample_weight)
        return super().fit(X, y)

    def get_loss(self, y_pred, y_true, X=None, training=False):
        losses = nn.functional.cross_entropy(y_pred, y_true, reduction="none")
        if self.fit_weights_ is None:
            return losses.mean()
        return (self.fit_weights_ * losses).sum() / self.fit_weights_.sum()


@pytest.mark.parametrize("wrap", [lambda n: n, lambda n: ParameterSubset(n, ["fc2"])])
def test_sample_weight_with_a_skorch_net_is_refused_by_name(wrap):
    X, y = _data()
    scorer = InfluenceScorer(wrap(_mlp_net()), method="direct")
    with pytest.raises(ValueError, match=r"sample_weight.*NeuralNetClassifier.*FrozenEstimator"):
        scorer.fit(X, y, sample_weight=np.ones(len(y)))
    InfluenceScorer(wrap(_mlp_net()), method="direct").fit(X, y)  # without weights: fine


def test_sample_weight_reaches_a_net_whose_fit_takes_it():
    """Weight 2 on row 0 is row 0 twice: same fit, same objective, same self-influence of
    every other row (the weighted and the duplicated net see identical full-batch losses)."""
    X, y = _data()
    w = np.ones(len(y))
    w[0] = 2.0
    params = dict(
        module=MLP,
        criterion=nn.CrossEntropyLoss,
        optimizer__weight_decay=1e-2,
        max_epochs=5,
        lr=0.1,
        train_split=None,
        verbose=0,
        batch_size=-1,
    )
    torch.manual_seed(0)
    # damping: 5 Adam steps leave H indefinite (not at a minimum); the identity holds anyway
    scorer = InfluenceScorer(_WeightedNet(**params), method="direct", damping=10.0)
    weighted = clone(scorer).fit(X, y, sample_weight=w)
    np.testing.assert_array_equal(weighted.estimator_.fit_weights_.numpy(), w)
    torch.manual_seed(0)
    X2, y2 = np.vstack([X, X[:1]]), np.concatenate([y, y[:1]])
    duplicated = clone(scorer).fit(X2, y2)
    # Same parameters up to the rounding of two summation orders over 5 Adam steps.
    np.testing.assert_allclose(weighted.scores_[1:], duplicated.scores_[1 : len(y)], rtol=1e-6)
    # A bare-module wrapper is never retrained: its no-op fit accepts the weights.
    module = weighted.estimator_.module_
    bare = TorchModule(module, nn.CrossEntropyLoss(), classes=[0, 1, 2], weight_decay=1e-2)
    from_bare = clone(scorer).set_params(estimator=bare).fit(X, y, sample_weight=w)
    np.testing.assert_allclose(from_bare.scores_, weighted.scores_, rtol=1e-8)
