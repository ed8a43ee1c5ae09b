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
from skinfluence.selection._auto_rule import auto_keep, choose_keep
from skinfluence.selection._pruning import select_rows
from skinfluence.selection._strategies import default_hard_cutoff, strata_budgets


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
    for n, p in [(40, 30), (400, 5)]:  # either side of the theory's easy/hard crossing
        X = rng.randn(n, p)
        y = (X[:, 0] > 0).astype(int)
        scores = rng.rand(n)
        sel = PruningSelector(
            FixedScores(scores), LogisticRegression(), fraction=0.5, random_state=0
        ).fit(X, y)
        assert sel.keep_ == auto_keep(n, p, 0.5) == "coverage"
        coverage = PruningSelector(
            FixedScores(scores), LogisticRegression(), fraction=0.5, keep="coverage", random_state=0
        ).fit(X, y)
        np.testing.assert_array_equal(sel.sample_indices_, coverage.sample_indices_)
    # the theory's rule, which "auto" no longer follows, still differs across the two shapes
    assert {choose_keep(40, 30, 0.5), choose_keep(400, 5, 0.5)} == {"easy", "hard"}
    with pytest.raises(ValueError, match="fraction must be"):
        auto_keep(10, 2, 1.5)


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


# -- moderate and coverage (issue 21) -------------------------------------------------------
def test_moderate_keeps_the_rows_nearest_the_median_score():
    rng = np.random.RandomState(0)
    scores = rng.exponential(size=101)  # skewed: the nearest-to-median set is not central ranks
    kept = select_rows(scores, None, 30, "moderate", random_state=0)
    distance = np.abs(scores - np.median(scores))
    np.testing.assert_array_equal(kept, np.sort(np.argsort(distance)[:30]))
    assert distance[kept].max() < np.delete(distance, kept).min()


def test_moderate_is_per_class_with_class_balance():
    rng = np.random.RandomState(1)
    y = np.repeat([0, 1], [60, 40])
    scores = np.where(y == 0, rng.rand(100), 10 + 3 * rng.rand(100))  # classes far apart
    kept = select_rows(scores, y, 50, "moderate", random_state=0)
    assert np.bincount(y[kept]).tolist() == [30, 20]
    for c, quota in ((0, 30), (1, 20)):
        rows = np.flatnonzero(y == c)
        distance = np.abs(scores[rows] - np.median(scores[rows]))
        expected = rows[np.argsort(distance)[:quota]]
        assert set(kept[y[kept] == c]) == set(expected)
    # without class balance: the rows nearest the global median, which lies in class 0 here,
    # so class 1 loses every row (an error, as for the other rules)
    with pytest.raises(ValueError, match=r"kept no row of class\(es\) \[1\]"):
        select_rows(scores, y, 20, "moderate", class_balance=False, random_state=0)
    glob = select_rows(scores, None, 20, "moderate", random_state=0)
    distance = np.abs(scores - np.median(scores))
    np.testing.assert_array_equal(glob, np.sort(np.argsort(distance)[:20]))


def test_strata_budgets_fill_from_the_smallest_stratum_up():
    # sizes 1, 2, 5, 12, budget 10: 10 // 4 = 2 -> 1 (all), 9 // 3 = 3 -> 2 (all),
    # 7 // 2 = 3 -> 3, 4 // 1 = 4 -> 4
    assert strata_budgets([12, 1, 5, 2], 10).tolist() == [4, 1, 3, 2]
    assert strata_budgets([0, 7, 0, 3], 6).tolist() == [0, 3, 0, 3]  # empty strata take none
    rng = np.random.RandomState(0)
    for _ in range(200):  # the budget is spent exactly whenever there are enough rows
        sizes = rng.randint(0, 20, size=rng.randint(1, 8))
        m = rng.randint(0, sizes.sum() + 1)
        budgets = strata_budgets(sizes, m)
        assert budgets.sum() == m and np.all(budgets <= sizes)


def test_coverage_reproduces_the_ccs_procedure():
    # 20 rows in [0.5, 4] plus two outliers at 100 and 50, the hardest 2 of 22 rows
    # (hard_cutoff 2/22), which must be dropped before binning.
    scores = np.concatenate(
        [[0.5], [1.2, 1.7], [2.1, 2.3, 2.5, 2.7, 2.9], np.linspace(3.0, 4.0, 12), [100, 50]]
    )
    n = len(scores)
    kept = select_rows(scores, None, 10, "coverage", random_state=0, hard_cutoff=2 / n, n_strata=4)
    assert len(kept) == 10 and not {20, 21} & set(kept)
    # range after the cutoff [0.5, 4.0], width 0.875: the strata are [0.5, 1.375),
    # [1.375, 2.25), [2.25, 3.125), [3.125, 4.0], counts 2 (0.5, 1.2), 2 (1.7, 2.1),
    # 6 (2.3 .. 2.9, 3.0, 3.09), 10 (3.18 .. 4.0)
    edges = 0.5 + 0.875 * np.arange(5)
    stratum = np.minimum(np.searchsorted(edges, scores[:20], side="right") - 1, 3)
    assert np.bincount(stratum).tolist() == [2, 2, 6, 10]
    # budgets from the smallest up: 10 // 4 = 2 (all 2), 8 // 3 = 2 (all 2), 6 // 2 = 3, 3
    assert np.bincount(stratum[kept], minlength=4).tolist() == [2, 2, 3, 3]
    # with no cutoff the outliers stretch the range: nearly everything falls in stratum 0
    # (width 24.875), which then gets the whole remaining budget after the outliers' strata
    no_cut = select_rows(scores, None, 10, "coverage", random_state=0, hard_cutoff=0.0, n_strata=4)
    assert {20, 21} <= set(no_cut)
    # within a stratum the draw is uniform: different seeds, different rows
    draws = {tuple(select_rows(scores, None, 10, "coverage", random_state=s,
                               hard_cutoff=2 / n, n_strata=4)) for s in range(5)}  # fmt: skip
    assert len(draws) > 1


def test_coverage_is_class_balanced_and_uses_the_default_cutoff():
    rng = np.random.RandomState(0)
    y = np.repeat([0, 1, 2], [60, 30, 10])
    scores = rng.rand(100)
    kept = select_rows(scores, y, 20, "coverage", random_state=0)
    assert np.bincount(y[kept]).tolist() == [12, 6, 2]
    # f = 0.2 -> β = default_hard_cutoff(0.2) = 0.1 · (1 − 0.4) = 0.06: the hardest 6 % of
    # each class go (at most what leaves the class its quota)
    beta = default_hard_cutoff(0.2)
    assert beta == pytest.approx(0.06)
    for c in range(3):
        rows = np.flatnonzero(y == c)
        n_drop = min(round(beta * len(rows)), len(rows) - np.sum(y[kept] == c))
        hardest = rows[np.argsort(scores[rows])[len(rows) - n_drop :]]
        assert n_drop > 0 or c == 2  # class 2 (10 rows): round(0.6) = 1 row
        assert not set(hardest) & set(kept)
    assert default_hard_cutoff(0.5) == 0.0 == default_hard_cutoff(0.9)
    assert default_hard_cutoff(0.05) == pytest.approx(0.09)
    for seed in range(30):  # exactly n_keep distinct rows, whatever the sizes, ties and β
        r = np.random.RandomState(seed)
        n = r.randint(5, 60)
        y_r = r.randint(0, 3, size=n)
        s_r = np.round(r.randn(n), r.randint(0, 3))  # rounding makes ties
        n_keep = r.randint(3, n + 1)
        for balance in (True, False):
            try:
                kept = select_rows(s_r, y_r, n_keep, "coverage", class_balance=balance,
                                   random_state=seed, hard_cutoff=r.choice([0.0, 0.3, 0.9]),
                                   n_strata=r.randint(1, 10))  # fmt: skip
            except ValueError:  # too few rows kept for every class: raised, as documented
                continue
            assert len(kept) == len(np.unique(kept)) == n_keep


def test_selector_accepts_the_new_rules_and_grid_searches_them(breast_cancer):
    X, y = breast_cancer
    for keep in ("moderate", "coverage"):
        sel = el2n_selector(fraction=0.3, keep=keep, random_state=0).fit(X, y)
        assert sel.keep_ == keep and sel.support_.sum() == round(0.3 * len(y))
        expected = select_rows(sel.scores_, y, round(0.3 * len(y)), keep, random_state=0)
        np.testing.assert_array_equal(sel.sample_indices_, expected)
    pipe = Pipeline([("scale", StandardScaler()), ("prune", el2n_selector(random_state=0))])
    grid = {
        "prune__keep": ["moderate", "coverage", "random"],
        "prune__fraction": [0.2, 0.6],
        "prune__hard_cutoff": [None, 0.1],
    }
    search = GridSearchCV(pipe, grid, cv=3).fit(X, y)
    assert len(search.cv_results_["params"]) == 12
    assert search.best_params_["prune__keep"] in grid["prune__keep"]
    assert search.best_score_ > 0.9
    with pytest.raises(ValueError, match="'hard_cutoff' parameter"):
        el2n_selector(keep="coverage", hard_cutoff=1.0).fit(X, y)
