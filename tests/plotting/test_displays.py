"""InfluenceDisplay and DetectionCurveDisplay: the numbers they draw and their errors."""

import subprocess
import sys

import numpy as np
import pytest
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import average_precision_score

from skinfluence import InfluenceScorer
from skinfluence.metrics import detection_scores
from skinfluence.plotting import DetectionCurveDisplay, InfluenceDisplay

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")
plt = pytest.importorskip("matplotlib.pyplot")


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def test_importing_plotting_does_not_import_matplotlib():
    code = "import sys, skinfluence.plotting; print('matplotlib' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.stdout.strip() == "False", out.stderr


def test_detection_curve_matches_the_metrics():
    rng = np.random.RandomState(0)
    is_bad = rng.rand(200) < 0.1
    scores = rng.normal(size=200) + 2.0 * is_bad
    display = DetectionCurveDisplay.from_scores(is_bad, scores, name="noisy")
    reference = detection_scores(is_bad, scores)
    assert display.average_precision == pytest.approx(average_precision_score(is_bad, scores))
    assert display.precision_at_k == pytest.approx(reference.precision_at_k)
    assert display.base_rate == pytest.approx(is_bad.mean())
    assert display.recall[0] == 1.0 and display.recall[-1] == 0.0
    assert "noisy (AUPRC = " in display.line_.get_label()
    # A second curve on the same axes shares the random baseline (drawn once).
    DetectionCurveDisplay.from_scores(is_bad, -scores, name="reversed", ax=display.ax_)
    baselines = [ln for ln in display.ax_.get_lines() if ln.get_label().startswith("random")]
    assert len(baselines) == 1


def test_detection_curve_from_estimator(breast_cancer):
    X, y = breast_cancer
    X, y = X[:200], y[:200].copy()
    flipped = np.zeros(200, dtype=bool)
    flipped[:20] = True
    y[flipped] = 1 - y[flipped]
    scorer = InfluenceScorer(LogisticRegression()).fit(X, y)
    display = DetectionCurveDisplay.from_estimator(scorer, flipped)
    assert display.name == "InfluenceScorer"
    assert display.average_precision == pytest.approx(
        average_precision_score(flipped, scorer.scores_)
    )
    assert display.average_precision > 3 * display.base_rate  # self-influence finds flips


@pytest.mark.parametrize(
    ("is_bad", "scores", "match"),
    [
        ([0, 1, 1], [0.1, 0.2], "same length"),
        ([0, 0, 0], [0.1, 0.2, 0.3], "both bad"),
        ([0, 1, 0], [0.1, np.nan, 0.3], "NaN"),
    ],
)
def test_detection_curve_rejects_bad_input(is_bad, scores, match):
    with pytest.raises(ValueError, match=match):
        DetectionCurveDisplay.from_scores(is_bad, scores)


def test_influence_display_shows_the_extreme_rows(breast_cancer):
    X, y = breast_cancer
    scorer = InfluenceScorer(LogisticRegression()).fit(X[:300], y[:300])
    display = InfluenceDisplay.from_estimator(scorer, X[400], y[400], X[:300], y[:300], k=4)
    influence = scorer.influence(X[400:401], y[400:401])[0]
    order = np.argsort(influence)
    np.testing.assert_array_equal(display.helpful_indices, order[::-1][:4])
    np.testing.assert_array_equal(display.harmful_indices, order[:4])
    np.testing.assert_allclose(display.helpful_influence, influence[order[::-1][:4]])
    assert np.all(np.diff(display.helpful_influence) <= 0)
    assert np.all(np.diff(display.harmful_influence) >= 0)
    # Tabular data: one bar per shown row, green for helpful, red for harmful.
    bars = display.ax_.patches
    assert len(bars) == 8
    heights = [bar.get_width() for bar in bars]
    np.testing.assert_allclose(
        heights, np.concatenate([display.helpful_influence, display.harmful_influence])
    )
    assert display.ax_.get_title().startswith(f"test row, label {y[400]}")


def test_influence_display_draws_images():
    X, y = load_digits(return_X_y=True)
    keep = (y == 1) | (y == 7)
    X, y = X[keep] / 16.0, y[keep]
    scorer = InfluenceScorer(LogisticRegression()).fit(X[:200], y[:200])
    display = InfluenceDisplay.from_estimator(
        scorer, X[250], y[250], X[:200], y[:200], k=2, image_shape=(8, 8)
    )
    (image,) = display.ax_.get_images()
    assert image.get_array().shape == (8, 5 * 9 - 1)  # 5 tiles of 8 columns, 1-column gaps
    texts = [t.get_text() for t in display.ax_.texts]
    assert texts[0].startswith("test row") and len(texts) == 5
    assert f"#{display.helpful_indices[0]} helps" in texts[1]
    with pytest.raises(ValueError, match="image_shape"):
        InfluenceDisplay.from_estimator(
            scorer, X[250], y[250], X[:200], y[:200], image_shape=(4, 4)
        )


def test_influence_display_rejects_bad_input():
    X = np.arange(20.0).reshape(10, 2)
    y = np.arange(10) % 2
    with pytest.raises(ValueError, match="one value per training row"):
        InfluenceDisplay.from_influence(np.zeros(9), X, y, X[0], y[0])
    with pytest.raises(ValueError, match="k must be"):
        InfluenceDisplay.from_influence(np.zeros(10), X, y, X[0], y[0], k=6)


def test_missing_matplotlib_names_the_extra(monkeypatch):
    display = DetectionCurveDisplay(
        precision=np.ones(2),
        recall=np.array([1.0, 0.0]),
        average_precision=1.0,
        base_rate=0.5,
        precision_at_k=1.0,
    )
    monkeypatch.setitem(sys.modules, "matplotlib.pyplot", None)
    with pytest.raises(ImportError, match=r"skinfluence\[plot\]"):
        display.plot()
