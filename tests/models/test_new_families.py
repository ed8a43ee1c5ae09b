"""Influence of the CV-tuned linear models, RidgeClassifier and the GLMs against retraining.

Ground truth is scikit-learn's own cold refits (``LeaveOneOutScorer(warm_start=False)``): the
refits owe nothing to skinfluence's objective. For the CV-tuned models the selection is held
fixed (the adapters' convention), so the refits are of the plain model at the selected
``alpha_``/``C_``; rerunning the cross-validation for every left-out row is another question.
Agreement is Pearson over all (test row, removed row) pairs; the measured values are in
comments, the bars a little below them.
"""

import warnings

import numpy as np
import pytest
from sklearn.datasets import make_classification, make_regression
from sklearn.linear_model import (
    LogisticRegression,
    LogisticRegressionCV,
    Ridge,
    RidgeClassifier,
    RidgeClassifierCV,
    RidgeCV,
)

from skinfluence import InfluenceScorer, LeaveOneOutScorer
from skinfluence.metrics import agreement
from skinfluence.models import (
    LogisticRegressionCVAdapter,
    RidgeClassifierAdapter,
    adapter_for,
    registered_families,
)

# Cold refits at scikit-learn's tolerance tightened to 1e-10 (the scorer's refit_tol): exact to
# ~1e-9 in the loss, far below the influences compared (~1e-4 and up).
LOO = {"warm_start": False, "n_jobs": 1}


def _classification(n_classes=3, n_train=100, n_test=20, seed=0):
    X, y = make_classification(
        n_samples=n_train + n_test,
        n_features=4,
        n_informative=3,
        n_redundant=0,
        n_classes=n_classes,
        n_clusters_per_class=1,
        flip_y=0.05,
        random_state=seed,
    )
    return X[n_test:], y[n_test:], X[:n_test], y[:n_test]


def _regression(n_targets=1, n_train=100, n_test=20, seed=0):
    X, y = make_regression(
        n_samples=n_train + n_test,
        n_features=4,
        n_targets=n_targets,
        noise=5.0,
        random_state=seed,
    )
    return X[n_test:], y[n_test:], X[:n_test], y[:n_test]


def _pearson(a, b):
    return agreement(a, b).pearson


def _influences(model, fixed, X, y, Xt, yt):
    """First-order and Newton-step influence of ``model``, and the cold leave-one-out
    influence of ``fixed`` (the plain model at the selected hyper-parameter)."""
    first = InfluenceScorer(model).fit(X, y)
    newton = InfluenceScorer(model, newton_step=True).fit(X, y)
    loo = LeaveOneOutScorer(fixed, **LOO).fit(X, y)
    return first.influence(Xt, yt), newton.influence(Xt, yt), loo.influence(Xt, yt)


def test_ridge_cv_is_ridge_at_alpha_and_newton_step_is_exact():
    X, y, Xt, yt = _regression()
    model = RidgeCV(alphas=[0.3, 3.0, 30.0]).fit(X, y)
    first, newton, loo = _influences(model, Ridge(alpha=model.alpha_), X, y, Xt, yt)
    # Ridge's leave-one-out is closed form: the Newton step is exact, not just correlated.
    np.testing.assert_allclose(newton, loo, atol=1e-9 * np.abs(loo).max())
    assert _pearson(first, loo) >= 0.99  # measured 0.9992 (alpha_ = 0.3)


def test_ridge_cv_alpha_per_target():
    X, Y, Xt, Yt = _regression(n_targets=2)
    rng = np.random.RandomState(0)
    Y[:, 1], Yt[:, 1] = 5 * rng.randn(len(Y)), 5 * rng.randn(len(Yt))  # noise: a large alpha
    model = RidgeCV(alphas=[0.1, 10.0, 1000.0], alpha_per_target=True).fit(X, Y)
    assert len(set(model.alpha_)) == 2
    first = InfluenceScorer(model).fit(X, Y).influence(Xt, Yt)
    loo = LeaveOneOutScorer(Ridge(alpha=model.alpha_), **LOO).fit(X, Y).influence(Xt, Yt)
    assert _pearson(first, loo) >= 0.99  # measured 0.9993 (alpha_ = [0.1, 10])


def test_ridge_cv_alpha_per_target_newton_step():
    # Was a crash: np.repeat(y_test, n) flattened a 2-D y_test (multi-target Newton influence).
    X, Y, Xt, Yt = _regression(n_targets=2)
    model = RidgeCV(alphas=[0.1, 10.0, 1000.0], alpha_per_target=True).fit(X, Y)
    newton = InfluenceScorer(model, newton_step=True).fit(X, Y).influence(Xt, Yt)
    loo = LeaveOneOutScorer(Ridge(alpha=model.alpha_), **LOO).fit(X, Y).influence(Xt, Yt)
    np.testing.assert_allclose(newton, loo, atol=1e-9 * np.abs(loo).max())


@pytest.mark.parametrize("cv", [False, True])
def test_ridge_classifier_against_leave_one_out(cv):
    X, y, Xt, yt = _classification()
    model = RidgeClassifierCV(alphas=[0.3, 3.0, 30.0]) if cv else RidgeClassifier(alpha=3.0)
    model.fit(X, y)
    alpha = model.alpha_ if cv else model.alpha
    first, newton, loo = _influences(model, RidgeClassifier(alpha=alpha), X, y, Xt, yt)
    # The ±1-coded squared error is least squares: the Newton step is exact here too.
    np.testing.assert_allclose(newton, loo, atol=1e-9 * np.abs(loo).max())
    assert _pearson(first, loo) >= 0.99  # measured 0.9987 (alpha_ = 3, 3 classes)


def test_ridge_classifier_loss_is_the_objective_scikit_learn_minimises():
    X, y, _, _ = _classification()
    y = np.where(y == 1, "one", "other")  # binary, string labels: one ±1 column
    sw = np.random.RandomState(0).uniform(0.5, 2.0, len(y))
    model = RidgeClassifier(alpha=2.0, class_weight={"one": 3.0}).fit(X, y, sample_weight=sw)
    adapter = adapter_for(model)
    assert isinstance(adapter, RidgeClassifierAdapter) and adapter.n_outputs == 1
    # scikit-learn: Ridge on t = +1 for classes_[1], −1 otherwise, weights sw × class weight.
    t = np.where(y == model.classes_[1], 1.0, -1.0)
    w = sw * np.where(y == "one", 3.0, 1.0)
    ridge = Ridge(alpha=2.0).fit(X, t, sample_weight=w)
    np.testing.assert_allclose(model.coef_.ravel(), ridge.coef_, rtol=1e-10)
    np.testing.assert_allclose(adapter.loss(X, y), (t - ridge.predict(X)) ** 2, rtol=1e-9)
    np.testing.assert_allclose(adapter.row_weights(y, sw), w)


def test_logistic_regression_cv_against_leave_one_out():
    X, y, Xt, yt = _classification()
    model = LogisticRegressionCV(
        Cs=[0.03, 0.1, 0.3],
        l1_ratios=(0.0,),
        cv=3,
        scoring="neg_log_loss",
        solver="newton-cholesky",
        tol=1e-10,
        use_legacy_attributes=False,
    ).fit(X, y)
    fixed = LogisticRegression(C=model.C_, solver="newton-cholesky", tol=1e-10)
    first, newton, loo = _influences(model, fixed, X, y, Xt, yt)
    # The adapter is LogisticRegression's at C_: the same influence, to rounding.
    plain = InfluenceScorer(fixed).fit(X, y).influence(Xt, yt)
    np.testing.assert_allclose(first, plain, rtol=1e-6, atol=1e-9 * np.abs(plain).max())
    assert _pearson(first, loo) >= 0.99  # measured 0.9932 (C_ = 0.3, 3 classes)
    assert _pearson(newton, loo) >= 0.99  # measured 0.9961


@pytest.mark.parametrize(
    ("params", "match"),
    [
        ({"refit": False}, "refit=False"),
        ({"l1_ratios": (1.0,), "solver": "liblinear"}, "penalty 'l1'"),
        ({"l1_ratios": (0.5, 1.0), "solver": "saga"}, "not twice differentiable"),
    ],
)
def test_logistic_regression_cv_without_one_smooth_objective_is_refused(params, match):
    X, y, _, _ = _classification(n_classes=2)
    model = LogisticRegressionCV(Cs=[1.0], cv=3, scoring="neg_log_loss", **params)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # saga's convergence on a 1-C grid is beside the point
        model.fit(X, y)
    with pytest.raises(TypeError, match=match):
        adapter_for(model)
    assert LogisticRegressionCVAdapter  # the class is exported


def test_unsupported_model_error_names_the_new_families():
    from sklearn.svm import SVR

    X, y, _, _ = _regression()
    with pytest.raises(TypeError) as err:
        adapter_for(SVR().fit(X, y))
    message = str(err.value)
    for family in registered_families():
        assert family.label in message
    for name in ("RidgeCV", "RidgeClassifier", "RidgeClassifierCV", "LogisticRegressionCV"):
        assert name in message


def test_leave_one_out_of_a_cv_model_reruns_its_selection():
    """Ground truth retrains the user's estimator: for a model that selects its
    hyper-parameter when fitted, the Newton refits (at the selected value) are not used."""
    X, y, _, _ = _regression()
    cv = LeaveOneOutScorer(RidgeCV(alphas=[0.01, 0.3, 10.0])).fit(X[:30], y[:30])
    plain = LeaveOneOutScorer(Ridge(alpha=0.3)).fit(X[:30], y[:30])
    # RidgeCV's refits re-run the selection in closed form (equal to RidgeCV's own refits:
    # tests/scorers/test_speed_paths.py)
    assert cv.refit_method_ == "closed-form" and plain.refit_method_ == "newton"
    refits = {float(m.alpha_) for m in cv.estimators_}
    assert refits <= {0.01, 0.3, 10.0}  # each refit ran RidgeCV's own selection
    cold = LeaveOneOutScorer(RidgeCV(alphas=[0.01, 0.3, 10.0]), warm_start=False)
    cold.fit(X[:30], y[:30])
    assert cold.refit_method_ == "refit"
    assert [m.alpha_ for m in cold.estimators_] == [m.alpha_ for m in cv.estimators_]


@pytest.mark.parametrize(
    "model, says",
    [
        ("QuantileRegressor", "pinball loss"),
        ("SVC", "hinge loss"),
        ("SVR", "epsilon-insensitive"),
        ("LinearSVC_hinge", "hinge loss"),
        ("LinearSVR", "epsilon-insensitive"),
    ],
)
def test_non_smooth_models_are_refused_with_the_reason(model, says):
    from sklearn.linear_model import QuantileRegressor
    from sklearn.svm import SVC, SVR, LinearSVC, LinearSVR

    X, y = make_classification(40, 4, random_state=0)
    estimator = {
        "QuantileRegressor": lambda: QuantileRegressor(alpha=0.0).fit(X, y.astype(float)),
        "SVC": lambda: SVC().fit(X, y),
        "SVR": lambda: SVR().fit(X, y.astype(float)),
        "LinearSVC_hinge": lambda: LinearSVC(loss="hinge").fit(X, y),
        "LinearSVR": lambda: LinearSVR().fit(X, y.astype(float)),
    }[model]()
    with pytest.raises(
        TypeError, match=f"non-smooth training objective.*{says}.*MemorizationScorer"
    ):
        adapter_for(estimator)
    # A smooth objective of the same class is not refused for being non-smooth.
    assert adapter_for(LinearSVC().fit(X, y)).n_params == 5  # squared hinge: adapted
