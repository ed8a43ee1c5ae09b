"""``LeaveOneOutScorer`` on ``LogisticRegressionCV``: the C search re-run by Newton refits.

Ground truth: actual cold refits of ``LogisticRegressionCV`` on the data without each row, on
the same folds (an explicit list of splits, remapped to the remaining rows' indices, so that the
comparison is exact), at a tight tolerance.
"""

import warnings

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegressionCV
from sklearn.metrics import make_scorer, matthews_corrcoef
from sklearn.model_selection import StratifiedKFold

from skinfluence import LeaveOneOutScorer
from skinfluence.scorers import per_sample_loss
from skinfluence.scorers._loo_logistic_cv import logistic_cv_applies


def _data(n, p, n_classes, seed):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, p))
    K = 1 if n_classes == 2 else n_classes
    eta = X @ rng.standard_normal((p, K)) + 0.8 * rng.standard_normal((n, K))
    y = (eta[:, 0] > 0).astype(int) if K == 1 else np.argmax(eta, axis=1)
    return X, y


def _without(folds, i):
    """The full data's folds with row i taken out, in the remaining rows' indices."""
    out = []
    for train, test in folds:
        train, test = train[train != i], test[test != i]
        out.append((train - (train > i), test - (test > i)))
    return out


@pytest.mark.parametrize("n_classes", [2, 3])
@pytest.mark.parametrize("scoring", [None, "neg_log_loss"])
def test_newton_search_equals_cold_refits_on_the_same_folds(n_classes, scoring):
    X, y = _data(45, 4, n_classes, seed=0)
    X_test, y_test = _data(15, 4, n_classes, seed=1)
    folds = list(StratifiedKFold(3).split(X, y))
    params = {"Cs": [0.003, 0.03, 0.3, 3.0], "scoring": scoring, "use_legacy_attributes": False}
    loo = LeaveOneOutScorer(LogisticRegressionCV(cv=folds, **params)).fit(X, y)
    assert loo.refit_method_ == "newton"
    assert loo.refit_tol_ == 1e-10
    full = per_sample_loss(loo.estimator_, X_test, y_test)
    cold = np.empty((len(y_test), len(y)))
    cold_self = np.empty(len(y))
    for i in range(len(y)):
        keep = np.delete(np.arange(len(y)), i)
        model = LogisticRegressionCV(
            cv=_without(folds, i), solver="newton-cholesky", tol=1e-10, max_iter=10_000, **params
        ).fit(X[keep], y[keep])
        assert model.C_ == loo.estimators_[i].C_  # the same selection, row by row
        np.testing.assert_allclose(loo.estimators_[i].coef_, model.coef_, atol=1e-7)
        cold[:, i] = per_sample_loss(model, X_test, y_test) - full
        cold_self[i] = per_sample_loss(model, X[i : i + 1], y[i : i + 1])[0]
    np.testing.assert_allclose(loo.influence(X_test, y_test), cold, atol=1e-7)
    np.testing.assert_allclose(
        loo.scores_, cold_self - per_sample_loss(loo.estimator_, X, y), atol=1e-7
    )
    if scoring is None:  # the search is re-run: some rows select another C than all rows do
        selected = np.array([m.C_ for m in loo.estimators_])
        assert np.any(selected != loo.estimator_.C_)


def test_integer_cv_holds_the_full_data_folds():
    X, y = _data(40, 3, 2, seed=2)
    params = {"Cs": [0.01, 0.1, 1.0], "use_legacy_attributes": False}
    folds = list(StratifiedKFold(3).split(X, y))
    by_int = LeaveOneOutScorer(LogisticRegressionCV(cv=3, **params)).fit(X, y)
    by_list = LeaveOneOutScorer(LogisticRegressionCV(cv=folds, **params)).fit(X, y)
    assert by_int.refit_method_ == "newton"
    np.testing.assert_array_equal(
        [m.C_ for m in by_int.estimators_], [m.C_ for m in by_list.estimators_]
    )
    np.testing.assert_allclose(by_int.influence(X, y), by_list.influence(X, y), atol=1e-12)


def test_other_searches_are_refitted_by_the_model():
    X, y = _data(24, 2, 2, seed=3)
    base = {"Cs": [0.1, 1.0], "cv": 2, "use_legacy_attributes": False}
    cases = [
        (LogisticRegressionCV(scoring=make_scorer(matthews_corrcoef), **base), {}),
        (LogisticRegressionCV(scoring="roc_auc", **base), {}),
        (LogisticRegressionCV(solver="saga", l1_ratios=(1.0,), **base), {}),
        (LogisticRegressionCV(refit=False, **base), {}),
        (LogisticRegressionCV(class_weight="balanced", **base), {}),
        (LogisticRegressionCV(**base), {"sample_weight": np.ones(len(y))}),
        # folds that splitting again would not reproduce
        (LogisticRegressionCV(**{**base, "cv": StratifiedKFold(2, shuffle=True)}), {}),
    ]
    for model, kwargs in cases:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            loo = LeaveOneOutScorer(model).fit(X, y, **kwargs)
        assert loo.refit_method_ == "refit"
        assert loo.refit_tol_ is None  # the model's own tolerance, as before
    # a class with 2 rows: a fold's training part has one, the search is refitted by the model
    y3 = y.copy()
    y3[:2] = 2
    loo = LeaveOneOutScorer(LogisticRegressionCV(**base)).fit(X, y3)
    assert (loo.refit_method_, loo.refit_tol_) == ("refit", None)
    # explicit refit_tol=None or warm_start=False: the model's own refits too
    assert LeaveOneOutScorer(LogisticRegressionCV(**base), refit_tol=None).fit(
        X, y
    ).refit_method_ == ("refit")
    assert not logistic_cv_applies(LogisticRegressionCV(**base), X.tolist(), y, None)
