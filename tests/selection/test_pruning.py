"""PruningSelector: which rows are kept, delegation, pipelines (sklearn and imblearn), grid
search, bad input, and that nothing the user passes is modified."""

import joblib
import numpy as np
import pandas as pd
import pytest
from sklearn.base import BaseEstimator
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import LinearSVC

from skinfluence import EL2NScorer, PrototypeScorer, PruningSelector
from skinfluence.datasets import flip_labels
from skinfluence.selection._auto_rule import choose_keep
from skinfluence.selection._pruning import select_rows


class FixedScores(BaseEstimator):
    """A scorer whose scores are given: makes the expected selection known in advance."""

    def __init__(self, scores=None):
        self.scores = scores

    def fit(self, X, y=None):
        self.scores_ = np.asarray(self.scores, dtype=float)
        return self


class NoScores(BaseEstimator):
    def fit(self, X, y=None):
        return self


def el2n_selector(**kw):
    return PruningSelector(
        EL2NScorer(LogisticRegression(), n_repeats=1), LogisticRegression(), **kw
    )


# -- which rows -----------------------------------------------------------------------------
def test_random_keeps_a_uniform_subset_whatever_the_scores():
    scores = np.arange(1000.0)
    y = np.zeros(1000, int)
    kept = select_rows(scores, y, 500, "random", random_state=0)
    assert len(np.unique(kept)) == 500
    # a uniform half of 0..999 has mean ≈ 499.5 ± 13 (sd of the mean of 500 draws without
    # replacement); easy/hard halves have means 249.5 / 749.5
    assert abs(scores[kept].mean() - 499.5) < 60
    assert select_rows(scores, y, 500, "easy").max() == 499
    assert select_rows(scores, y, 500, "hard").min() == 500


def test_class_balance_keeps_the_fraction_within_each_class():
    rng = np.random.RandomState(0)
    y = np.repeat([0, 1, 2], [60, 30, 10])
    scores = rng.rand(100)
    kept = select_rows(scores, y, 50, "easy", class_balance=True, random_state=0)
    assert np.bincount(y[kept]).tolist() == [30, 15, 5]
    for c in range(3):  # within a class: the lowest scores
        rows = np.flatnonzero(y == c)
        expected = rows[np.argsort(scores[rows])[: np.sum(y[kept] == c)]]
        assert set(kept[y[kept] == c]) == set(expected)
    hard = select_rows(scores, y, 50, "hard", class_balance=True, random_state=0)
    for c in range(3):
        rows = np.flatnonzero(y == c)
        assert scores[hard[y[hard] == c]].min() >= np.median(scores[rows]) - 1e-12


def test_global_ranking_without_class_balance():
    scores = np.arange(20.0)
    y = np.tile([0, 1], 10)
    np.testing.assert_array_equal(select_rows(scores, y, 6, "easy", class_balance=False), range(6))
    np.testing.assert_array_equal(
        select_rows(scores, y, 6, "hard", class_balance=False), range(14, 20)
    )


def test_a_class_too_small_for_its_share_keeps_one_row():
    y = np.repeat([0, 1], [97, 3])
    kept = select_rows(np.zeros(100), y, 10, "easy", random_state=0)
    assert len(kept) == 10 and np.bincount(y[kept]).tolist() == [9, 1]


def test_ties_are_broken_at_random_and_reproducibly():
    scores = np.zeros(50)
    y = np.zeros(50, int)
    a = select_rows(scores, y, 10, "easy", random_state=0)
    assert a.tolist() == select_rows(scores, y, 10, "easy", random_state=0).tolist()
    assert a.tolist() != select_rows(scores, y, 10, "easy", random_state=1).tolist()
    assert a.tolist() != list(range(10))


# -- the meta-estimator ---------------------------------------------------------------------
def test_fit_keeps_the_fraction_and_delegates_to_a_model_fitted_on_those_rows(breast_cancer):
    X, y = breast_cancer
    sel = el2n_selector(fraction=0.3, keep="easy", random_state=0).fit(X, y)
    assert sel.support_.sum() == round(0.3 * len(y)) == len(sel.sample_indices_)
    np.testing.assert_array_equal(np.flatnonzero(sel.support_), sel.sample_indices_)
    ref_scores = EL2NScorer(LogisticRegression(), n_repeats=1).fit(X, y).scores_
    np.testing.assert_allclose(sel.scores_, ref_scores)
    assert sel.keep_ == "easy"
    ref = LogisticRegression().fit(X[sel.support_], y[sel.support_])
    np.testing.assert_allclose(sel.predict_proba(X), ref.predict_proba(X))
    np.testing.assert_allclose(sel.decision_function(X), ref.decision_function(X))
    np.testing.assert_array_equal(sel.predict(X), ref.predict(X))
    assert sel.score(X, y) == ref.score(X, y)
    np.testing.assert_array_equal(sel.classes_, [0, 1])
    # the kept rows are the easiest of each class
    for c in (0, 1):
        in_c = y == c
        assert sel.scores_[sel.support_ & in_c].max() <= sel.scores_[~sel.support_ & in_c].min()


def test_integer_fraction_is_a_row_count_and_one_keeps_everything(wine):
    X, y = wine
    assert el2n_selector(fraction=40, keep="hard").fit(X, y).support_.sum() == 40
    assert el2n_selector(fraction=1.0, keep="hard").fit(X, y).support_.all()


def test_fit_params_are_restricted_to_the_kept_rows(wine):
    X, y = wine
    w = np.linspace(0.5, 2, len(y))
    sel = el2n_selector(fraction=0.5, keep="easy", random_state=0).fit(X, y, sample_weight=w)
    ref = LogisticRegression().fit(X[sel.support_], y[sel.support_], sample_weight=w[sel.support_])
    np.testing.assert_allclose(sel.estimator_.coef_, ref.coef_)


def test_auto_follows_the_rule_module():
    rng = np.random.RandomState(0)
    for n, p in [(40, 30), (400, 5)]:
        X = rng.randn(n, p)
        y = (X[:, 0] > 0).astype(int)
        sel = PruningSelector(FixedScores(rng.rand(n)), LogisticRegression(), fraction=0.5)
        assert sel.fit(X, y).keep_ == choose_keep(n, p, 0.5)
    # the two shapes above sit on either side of the rule, so both branches are exercised
    assert {choose_keep(40, 30, 0.5), choose_keep(400, 5, 0.5)} == {"easy", "hard"}


def test_methods_follow_the_estimator():
    sampler = PruningSelector(EL2NScorer(LogisticRegression()))
    assert hasattr(sampler, "fit_resample") and not hasattr(sampler, "predict")
    model = PruningSelector(EL2NScorer(LogisticRegression()), LinearSVC())
    assert not hasattr(model, "fit_resample") and not hasattr(model, "predict_proba")
    assert hasattr(model, "decision_function")


def test_sampler_returns_the_kept_rows_and_keeps_pandas(wine):
    X, y = wine
    df = pd.DataFrame(
        X, columns=[f"f{j}" for j in range(X.shape[1])], index=np.arange(len(y)) + 100
    )
    ys = pd.Series(y, index=df.index)
    sampler = PruningSelector(PrototypeScorer(random_state=0), fraction=0.25, keep="hard")
    X_res, y_res = sampler.fit_resample(df, ys)
    assert isinstance(X_res, pd.DataFrame) and isinstance(y_res, pd.Series)
    assert X_res.index.tolist() == (sampler.sample_indices_ + 100).tolist()
    np.testing.assert_array_equal(y_res.to_numpy(), y[sampler.sample_indices_])
    assert sampler.feature_names_in_.tolist() == df.columns.tolist()
    assert not hasattr(sampler, "estimator_")


# -- composition ----------------------------------------------------------------------------
def test_inside_a_pipeline_after_a_scaler():
    X, y = load_breast_cancer(return_X_y=True)  # unscaled: the scaler matters
    pipe = Pipeline([("scale", StandardScaler()), ("prune", el2n_selector(keep="easy"))])
    pipe.fit(X, y)
    Xs = StandardScaler().fit_transform(X)
    ref = EL2NScorer(LogisticRegression(), n_repeats=1).fit(Xs, y).scores_
    np.testing.assert_allclose(pipe["prune"].scores_, ref)
    assert pipe.score(X, y) > 0.9


def test_as_a_sampler_in_an_imblearn_pipeline(breast_cancer):
    imblearn_pipeline = pytest.importorskip("imblearn.pipeline")
    X, y = breast_cancer
    sampler = PruningSelector(EL2NScorer(LogisticRegression(), n_repeats=1), keep="easy")
    pipe = imblearn_pipeline.Pipeline([("prune", sampler), ("model", LogisticRegression())])
    pipe.fit(X, y)
    kept = pipe["prune"].sample_indices_
    assert len(kept) == round(0.5 * len(y))
    ref = LogisticRegression().fit(X[kept], y[kept])
    np.testing.assert_allclose(pipe["model"].coef_, ref.coef_)
    np.testing.assert_array_equal(pipe.predict(X), ref.predict(X))  # no pruning at predict


def test_grid_search_over_fraction_keep_and_the_scorer_picks_sensibly():
    X, y = load_breast_cancer(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.4, random_state=0, stratify=y
    )
    y_noisy, _ = flip_labels(y_train, 0.2, random_state=0)
    pipe = Pipeline(
        [
            ("scale", StandardScaler()),
            (
                "prune",
                PruningSelector(
                    EL2NScorer(LogisticRegression(), random_state=0),
                    LogisticRegression(),
                    random_state=0,
                ),
            ),
        ]
    )
    grid = {
        "prune__fraction": [0.3, 0.5, 0.7, 1.0],
        "prune__keep": ["easy", "hard", "random"],
        "prune__scorer__n_repeats": [1, 2],
    }
    search = GridSearchCV(pipe, grid, cv=3, n_jobs=2).fit(X_train, y_noisy)
    res = pd.DataFrame(search.cv_results_["params"]).assign(
        score=search.cv_results_["mean_test_score"]
    )
    at_03 = res[res["prune__fraction"] == 0.3].groupby("prune__keep")["score"].mean()
    # With 20% flipped labels, keeping the hardest 30% keeps mostly flipped rows: worse than
    # chance. Measured: easy 0.75, hard 0.26; random 0.66-0.75 over random_state 0-9, so easy vs
    # random is not separated at this size (an unseeded run once failed CI on it). Seeded here.
    assert at_03["easy"] > at_03["hard"] + 0.3
    assert at_03["random"] > at_03["hard"] + 0.3
    assert at_03["easy"] >= at_03["random"] - 0.01
    best = search.best_params_
    assert best["prune__keep"] != "hard" or best["prune__fraction"] == 1.0
    # the chosen model is as good on clean labels as training on all noisy rows (measured
    # equal, 0.91); 0.03 allows for a different choice among near-tied grid points
    full = Pipeline([("s", StandardScaler()), ("m", LogisticRegression())]).fit(X_train, y_noisy)
    assert search.score(X_test, y_test) >= full.score(X_test, y_test) - 0.03


# -- bad input and side effects -------------------------------------------------------------
@pytest.mark.parametrize("fraction", [0.0, -0.2, 1.5, 0])
def test_fraction_outside_its_range_is_an_error(fraction, wine):
    X, y = wine
    with pytest.raises(ValueError, match="'fraction' parameter"):
        el2n_selector(fraction=fraction).fit(X, y)


def test_bad_parameters_give_clear_errors(wine):
    X, y = wine
    with pytest.raises(ValueError, match="only 178"):
        el2n_selector(fraction=500).fit(X, y)
    with pytest.raises(ValueError, match="'keep' parameter"):
        el2n_selector(keep="hardest").fit(X, y)
    with pytest.raises(TypeError, match="no scores_ after fit"):
        PruningSelector(NoScores(), LogisticRegression()).fit(X, y)
    with pytest.raises(ValueError, match="finite numbers"):
        PruningSelector(FixedScores(np.ones(3)), LogisticRegression()).fit(X, y)
    with pytest.raises(ValueError, match="cannot keep every one of the 3 classes"):
        el2n_selector(fraction=2).fit(X, y)
    hard_class = np.where(y == 2, 1.0, 0.0)  # class 2 holds all the hardest rows ...
    with pytest.raises(ValueError, match=r"kept no row of class\(es\) \[2\]"):
        PruningSelector(  # ... so keeping the easy half globally removes it
            FixedScores(hard_class), LogisticRegression(), keep="easy", class_balance=False
        ).fit(X, y)


def test_user_arrays_and_estimators_are_not_modified(wine):
    X, y = wine
    X, y = X.copy(), y.copy()
    scorer = EL2NScorer(LogisticRegression(max_iter=200), n_repeats=2, random_state=0)
    model = LogisticRegression(C=0.5)
    selector = PruningSelector(scorer, model, fraction=0.4, keep="hard", random_state=0)
    before = joblib.hash((X, y, scorer, model))
    params = selector.get_params(deep=True)
    selector.fit(X, y)
    selector.predict(X)
    assert joblib.hash((X, y, scorer, model)) == before
    assert not hasattr(scorer, "scores_") and not hasattr(model, "coef_")
    assert joblib.hash(selector.get_params(deep=True)) == joblib.hash(params)
