"""The adapter contract of ``skinfluence.models._base``, checked on every registered family.

Families are discovered from the registry (``registered_families()``): each registration
carries example factories (``register_adapter(..., examples=[...])``), and every check below
runs on every example, plus ``adapter_for``'s own Pipeline wrapper. A family registered without
examples fails ``test_every_registered_family_has_examples``. Families register themselves when
their module is imported; the imports below bring in every module that registers one.

References are independent of the adapters: finite differences of the adapter's own ``loss``,
the estimator's own ``predict_proba``/``predict`` and the penalty written from the estimator's
documentation (``AdapterExample.penalty``). Checks that need a fitted optimum run only on
examples with ``exact_optimum=True`` (a briefly trained net is not at one: they are skipped
there with that reason).
"""

import subprocess
import sys

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.datasets import load_wine
from sklearn.frozen import FrozenEstimator
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import skinfluence.models
import skinfluence.toy  # registers PerceptronStudent
from skinfluence.models import (
    AdapterExample,
    GeneralizedLinear,
    PipelineAdapter,
    RidgeAdapter,
    adapter_for,
    registered_adapter,
    registered_families,
    supported_families,
)
from skinfluence.models._registry import log_loss_per_sample, squared_error_per_sample


# -- adapter_for's wrappers (not registry entries) -----------------------------------------
def _pipeline_logistic():
    X, y = load_wine(return_X_y=True)
    X, y = X[::2], y[::2]  # 89 rows, raw (unscaled) features: the scaler is the feature map
    C = 0.5
    model = make_pipeline(
        StandardScaler(), LogisticRegression(C=C, solver="newton-cholesky", tol=1e-12)
    ).fit(X, y)
    d, K = X.shape[1], 3

    def penalty(theta):  # ‖W‖²/(2C), intercepts unpenalised
        return float(np.sum(np.reshape(theta, (-1, K))[:d] ** 2)) / (2 * C)

    return AdapterExample(
        model,
        X,
        y,
        penalty,
        invalid_y=np.array([5]),
        reference_loss=log_loss_per_sample,
        id="pipeline-logistic",
    )


def _pipeline_ridge():
    rng = np.random.RandomState(0)
    X = 10 * rng.randn(50, 3) + 5
    y = X @ np.array([1.0, -0.5, 0.2]) + rng.randn(50)
    alpha = 2.0
    model = make_pipeline(StandardScaler(), Ridge(alpha=alpha)).fit(X, y)
    return AdapterExample(
        model,
        X,
        y,
        lambda theta: alpha * float(np.sum(np.asarray(theta)[:3] ** 2)),
        invalid_y=np.zeros((2, 2)),
        reference_loss=squared_error_per_sample,
        id="pipeline-ridge",
    )


WRAPPER_EXAMPLES = {"Pipeline": (_pipeline_logistic, _pipeline_ridge)}


def adapter_cases():
    """``(family name, requires, example factory)`` for every example of every registered
    family, then the wrappers': what the common tests are parametrised with."""
    for family in registered_families():
        for i, make in enumerate(family.examples):
            yield pytest.param(family.name, family.requires, make, id=f"{family.name}-{i}")
    for name, makers in WRAPPER_EXAMPLES.items():
        for i, make in enumerate(makers):
            yield pytest.param(name, (), make, id=f"{name}-{i}")


_BUILT = {}


def _build(requires, make):
    """The example and its adapter, built once per session (the nets are trained once)."""
    for module in requires:
        pytest.importorskip(module)
    if make not in _BUILT:
        example = make()
        _BUILT[make] = example, adapter_for(example.estimator)
    return _BUILT[make]


# -- the checks: plain functions, so that a new family can be run through all of them ------
def _directions(p, k=3, seed=0):
    return np.random.RandomState(seed).randn(p, k)


def _penalty_matrix_product(penalty, v):
    """``A v`` for the quadratic penalty ``R(θ) = θᵀAθ/2``, by polarisation (exact for a
    quadratic form, no step size): ``e_jᵀ A v = R(v + e_j) − R(v) − R(e_j)``."""
    p = len(v)
    E = np.eye(p)
    return np.array([penalty(v + E[j]) - penalty(v) - penalty(E[j]) for j in range(p)])


def _penalty_gradient(penalty, theta):
    """``∇R(θ)`` by central differences of unit step, exact for a polynomial of degree ≤ 2
    (a quadratic form, plus the linear term of an l1 penalty restricted to its active signs):
    ``e_jᵀ∇R(θ) = (R(θ + e_j) − R(θ − e_j)) / 2``. Equals :func:`_penalty_matrix_product` at θ
    for a quadratic form."""
    E = np.eye(len(theta))
    return np.array([(penalty(theta + e) - penalty(theta - e)) / 2.0 for e in E])


def _data_gradient(adapter, example, theta):
    """``Σ_i w_i ∇ℓ_i(θ)`` with the weights of the objective."""
    w = adapter.row_weights(example.y, example.sample_weight)
    G = adapter.with_params(theta).gradients(example.X, example.y)
    return G.rmatmul(w[:, None])[:, 0]


def _objective(adapter, example, theta):
    w = adapter.row_weights(example.y, example.sample_weight)
    loss = float(w @ adapter.with_params(theta).loss(example.X, example.y))
    return loss + example.total_penalty(theta)


def check_params_round_trip(example, adapter):
    theta = adapter.params()
    assert theta.dtype == np.float64 and theta.shape == (adapter.n_params,)
    reference = theta.copy()
    theta += 1.0  # a copy: the adapter is unchanged
    np.testing.assert_array_equal(adapter.params(), reference)
    other = adapter.params() + 0.1 * _directions(adapter.n_params, 1)[:, 0]
    moved = adapter.with_params(other)
    np.testing.assert_allclose(moved.params(), other, rtol=1e-15, atol=0)
    np.testing.assert_allclose(adapter.with_params(adapter.params()).params(), adapter.params())
    assert not np.allclose(moved.loss(example.X, example.y), adapter.loss(example.X, example.y))
    # adapters never modify the estimator: a fresh adapter reads the same parameters
    np.testing.assert_array_equal(adapter_for(example.estimator).params(), reference)


def check_encode_target_rejects_invalid(example, adapter):
    if example.invalid_y is None:
        pytest.skip(f"{example.id}: every target is valid for this family")
    with pytest.raises(ValueError):
        adapter.encode_target(example.invalid_y)


def check_gradients_match_finite_differences(example, adapter):
    rows = slice(0, 8)
    X, y = example.X[rows], example.y[rows]
    theta = adapter.params()
    V = _directions(adapter.n_params)
    eps = 1e-5
    fd = np.column_stack(
        [
            (
                adapter.with_params(theta + eps * v).loss(X, y)
                - adapter.with_params(theta - eps * v).loss(X, y)
            )
            / (2 * eps)
            for v in V.T
        ]
    )
    # central differences: truncation O(eps²) ~ 1e-10, rounding O(1e-16/eps) ~ 1e-11
    exact = adapter.gradients(X, y).matmul(V)
    np.testing.assert_allclose(exact, fd, rtol=1e-6, atol=1e-7 * max(1.0, np.abs(fd).max()))


def check_hvp_matches_dense_hessian(example, adapter):
    X, y, sw = example.X, example.y, example.sample_weight
    V = _directions(adapter.n_params)
    H = adapter.hessian(X, y, sample_weight=sw)
    np.testing.assert_allclose(H, H.T, rtol=1e-10, atol=1e-10 * np.abs(H).max())
    HV = adapter.hvp(X, y, V, sample_weight=sw)
    np.testing.assert_allclose(HV, H @ V, rtol=1e-9, atol=1e-10 * np.abs(HV).max())
    operator = adapter.hvp_operator(X, y, sample_weight=sw)
    np.testing.assert_allclose(operator(V), HV, rtol=1e-9, atol=1e-10 * np.abs(HV).max())


def check_hvp_matches_finite_differences_of_summed_gradients(example, adapter):
    theta = adapter.params()
    V = _directions(adapter.n_params)
    eps = 1e-5
    fd = np.column_stack(
        [
            (
                _data_gradient(adapter, example, theta + eps * v)
                - _data_gradient(adapter, example, theta - eps * v)
            )
            / (2 * eps)
            + _penalty_matrix_product(example.total_penalty, v)
            for v in V.T
        ]
    )
    HV = adapter.hvp(example.X, example.y, V, sample_weight=example.sample_weight)
    # the penalty comes from the estimator's documented objective, not from the adapter
    np.testing.assert_allclose(HV, fd, rtol=1e-5, atol=1e-6 * np.abs(fd).max())


def check_loss_is_the_estimators_own(example, adapter):
    if example.reference_loss is None:
        pytest.skip(f"{example.id}: the estimator has no predict_proba/predict reference")
    expected = example.reference_loss(example.estimator, example.X, example.y)
    rtol, atol = example.loss_tolerance
    np.testing.assert_allclose(adapter.loss(example.X, example.y), expected, rtol=rtol, atol=atol)


def _needs_optimum(example):
    if not example.exact_optimum:
        pytest.skip(f"{example.id}: exact_optimum=False (not trained to a stationary point)")


def check_fitted_parameters_are_stationary(example, adapter):
    _needs_optimum(example)
    theta = adapter.params()
    grad = _data_gradient(adapter, example, theta)
    grad += _penalty_gradient(example.total_penalty, theta)
    w = adapter.row_weights(example.y, example.sample_weight)
    G = adapter.gradients(example.X, example.y).dense_rows(slice(None))
    scale = np.abs(w[:, None] * G).sum(axis=0).max()  # the size of the terms that cancel
    assert np.abs(grad).max() <= 1e-6 * scale


def check_fitted_parameters_minimise_the_objective(example, adapter):
    _needs_optimum(example)
    theta = adapter.params()
    J = _objective(adapter, example, theta)
    step = 1e-2 * max(1.0, np.abs(theta).max())
    for v in _directions(adapter.n_params, 4, seed=1).T:
        for sign in (1.0, -1.0):
            assert _objective(adapter, example, theta + sign * step * v) >= J - 1e-12 * abs(J)


def check_generalized_linear_capability(example, adapter):
    if not isinstance(adapter, GeneralizedLinear):
        pytest.skip(f"{example.id}: not a GeneralizedLinear adapter")
    X, y, sw = example.X, example.y, example.sample_weight
    Xf = adapter.features(X)
    eta = adapter.outputs(Xf)
    K = adapter.n_outputs
    d = adapter.n_features + adapter.fit_intercept
    assert eta.shape == (len(y), K) and adapter.n_params == d * K
    np.testing.assert_allclose(adapter.loss_from_outputs(eta, y), adapter.loss(X, y), rtol=1e-12)
    R, S = adapter.newton_factors(X, y)
    t = adapter.encode_target(y)
    np.testing.assert_allclose(adapter.output_gradients(eta, t), R)
    # b = 3 parameter vectors on the same rows: each column's ∂ℓ/∂η is output_gradients'
    stacked_eta = np.stack([eta, 0.5 * eta, eta + 0.25], axis=1)
    stacked = adapter.stacked_output_gradients(stacked_eta, t)
    for j in range(3):
        np.testing.assert_allclose(
            stacked[:, j], adapter.output_gradients(stacked_eta[:, j], t), rtol=1e-12, atol=1e-15
        )
    x_tilde = np.asarray(Xf.toarray() if hasattr(Xf, "toarray") else Xf)
    if adapter.fit_intercept:
        x_tilde = np.hstack([x_tilde, np.ones((len(y), 1))])
    G = adapter.gradients(X, y).dense_rows(slice(None))
    np.testing.assert_allclose(G, (x_tilde[:, :, None] * R[:, None, :]).reshape(len(y), -1))
    w = adapter.row_weights(y, sw)
    share_weight = example.shares().sum()
    H = adapter.hessian_from_curvature(Xf, S * w[:, None, None], share_weight)
    np.testing.assert_allclose(H, adapter.hessian(X, y, sample_weight=sw), rtol=1e-10)
    # ∇²R₀ and ∇²q: the documented penalties' matrices, column by column
    A = np.column_stack([_penalty_matrix_product(example.penalty, e) for e in np.eye(d * K)])
    atol = 1e-10 * max(1.0, np.abs(A).max())
    np.testing.assert_allclose(np.diag(adapter.penalty_diagonal()), A, atol=atol)
    share = adapter.penalty_share_diagonal()
    if example.penalty_share is None:
        assert share is None
    else:
        E = np.eye(d * K)
        A_q = np.column_stack([_penalty_matrix_product(example.penalty_share, e) for e in E])
        np.testing.assert_allclose(np.diag(share), A_q, atol=1e-10 * max(1.0, np.abs(A_q).max()))


def check_penalty_share_is_declared(example, adapter):
    """The adapter's share (``penalty_share_gradient``, ``penalty_shares``) is the documented
    one: ∇q at θ̂ and the rows' c_i; None exactly where the documentation has no share."""
    r = adapter.penalty_share_gradient()
    if example.penalty_share is None:
        assert r is None
        return
    theta = adapter.params()
    np.testing.assert_allclose(
        r, _penalty_gradient(example.penalty_share, theta), rtol=1e-10, atol=1e-12
    )
    np.testing.assert_allclose(
        adapter.penalty_shares(example.y, example.sample_weight), example.shares()
    )


def _refit_without(example, i):
    """The estimator refitted (cold, same hyper-parameters) without training row ``i``."""
    keep = np.arange(len(example.y)) != i
    fit_params = {}
    if example.sample_weight is not None:
        fit_params["sample_weight"] = example.sample_weight[keep]
    if example.refit is not None:
        return example.refit(example.X[keep], example.y[keep], **fit_params)
    return clone(example.estimator).fit(example.X[keep], example.y[keep], **fit_params)


def check_leave_one_out_objective_matches_retraining(example, adapter):
    """Removing row i removes ``w_i ℓ_i + c_i q`` from J: the estimator's own refit without
    row i is a stationary point of that objective (the penalty share checked against actual
    retraining, for every family; dropping a declared share fails it)."""
    _needs_optimum(example)
    if getattr(adapter, "fit_selects_hyperparameters", False):
        pytest.skip(f"{example.id}: a refit reruns the hyper-parameter selection")
    if isinstance(adapter, PipelineAdapter):
        pytest.skip(f"{example.id}: a refit also refits the feature map")
    if example.penalty_share is None and not isinstance(adapter, GeneralizedLinear):
        pytest.skip(f"{example.id}: no share, and a refit is a training run of its own")
    if getattr(example.estimator, "class_weight", None) == "balanced":
        pytest.skip(f"{example.id}: 'balanced' class weights change with the rows")
    X, y, sw = example.X, example.y, example.sample_weight
    w = adapter.row_weights(y, sw)
    c = example.shares()
    q = example.penalty_share
    for i in (0, len(y) // 2):
        refit_theta = adapter_for(_refit_without(example, i)).params()
        if adapter.layout_depends_on_rows or len(refit_theta) != adapter.n_params:
            # KernelRidge's θ is in a basis of the training rows' kernel functions, Lasso's on
            # its support (which a refit may change): their own tests compare influence with
            # retraining.
            pytest.skip(f"{example.id}: the refit's parameters are in another layout")
        refit = adapter.with_params(refit_theta)
        theta = refit.params()
        G = refit.gradients(X, y)
        keep = np.ones(len(y))
        keep[i] = 0.0
        data = G.rmatmul((w * keep)[:, None])[:, 0]
        grad = data + _penalty_gradient(example.penalty, theta)
        share_grad = 0.0 if q is None else _penalty_gradient(q, theta)
        scale = np.abs(w[:, None] * G.dense_rows(slice(None))).sum(axis=0).max()
        removed = grad + (c.sum() - c[i]) * share_grad  # ∇(J − w_i ℓ_i − c_i q)
        assert np.abs(removed).max() <= 1e-6 * scale, (example.id, i)
        if q is not None:  # without the share the refit would not be stationary
            assert np.abs(removed + c[i] * share_grad).max() > 1e-5 * scale


def _target_outputs(adapter, X):
    """The outputs η a family's targets are functions of (closed form or torch)."""
    from skinfluence.models import MLPAdapter, TorchAdapter

    if isinstance(adapter, MLPAdapter):
        from skinfluence.models._targets import mlp_outputs

        return mlp_outputs(adapter, X)
    if isinstance(adapter, TorchAdapter):
        from skinfluence.torch._targets import torch_outputs

        return torch_outputs(adapter, X)
    return adapter.outputs(adapter.features(X))


def check_declared_targets_match_the_estimator(example, adapter):
    from skinfluence.models import link_targets, predictions_from_outputs
    from skinfluence.models._targets import RowTarget, class_index
    from skinfluence.scorers._target_influence import target_test_gradients

    supported = adapter.supported_targets()
    assert "loss" in supported and supported == link_targets(adapter.output_link)
    link = adapter.output_link
    if link is None:
        pytest.skip(f"{example.id}: the loss only (no output link declared)")
    rows = slice(0, 8)
    X, y = example.X[rows], example.y[rows]
    eta = _target_outputs(adapter, X)
    # the declared link maps the outputs to what the estimator returns
    method = {
        "logistic": "predict_proba",
        "softmax": "predict_proba",
        "scores": "decision_function",
    }
    try:
        reference = getattr(example.estimator, method.get(link, "predict"))(X)
    except AttributeError:  # a wrapped torch module without predict_proba
        reference = None
    if reference is not None:
        P = predictions_from_outputs(link, eta)
        np.testing.assert_allclose(
            P, np.asarray(reference, dtype=float).reshape(P.shape), rtol=1e-6, atol=1e-8
        )
    # every declared per-row target's gradient matches finite differences in θ
    holder = type("Fitted", (), {"adapter_": adapter})()
    theta = adapter.params()
    V = _directions(adapter.n_params)
    eps = 1e-5
    classes = getattr(adapter, "classes_", None)
    if classes is None:
        classes = getattr(example.estimator, "classes_", None)
    for kind in sorted(supported & {"prediction", "margin", "logit"}):
        n_out = eta.shape[1]
        # multi-output regressors and multilabel classifiers name the output the target is
        chosen = None
        if np.ndim(y) == 2 or (classes is None and n_out > 1):
            chosen = 0 if classes is None else classes[0]
        index = class_index(classes, link, np.asarray(y), chosen, n_out)
        target = RowTarget(kind, link, index)
        fd = np.column_stack(
            [
                (
                    target.values(_target_outputs(adapter.with_params(theta + eps * v), X))
                    - target.values(_target_outputs(adapter.with_params(theta - eps * v), X))
                )
                / (2 * eps)
                for v in V.T
            ]
        )
        exact = target_test_gradients(holder, X, y, kind, chosen).matmul(V)
        np.testing.assert_allclose(exact, fd, rtol=1e-6, atol=1e-7 * max(1.0, np.abs(fd).max()))


CHECKS = [
    check_params_round_trip,
    check_encode_target_rejects_invalid,
    check_gradients_match_finite_differences,
    check_hvp_matches_dense_hessian,
    check_hvp_matches_finite_differences_of_summed_gradients,
    check_loss_is_the_estimators_own,
    check_fitted_parameters_are_stationary,
    check_fitted_parameters_minimise_the_objective,
    check_generalized_linear_capability,
    check_penalty_share_is_declared,
    check_leave_one_out_objective_matches_retraining,
    check_declared_targets_match_the_estimator,
]


@pytest.mark.parametrize("check", CHECKS, ids=lambda c: c.__name__.removeprefix("check_"))
@pytest.mark.parametrize(("family", "requires", "make"), list(adapter_cases()))
def test_adapter_contract(family, requires, make, check):
    example, adapter = _build(requires, make)
    check(example, adapter)


# -- the registry ----------------------------------------------------------------------------
def test_every_registered_family_has_examples():
    missing = [f.name for f in registered_families() if not f.examples]
    assert not missing, f"registered without examples for the common tests: {missing}"


def test_families_are_registered_by_their_modules():
    names = {f.name for f in registered_families()}
    assert {"LogisticRegression (l2 or no penalty)", "Ridge", "LinearRegression"} <= names
    assert "PerceptronStudent(loss='logistic')" in names
    assert "skorch NeuralNetClassifier" in names and "TorchModule" in names


class _ScaledRidge(Ridge):
    """A subclass defined here: a new family, as a contributor would add one."""


class _ScaledRidgeAdapter(RidgeAdapter):
    pass


def _scaled_ridge_example():
    rng = np.random.RandomState(3)
    X = rng.randn(40, 3)
    y = X @ np.array([0.5, 1.0, -1.0]) + 0.1 * rng.randn(40)
    model = _ScaledRidge(alpha=0.7).fit(X, y)
    return AdapterExample(
        model,
        X,
        y,
        lambda theta: 0.7 * float(np.sum(np.asarray(theta)[:3] ** 2)),
        invalid_y=np.zeros((2, 3)),
        reference_loss=squared_error_per_sample,
        id="scaled-ridge",
    )


def test_a_newly_registered_family_is_picked_up_by_the_common_tests():
    X, y = np.random.RandomState(0).randn(20, 3), np.arange(20.0)
    with pytest.raises(TypeError, match="no gradient adapter"):
        adapter_for(_ScaledRidge().fit(X, y))  # exact class match: not a Ridge
    with registered_adapter(
        _ScaledRidge, _ScaledRidgeAdapter, name="ScaledRidge", examples=[_scaled_ridge_example]
    ) as family:
        assert family in registered_families()
        cases = [c.values for c in adapter_cases() if c.values[0] == "ScaledRidge"]
        assert [make for _, _, make in cases] == [_scaled_ridge_example]
        example = _scaled_ridge_example()
        adapter = adapter_for(example.estimator)
        assert type(adapter) is _ScaledRidgeAdapter
        for check in CHECKS:
            if check is not check_generalized_linear_capability or isinstance(
                adapter, GeneralizedLinear
            ):
                check(example, adapter)
        assert "ScaledRidge" in supported_families()
    assert family not in registered_families()
    assert "ScaledRidge" not in supported_families()
    without_examples = registered_adapter(_ScaledRidge, _ScaledRidgeAdapter, name="NoExamples")
    with without_examples, pytest.raises(AssertionError, match="NoExamples"):
        test_every_registered_family_has_examples()


def test_unsupported_estimator_error_is_generated_from_the_registry():
    from sklearn.ensemble import RandomForestClassifier

    X, y = np.random.RandomState(0).randn(20, 3), np.arange(20) % 2
    with pytest.raises(TypeError) as err:
        adapter_for(RandomForestClassifier(n_estimators=2).fit(X, y))
    message = str(err.value)
    for family in registered_families():
        assert family.label in message
    assert "Pipeline" in message
    assert "MemorizationScorer" in message and "LeaveOneOutScorer" in message
    assert "(needs torch, skorch)" in message  # optional libraries are named


def test_frozen_estimators_and_pipelines_are_unwrapped():
    X, y = load_wine(return_X_y=True)
    model = LogisticRegression(max_iter=5000).fit(StandardScaler().fit_transform(X), y)
    frozen = adapter_for(FrozenEstimator(model))
    np.testing.assert_array_equal(frozen.params(), adapter_for(model).params())
    pipe = make_pipeline(StandardScaler(), LogisticRegression(max_iter=5000)).fit(X, y)
    adapter = adapter_for(pipe)
    assert isinstance(adapter, PipelineAdapter) and isinstance(adapter, GeneralizedLinear)
    assert not hasattr(adapter, "supports_newton_step")  # capabilities are classes, not flags


def test_a_pipeline_ending_in_a_net_is_not_generalized_linear():
    torch = pytest.importorskip("torch")
    from skinfluence.models import TorchModule

    model = TorchModule(torch.nn.Linear(3, 2), torch.nn.CrossEntropyLoss(), classes=[0, 1])
    pipe = make_pipeline(StandardScaler(), model)
    pipe[0].fit(np.random.RandomState(0).randn(10, 3))
    pipe.steps[-1] = ("torchmodule", model)
    adapter = PipelineAdapter.of(pipe, adapter_for(model))
    assert isinstance(adapter, PipelineAdapter) and not isinstance(adapter, GeneralizedLinear)


def test_looking_up_families_imports_no_optional_library():
    with pytest.raises(TypeError, match="module:qualname"):
        skinfluence.models.register_adapter("skorch.NeuralNet", lambda est: None)
    keys = {f.key for f in registered_families()}
    assert "skorch.classifier:NeuralNetClassifier" in keys  # a name, not an imported class
    code = (
        "import sys, numpy as np, skinfluence.toy\n"
        "from sklearn.linear_model import LogisticRegression\n"
        "from sklearn.tree import DecisionTreeClassifier\n"
        "from skinfluence.models import adapter_for\n"
        "X, y = np.arange(20.0).reshape(10, 2), np.arange(10) % 2\n"
        "adapter_for(LogisticRegression().fit(X, y))\n"
        "try:\n"
        "    adapter_for(DecisionTreeClassifier().fit(X, y))\n"
        "except TypeError:\n"
        "    pass\n"
        "print(sorted({'torch', 'skorch'} & set(sys.modules)))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
