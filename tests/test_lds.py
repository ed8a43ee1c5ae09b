"""``linear_datamodeling_score``: against models whose outputs are exactly (or nearly)
additive over the training rows, where the true attributions are known."""

import numpy as np
import pytest
from joblib import parallel_config
from scipy.special import expit
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.datasets import make_classification, make_regression
from sklearn.linear_model import LogisticRegression, Ridge

from skinfluence import InfluenceScorer, LeaveOneOutScorer
from skinfluence.metrics import linear_datamodeling_score


class AdditiveClassifier(ClassifierMixin, BaseEstimator):
    """Binary; the logit of a row x is ``scale · Σ_i (x · x_i) s_i`` over the training rows
    (s_i = ±1 by label): exactly additive over the rows it is fitted on."""

    def __init__(self, scale=0.05):
        self.scale = scale

    def fit(self, X, y):
        self.classes_ = np.unique(y)
        self.X_ = np.asarray(X, dtype=np.float64)
        self.s_ = np.where(np.asarray(y) == self.classes_[-1], 1.0, -1.0)
        return self

    def decision_function(self, X):
        return self.scale * (np.asarray(X) @ self.X_.T) @ self.s_

    def predict_proba(self, X):
        p = expit(self.decision_function(X))
        return np.column_stack([1 - p, p])

    def predict(self, X):
        return self.classes_[(self.decision_function(X) > 0).astype(int)]


def exact_additive_attributions(X, y, X_test, y_test, scale=0.05):
    """Row i's exact effect on test row t's margin (= minus its effect on the loss's
    direction): the margin is ``± logit`` and the logit a sum over the rows."""
    s = np.where(y == 1, 1.0, -1.0)
    sign_t = np.where(y_test == 1, 1.0, -1.0)
    return sign_t[:, None] * scale * (X_test @ X.T) * s[None, :]


@pytest.fixture(scope="module")
def additive_data():
    X, y = make_classification(60, 4, n_informative=3, n_redundant=0, random_state=0)
    X /= np.abs(X).max()
    return X[:40], y[:40], X[40:], y[40:]


@pytest.mark.parametrize("target", ["loss", "margin"])
def test_exact_additive_model_scores_one(additive_data, target):
    X, y, Xt, yt = additive_data
    A = exact_additive_attributions(X, y, Xt, yt)
    res = linear_datamodeling_score(
        A, AdditiveClassifier(), X, y, Xt, yt, n_subsets=20, target=target,
        random_state=0, return_details=True,
    )  # fmt: skip
    assert res.score == pytest.approx(1.0, abs=1e-12)
    np.testing.assert_allclose(res.per_test, 1.0, atol=1e-12)
    neg = linear_datamodeling_score(
        -A, AdditiveClassifier(), X, y, Xt, yt, n_subsets=20, target=target, random_state=0
    )
    assert neg == pytest.approx(-1.0, abs=1e-12)
    if target == "margin":
        # The margin itself is the attributions' sum (no intercept here): exactly.
        np.testing.assert_allclose(res.actual, res.predicted, atol=1e-9)


def test_random_attributions_score_about_zero(additive_data):
    X, y, Xt, yt = additive_data
    rng = np.random.default_rng(0)
    scores = []
    for k in range(3):
        A = rng.normal(size=(len(Xt), len(X)))
        clf = AdditiveClassifier()
        scores.append(linear_datamodeling_score(A, clf, X, y, Xt, yt, n_subsets=30, random_state=k))
    # Mean of 20 correlations over 30 subsets each: standard error ~ 0.04.
    assert abs(np.mean(scores)) < 0.1


@pytest.fixture(scope="module")
def ridge_data():
    X, y = make_regression(60, 3, noise=10.0, random_state=0)
    return X[:40], y[:40], X[40:], y[40:]


def test_ridge_influence_nearly_linear_for_small_removals(ridge_data):
    """Ridge: removing 5 % of the rows moves the predictions almost linearly in the removed
    rows, so exact leave-one-out influence scores close to 1; random ~0; negated ~−1."""
    X, y, Xt, yt = ridge_data
    ridge = Ridge(alpha=1.0)
    A = LeaveOneOutScorer(ridge).fit(X, y).influence(Xt, yt)
    kw = {"alpha": 0.95, "n_subsets": 40, "random_state": 0}
    lds = linear_datamodeling_score(A, ridge, X, y, Xt, yt, **kw)
    assert lds > 0.97
    assert linear_datamodeling_score(-A, ridge, X, y, Xt, yt, **kw) == pytest.approx(-lds)
    rand = np.random.default_rng(1).normal(size=A.shape)
    assert abs(linear_datamodeling_score(rand, ridge, X, y, Xt, yt, **kw)) < 0.15
    # Half the rows removed: further from linear, still clearly informative.
    half = linear_datamodeling_score(A, ridge, X, y, Xt, yt, n_subsets=40, random_state=0)
    assert 0.6 < half < lds


def test_scorer_input_matches_matrix(ridge_data):
    X, y, Xt, yt = ridge_data
    ridge = Ridge(alpha=1.0)
    scorer = InfluenceScorer(ridge)
    A = InfluenceScorer(ridge).fit(X, y).influence(Xt, yt)
    kw = {"n_subsets": 10, "random_state": 3}
    expected = linear_datamodeling_score(A, ridge, X, y, Xt, yt, **kw)
    assert linear_datamodeling_score(scorer, ridge, X, y, Xt, yt, **kw) == expected
    assert not hasattr(scorer, "adapter_")  # the unfitted scorer was cloned
    scorer.fit(X, y)
    assert linear_datamodeling_score(scorer, ridge, X, y, Xt, yt, **kw) == expected


def test_logistic_margin_and_loss_agree():
    """Both targets are monotone in p_y (here 3 classes), so the two rank correlations
    agree; influence of a logistic model is informative, more than the bare gradient
    product (its identity-curvature version)."""
    X, y = make_classification(90, 5, n_informative=4, n_redundant=0, n_classes=3, random_state=0)
    Xtr, ytr, Xt, yt = X[:70], y[:70], X[70:], y[70:]
    clf = LogisticRegression(C=1.0)
    kw = {"alpha": 0.9, "n_subsets": 30, "random_state": 0}
    attributions = {
        "influence": InfluenceScorer(clf),
        "identity": InfluenceScorer(clf, method="identity").fit(Xtr, ytr).influence(Xt, yt),
    }
    loss = linear_datamodeling_score(attributions, clf, Xtr, ytr, Xt, yt, target="loss", **kw)
    margin = linear_datamodeling_score(attributions, clf, Xtr, ytr, Xt, yt, target="margin", **kw)
    assert loss.keys() == margin.keys() == attributions.keys()
    for name in attributions:
        assert loss[name] == pytest.approx(margin[name], abs=1e-9)
    assert loss["influence"] > 0.9
    assert loss["influence"] > loss["identity"]
    alone = linear_datamodeling_score(attributions["identity"], clf, Xtr, ytr, Xt, yt, **kw)
    assert alone == loss["identity"]  # the same subsets, one retraining for both


def test_details_deterministic_and_parallel(ridge_data):
    X, y, Xt, yt = ridge_data
    A = np.random.default_rng(0).normal(size=(len(Xt), len(X)))
    kw = {"alpha": 0.3, "n_subsets": 8, "random_state": 5, "return_details": True}
    a = linear_datamodeling_score(A, Ridge(), X, y, Xt, yt, **kw)
    with parallel_config(backend="threading"):
        b = linear_datamodeling_score(A, Ridge(), X, y, Xt, yt, n_jobs=2, **kw)
    assert a.in_subset.shape == (8, len(X)) and a.actual.shape == (8, len(Xt))
    np.testing.assert_array_equal(a.in_subset.sum(axis=1), round(0.3 * len(X)))
    np.testing.assert_array_equal(a.in_subset, b.in_subset)
    np.testing.assert_allclose(a.actual, b.actual)
    np.testing.assert_allclose(a.predicted, -(a.in_subset @ A.T))
    assert a.score == b.score and a.per_test.shape == (len(Xt),)
    assert a.target == "loss" and a.alpha == 0.3


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"alpha": 0.0}, "alpha must be a float in"),
        ({"alpha": 1.0}, "alpha must be a float in"),
        ({"alpha": 0.001}, "keeps at least one row"),
        ({"n_subsets": 2}, "n_subsets must be an integer >= 3"),
        ({"target": "accuracy"}, "target must be one of"),
        ({"target": "margin"}, "needs a classifier"),
    ],
)
def test_validation(ridge_data, kwargs, match):
    X, y, Xt, yt = ridge_data
    A = np.zeros((len(Xt), len(X)))
    with pytest.raises(ValueError, match=match):
        linear_datamodeling_score(A, Ridge(), X, y, Xt, yt, **kwargs)


def test_validation_of_attributions(ridge_data):
    X, y, Xt, yt = ridge_data
    with pytest.raises(ValueError, match=r"shape \(n_test, n_train\) = \(20, 40\)"):
        linear_datamodeling_score(np.zeros((40, 20)), Ridge(), X, y, Xt, yt)
    A = np.zeros((len(Xt), len(X)))
    A[0, 0] = np.nan
    with pytest.raises(ValueError, match="1 NaN or infinite"):
        linear_datamodeling_score(A, Ridge(), X, y, Xt, yt)
    with pytest.raises(ValueError, match=r"attributions\['bad'\] must have shape"):
        linear_datamodeling_score({"ok": np.zeros_like(A), "bad": A[:, :5]}, Ridge(), X, y, Xt, yt)
    with pytest.raises(ValueError, match="empty dict"):
        linear_datamodeling_score({}, Ridge(), X, y, Xt, yt)
    with pytest.raises(ValueError, match="one label per row"):
        linear_datamodeling_score(A, Ridge(), X, y[:-1], Xt, yt)


def test_constant_predictions_warn(ridge_data):
    X, y, Xt, yt = ridge_data
    A = np.zeros((len(Xt), len(X)))
    A[1:] = np.random.default_rng(0).normal(size=(len(Xt) - 1, len(X)))
    with pytest.warns(UserWarning, match="1 of 20 test rows"):
        res = linear_datamodeling_score(
            A, Ridge(), X, y, Xt, yt, n_subsets=5, random_state=0, return_details=True
        )
    assert np.isnan(res.per_test[0]) and np.isfinite(res.score)


def test_skorch_subset_models_are_seeded():
    """A skorch net has no ``random_state``: the engine seeds torch for each subset model,
    so two calls agree, and the caller's torch generator is left as it was."""
    torch = pytest.importorskip("torch")
    from tests._skorch_nets import data_sized_dropout_net

    X, y = make_classification(40, 4, random_state=0)
    X = X.astype(np.float32)
    net = data_sized_dropout_net(max_epochs=3, batch_size=16)
    A = np.random.default_rng(0).normal(size=(10, 30))
    kw = {"n_subsets": 3, "random_state": 0, "return_details": True}
    torch.manual_seed(123)
    state = torch.random.get_rng_state()
    a = linear_datamodeling_score(A, net, X[:30], y[:30], X[30:], y[30:], **kw)
    assert torch.equal(torch.random.get_rng_state(), state)
    b = linear_datamodeling_score(A, net, X[:30], y[:30], X[30:], y[30:], **kw)
    np.testing.assert_array_equal(a.actual, b.actual)
    assert not np.allclose(a.actual[0], a.actual[1])  # independent runs
