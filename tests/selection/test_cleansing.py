"""CleansingSelector: which rows are removed (against planted flips and actual retraining),
the internal validation split, metadata routing, rounds, grid search, pandas, pickling."""

import pickle
import warnings

import numpy as np
import pandas as pd
import pytest
import sklearn
from sklearn.base import BaseEstimator
from sklearn.datasets import load_breast_cancer, make_classification
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.metrics import log_loss
from sklearn.model_selection import GridSearchCV, train_test_split
from sklearn.preprocessing import StandardScaler

from skinfluence import CleansingSelector, CombinedScorer, InfluenceScorer
from skinfluence.datasets import flip_labels
from skinfluence.exceptions import SkinfluenceWarning


def _lr():
    return LogisticRegression(solver="newton-cholesky", tol=1e-10)


@pytest.fixture(scope="module")
def noisy():
    """Breast cancer, standardised, 10 % of the training labels flipped, a clean test set."""
    X, y = load_breast_cancer(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.4, stratify=y, random_state=0
    )
    y_noisy, flipped = flip_labels(y_train, 0.1, random_state=0)
    return X_train, y_noisy, flipped, X_test, y_test


class FixedScores(BaseEstimator):
    """A self-scorer whose scores are given (no influence method)."""

    def __init__(self, scores=None):
        self.scores = scores

    def fit(self, X, y=None):
        self.scores_ = np.asarray(self.scores, dtype=float)[: len(X)]
        return self


# -- which rows ------------------------------------------------------------------------------
def test_default_removes_mostly_flipped_rows_and_does_not_hurt(noisy):
    X, y, flipped, X_test, y_test = noisy
    selector = CleansingSelector(_lr(), fraction=0.1, random_state=0).fit(X, y)
    removed = selector.removed_
    assert len(removed) == round(0.1 * len(y))
    assert selector.criterion_ == "self"
    assert isinstance(selector.scorer_, CombinedScorer)
    # 10 % of the rows are flipped: a random removal finds ~0.10 of them
    assert flipped[removed].mean() > 0.7
    none = _lr().fit(X, y).score(X_test, y_test)
    assert selector.score(X_test, y_test) >= none


def test_clean_validation_influence_removes_flipped_rows(noisy):
    X, y, flipped, X_test, y_test = noisy
    X_val, X_eval, y_val, y_eval = train_test_split(
        X_test, y_test, test_size=0.5, stratify=y_test, random_state=0
    )
    selector = CleansingSelector(_lr(), scorer=InfluenceScorer(_lr()), fraction=0.05)
    selector.fit(X, y, X_val=X_val, y_val=y_val)
    assert selector.criterion_ == "validation"
    assert selector.validation_indices_ is None
    assert flipped[selector.removed_].mean() > 0.5  # random: 0.1
    assert selector.score(X_eval, y_eval) >= _lr().fit(X, y).score(X_eval, y_eval)


def test_validation_ranking_is_the_influence_ranking_and_lowers_the_validation_loss(noisy):
    """Ground truth: the rows removed are the most negative influence on the total validation
    loss, and retraining without them lowers that loss (retraining without the most
    *helpful* rows raises it)."""
    X, y, _, X_test, y_test = noisy
    X_val, y_val = X_test[:100], y_test[:100]
    k = 15
    selector = CleansingSelector(_lr(), scorer=InfluenceScorer(_lr()), fraction=k)
    selector.fit(X, y, X_val=X_val, y_val=y_val)
    influence = InfluenceScorer(_lr()).fit(X, y).influence(X_val, y_val, aggregate="sum")
    np.testing.assert_array_equal(selector.removed_, np.argsort(influence, kind="stable")[:k])
    np.testing.assert_allclose(selector.scores_, -influence)

    def val_loss(removed):
        keep = np.setdiff1d(np.arange(len(y)), removed)
        model = _lr().fit(X[keep], y[keep])
        return log_loss(y_val, model.predict_proba(X_val), normalize=False)

    full = val_loss([])
    assert val_loss(selector.removed_) < full < val_loss(np.argsort(-influence)[:k])


def test_rounds_rescore_on_the_rows_left(noisy):
    X, y, flipped, *_ = noisy
    selector = CleansingSelector(_lr(), fraction=30, n_rounds=3, random_state=0).fit(X, y)
    assert len(selector.removed_) == len(np.unique(selector.removed_)) == 30
    # the last round's scorer was fitted on the rows left after two rounds of 10
    assert len(selector.scorer_.scores_) == len(y) - 20
    one_round = CleansingSelector(_lr(), fraction=30, random_state=0).fit(X, y)
    np.testing.assert_array_equal(selector.removed_[:10], one_round.removed_[:10])
    assert flipped[selector.removed_].mean() > 0.7


def test_fraction_zero_is_the_plain_model_and_counts_are_exact(noisy):
    X, y, *_ = noisy
    selector = CleansingSelector(_lr(), fraction=0.0).fit(X, y)
    assert selector.support_.all() and len(selector.removed_) == 0
    np.testing.assert_allclose(selector.estimator_.coef_, _lr().fit(X, y).coef_)
    assert len(CleansingSelector(_lr(), fraction=7).fit(X, y).removed_) == 7
    with pytest.raises(ValueError, match="asks to remove"):
        CleansingSelector(_lr(), fraction=len(y)).fit(X, y)


def test_self_criterion_ranks_by_scores_and_protects_every_class():
    X, y = make_classification(60, 4, n_informative=3, n_redundant=0, random_state=0)
    y[:3] = 2  # a class of 3 rows, all with the highest scores
    scores = np.linspace(1, 0, 60)
    selector = CleansingSelector(_lr(), scorer=FixedScores(scores), fraction=10).fit(X, y)
    # rows 0-2 rank first but class 2 keeps 2 of its 3 rows: row 0 goes, 1 and 2 stay
    np.testing.assert_array_equal(selector.removed_, [0, *range(3, 12)])
    assert set(selector.classes_) == {0, 1, 2}


# -- the internal validation split --------------------------------------------------------------
def test_internal_split_is_stratified_reproducible_and_kept(noisy):
    X, y, *_ = noisy
    rows = np.arange(len(y))
    y3 = np.where(rows % 7 == 0, 2, y)  # three classes of unequal sizes

    def fitted(seed):
        sel = CleansingSelector(
            _lr(), scorer=InfluenceScorer(_lr()), validation_fraction=0.25, random_state=seed
        )
        return sel.fit(X, y3)

    first, again, other = fitted(0), fitted(0), fitted(1)
    val = first.validation_indices_
    np.testing.assert_array_equal(val, again.validation_indices_)
    np.testing.assert_array_equal(first.removed_, again.removed_)
    assert not np.array_equal(val, other.validation_indices_)
    assert len(val) == np.ceil(0.25 * len(y3))  # train_test_split rounds the test share up
    for c in range(3):  # stratified: each class's share within one row
        assert abs(np.sum(y3[val] == c) - 0.25 * np.sum(y3 == c)) <= 1
    assert not np.isin(first.removed_, val).any()  # validation rows are never removed
    assert first.support_[val].all()  # ... and take part in the final fit
    assert np.isnan(first.scores_[val]).all() and np.isfinite(np.delete(first.scores_, val)).all()
    assert len(first.removed_) == round(0.05 * len(y3))


# -- metadata routing and search --------------------------------------------------------------
def test_validation_rows_are_routed_through_grid_search(noisy):
    X, y, _, X_test, y_test = noisy
    X_val, y_val = X_test[:80], y_test[:80]
    with sklearn.config_context(enable_metadata_routing=True):
        selector = CleansingSelector(_lr(), scorer=InfluenceScorer(_lr()))
        grid = GridSearchCV(selector, {"fraction": [0.0, 0.05]}, cv=3)
        with pytest.raises(ValueError, match="X_val"):  # not requested: refused
            grid.fit(X, y, X_val=X_val, y_val=y_val)
        selector.set_fit_request(X_val=True, y_val=True)
        grid = GridSearchCV(selector, {"fraction": [0.0, 0.05]}, cv=3)
        grid.fit(X, y, X_val=X_val, y_val=y_val)
    best = grid.best_estimator_
    assert best.validation_indices_ is None  # the routed rows were used, not a split
    expected = CleansingSelector(_lr(), scorer=InfluenceScorer(_lr()), fraction=best.fraction).fit(
        X, y, X_val=X_val, y_val=y_val
    )
    np.testing.assert_array_equal(best.removed_, expected.removed_)


def test_fit_params_are_routed_to_the_estimator_restricted_to_kept_rows(noisy):
    X, y, *_ = noisy
    weights = np.random.RandomState(0).uniform(0.5, 2.0, len(y))
    with sklearn.config_context(enable_metadata_routing=True):
        estimator = _lr().set_fit_request(sample_weight=True)
        selector = CleansingSelector(estimator, fraction=0.05, random_state=0)
        selector.fit(X, y, sample_weight=weights)
    keep = selector.sample_indices_
    expected = _lr().fit(X[keep], y[keep], sample_weight=weights[keep])
    np.testing.assert_allclose(selector.estimator_.coef_, expected.coef_, rtol=1e-8)
    plain = CleansingSelector(_lr(), fraction=0.05, random_state=0).fit(
        X, y, sample_weight=weights
    )  # without routing: passed straight to the estimator
    np.testing.assert_allclose(plain.estimator_.coef_, expected.coef_, rtol=1e-8)


def test_fraction_is_grid_searchable(noisy):
    X, y, *_ = noisy
    grid = GridSearchCV(
        CleansingSelector(_lr(), random_state=0), {"fraction": [0.0, 0.1], "n_rounds": [1, 2]}
    ).fit(X, y)
    assert grid.best_params_["fraction"] in (0.0, 0.1)


# -- inputs, outputs, errors --------------------------------------------------------------------
def test_pandas_in_pandas_to_the_model_and_pickling(noisy):
    X, y, _, X_test, _ = noisy
    columns = [f"f{i}" for i in range(X.shape[1])]
    frame = pd.DataFrame(X, columns=columns, index=np.arange(len(y)) + 1000)
    selector = CleansingSelector(_lr(), fraction=0.05, random_state=0).fit(frame, pd.Series(y))
    assert list(selector.feature_names_in_) == columns
    assert list(selector.estimator_.feature_names_in_) == columns  # the model saw a DataFrame
    test_frame = pd.DataFrame(X_test, columns=columns)
    again = pickle.loads(pickle.dumps(selector))
    np.testing.assert_array_equal(again.predict(test_frame), selector.predict(test_frame))
    np.testing.assert_array_equal(again.removed_, selector.removed_)


def test_regressor_default_and_verbose(capsys):
    X, _ = make_classification(80, 5, random_state=0)
    target = X @ np.arange(5.0) + 0.1 * np.random.RandomState(0).normal(size=80)
    target[:4] += 30.0  # four gross outliers
    selector = CleansingSelector(Ridge(), fraction=4, random_state=0, verbose=1)
    selector.fit(X, target)
    assert set(selector.removed_) == {0, 1, 2, 3}
    assert "cleansing rounds" in capsys.readouterr().err


def test_errors_say_what_to_do(noisy):
    X, y, *_ = noisy
    with pytest.raises(ValueError, match="criterion='self'"):
        CleansingSelector(_lr(), scorer=FixedScores(np.ones(len(y))), criterion="validation").fit(
            X, y
        )
    with pytest.raises(ValueError, match="both X_val and y_val"):
        CleansingSelector(_lr(), scorer=InfluenceScorer(_lr())).fit(X, y, X_val=X[:5])
    with pytest.warns(SkinfluenceWarning, match="unused"):
        CleansingSelector(_lr(), random_state=0).fit(X, y, X_val=X[:5], y_val=y[:5])
    with pytest.raises(TypeError, match="no scores_"):
        CleansingSelector(_lr(), scorer=_lr(), criterion="self").fit(X, y)


def test_nothing_warns_on_a_plain_fit(noisy):
    X, y, *_ = noisy
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        CleansingSelector(_lr(), random_state=0).fit(X, y)
