"""MarginScorer: the margin difficulty and its sign."""

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from skinfluence.toy import MarginScorer, PerceptronStudent, make_probe, make_teacher_student


@pytest.fixture(scope="module")
def toy():
    return make_teacher_student(200, 10, random_state=0)


def test_score_is_minus_distance_to_the_probe_boundary(toy):
    X, _, teacher = toy
    probe = 3.0 * make_probe(teacher, 0.2, random_state=1)  # the length must not matter
    scorer = MarginScorer(probe).fit(X)
    unit = probe / np.linalg.norm(probe)
    np.testing.assert_allclose(scorer.scores_, -np.abs(X @ unit), rtol=1e-12)
    # Higher = harder: the row closest to the boundary scores highest.
    assert scorer.scores_.argmax() == np.abs(X @ unit).argmin()
    np.testing.assert_allclose(scorer.transform(X[:5]).ravel(), scorer.scores_[:5])
    assert scorer.get_feature_names_out().tolist() == ["negative_margin"]


def test_fitted_probe_uses_its_hyperplane(toy):
    X, y, _ = toy
    scorer = MarginScorer(PerceptronStudent()).fit(X, y)
    w = scorer.estimator_.coef_.ravel()
    np.testing.assert_allclose(scorer.scores_, -np.abs(X @ w) / np.linalg.norm(w))
    # The max-margin student's hardest rows are its support vectors, at margin 1/‖w‖.
    assert -scorer.scores_.max() == pytest.approx(scorer.estimator_.margin_, rel=1e-8)


def test_multiclass_probe_distance_to_nearest_boundary():
    rng = np.random.RandomState(0)
    X = rng.standard_normal((60, 2))
    y = np.argmax(X @ np.array([[1.0, 0.0], [-0.5, 0.9], [-0.5, -0.9]]).T, axis=1)
    scorer = MarginScorer(LogisticRegression()).fit(X, y)
    W, b = scorer.coef_, scorer.intercept_
    eta = X @ W.T + b
    expected = []
    for row in eta:  # by hand: for the predicted class, nearest of the two other boundaries
        top = row.argmax()
        expected.append(
            min((row[top] - row[k]) / np.linalg.norm(W[top] - W[k]) for k in range(3) if k != top)
        )
    np.testing.assert_allclose(scorer.scores_, -np.array(expected), rtol=1e-10)


def test_bad_probe(toy):
    X, _, _ = toy
    with pytest.raises(ValueError, match="length n_features=10"):
        MarginScorer(np.ones(3)).fit(X)
    with pytest.raises(ValueError, match="requires y"):
        MarginScorer().fit(X)
