"""PruningCurveDisplay: the curves are the held-out scores of models refitted on the kept rows."""

import subprocess
import sys

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split

from skinfluence import EL2NScorer, PruningSelector, metrics
from skinfluence.plotting import PruningCurveDisplay
from skinfluence.plotting._pruning_curve import pruning_curve
from skinfluence.selection._pruning import select_rows

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")


@pytest.fixture
def split(breast_cancer):
    X, y = breast_cancer
    return train_test_split(X, y, test_size=0.4, random_state=0, stratify=y)


def test_curves_are_scores_of_models_fitted_on_the_selected_rows(split):
    X_train, X_test, y_train, y_test = split
    scores = EL2NScorer(LogisticRegression(), n_repeats=1).fit(X_train, y_train).scores_
    fractions, curves, _ = pruning_curve(
        LogisticRegression(), X_train, y_train, scores, X_test, y_test,
        fractions=[0.2, 40, 1.0], keep=["easy", "hard"], random_state=0,
    )  # fmt: skip
    np.testing.assert_allclose(fractions, [round(0.2 * 341) / 341, 40 / 341, 1.0])
    for rule in ("easy", "hard"):
        for j, n_keep in enumerate([68, 40]):
            selector = PruningSelector(
                EL2NScorer(LogisticRegression(), n_repeats=1), LogisticRegression(),
                fraction=n_keep, keep=rule,
            ).fit(X_train, y_train)  # fmt: skip
            assert curves[rule][j] == selector.score(X_test, y_test)
    full = LogisticRegression().fit(X_train, y_train).score(X_test, y_test)
    assert curves["easy"][2] == curves["hard"][2] == full  # every row kept


def test_from_estimator_equals_from_scores_and_draws(split):
    X_train, X_test, y_train, y_test = split
    selector = PruningSelector(
        EL2NScorer(LogisticRegression(), n_repeats=1), LogisticRegression(), random_state=0
    )
    disp = PruningCurveDisplay.from_estimator(
        selector, X_train, y_train, X_test, y_test, fractions=[0.1, 0.5, 1.0]
    )
    scores = EL2NScorer(LogisticRegression(), n_repeats=1).fit(X_train, y_train).scores_
    _, ax = matplotlib.pyplot.subplots()
    other = PruningCurveDisplay.from_scores(
        LogisticRegression(), X_train, y_train, scores, X_test, y_test,
        fractions=[0.1, 0.5, 1.0], random_state=0, name="EL2N", ax=ax,
    )  # fmt: skip
    for rule in ("easy", "hard", "moderate", "coverage", "random"):
        np.testing.assert_array_equal(disp.test_scores[rule], other.test_scores[rule])
    np.testing.assert_array_equal(disp.random_scores, other.random_scores)
    assert other.ax_ is ax
    labels = ax.get_legend_handles_labels()[1]
    assert labels == [
        "EL2N, keep easy", "EL2N, keep hard", "EL2N, keep moderate", "EL2N, keep coverage",
        "keep random", "random, 95% band", "all rows",
    ]  # fmt: skip
    np.testing.assert_array_equal(other.lines_["hard"].get_ydata(), other.test_scores["hard"])
    assert disp.full_score == LogisticRegression().fit(X_train, y_train).score(X_test, y_test)
    assert "accuracy" in disp.ax_.get_ylabel()
    # a second score on the same axes does not draw a second random baseline
    PruningCurveDisplay.from_scores(
        LogisticRegression(), X_train, y_train, -scores, X_test, y_test,
        fractions=[0.1, 0.5, 1.0], keep=["easy"], random_state=0, name="minus", ax=ax,
    )  # fmt: skip
    assert ax.get_legend_handles_labels()[1].count("keep random") == 1
    matplotlib.pyplot.close("all")


def test_random_is_always_drawn_with_a_band_over_independent_draws(split):
    X_train, X_test, y_train, y_test = split
    scores = np.zeros(len(y_train))
    fractions, curves, draws = pruning_curve(
        LogisticRegression(), X_train, y_train, scores, X_test, y_test,
        fractions=[20, 0.5], keep=["hard"], n_repeats=4, random_state=0,
    )  # fmt: skip
    assert sorted(curves) == ["hard", "random"] and draws.shape == (4, 2)
    np.testing.assert_allclose(curves["random"], draws.mean(axis=0))
    assert len(np.unique(draws[:, 0])) > 1  # the draws differ (20 rows: noisy)
    # each draw is the score of a model fitted on a class-balanced random subset of that size
    rng = np.random.RandomState(0)
    rng.randint(np.iinfo(np.int32).max, size=2)  # the seeds of the rules' fits come first
    seeds = rng.randint(np.iinfo(np.int32).max, size=(4, 2))
    rows = select_rows(scores, y_train, 20, "random", random_state=seeds[2, 0])
    model = LogisticRegression().fit(X_train[rows], y_train[rows])
    assert draws[2, 0] == model.score(X_test, y_test)
    disp = PruningCurveDisplay(fractions=fractions, test_scores=curves, random_scores=draws)
    disp.plot()
    z = 1.959963984540054
    band = disp.band_.get_paths()[0].vertices[:, 1]
    low = draws.mean(axis=0) - z * draws.std(axis=0, ddof=1)
    high = draws.mean(axis=0) + z * draws.std(axis=0, ddof=1)
    np.testing.assert_allclose([band.min(), band.max()], [low.min(), high.max()])
    # skinfluence.metrics.pruning_curve: the same curves, with the band as numbers
    result = metrics.pruning_curve(
        LogisticRegression(), X_train, y_train, scores, X_test, y_test,
        fractions=[20, 0.5], keep=["hard"], n_repeats=4, random_state=0,
    )  # fmt: skip
    np.testing.assert_array_equal(result.random_scores, draws)
    np.testing.assert_allclose(result.random_low, low)
    np.testing.assert_allclose(result.random_high, high)
    assert result.n_kept.tolist() == [20, round(0.5 * len(y_train))]
    assert result.scoring == "accuracy"
    one = PruningCurveDisplay(fractions=fractions, test_scores=curves, random_scores=draws[:1])
    assert one.plot().band_ is None  # one draw: no band
    matplotlib.pyplot.close("all")


def test_bad_arguments_give_clear_errors(split):
    X_train, X_test, y_train, y_test = split
    scores = np.zeros(len(y_train))
    with pytest.raises(ValueError, match="keep must list"):
        pruning_curve(LogisticRegression(), X_train, y_train, scores, X_test, y_test, keep=["auto"])
    with pytest.raises(ValueError, match="n_repeats must be"):
        pruning_curve(LogisticRegression(), X_train, y_train, scores, X_test, y_test, n_repeats=0)
    with pytest.raises(ValueError, match="fractions must be"):
        pruning_curve(
            LogisticRegression(), X_train, y_train, scores, X_test, y_test, fractions=[1.5]
        )
    with pytest.raises(ValueError, match="one value per training row"):
        pruning_curve(LogisticRegression(), X_train, y_train, scores[:5], X_test, y_test)
    with pytest.raises(ValueError, match="estimator=None"):
        PruningCurveDisplay.from_estimator(
            PruningSelector(EL2NScorer(LogisticRegression())), X_train, y_train, X_test, y_test
        )


def test_importing_the_plotting_module_does_not_import_matplotlib():
    code = "import sys, skinfluence.plotting; sys.exit('matplotlib' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0
