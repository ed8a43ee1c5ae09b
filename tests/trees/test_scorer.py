"""InfluenceScorer on boosted trees: the same public API, dispatching on the tree capability."""

import pickle

import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import GradientBoostingRegressor, HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skinfluence import InfluenceScorer
from skinfluence.models import adapter_for, supported_families
from skinfluence.trees import boostin_self, leaf_refit, read_ensemble

from ._cases import boosted_model, sample_weight, task_data


def _data(task="binary", n=200):
    X, y = task_data(task, n=n + 20)
    return X[:n], y[:n], X[n:], y[n:]


def test_tree_models_are_a_registered_family():
    assert "HistGradientBoostingClassifier" in supported_families()
    X, y, _, _ = _data()
    adapter = adapter_for(boosted_model("hgb", "binary").fit(X, y))
    assert adapter.n_params == adapter.ensemble.leaf_values.size


@pytest.mark.parametrize("method", ["auto", "leafinfluence", "boostin", "leafrefit"])
def test_methods_through_the_scorer(method):
    X, y, X_test, y_test = _data("multiclass")
    sw = sample_weight(len(y))
    model = boosted_model("gb", "multiclass", min_samples_leaf=5)
    scorer = InfluenceScorer(model, method=method).fit(X, y, sample_weight=sw)
    assert scorer.method_ == ("leafinfluence" if method == "auto" else method)
    infl = scorer.influence(X_test, y_test)
    assert infl.shape == (len(y_test), len(y))
    np.testing.assert_allclose(scorer.influence(X_test, y_test, aggregate="sum"), infl.sum(0))
    # the weights reached the model and the methods: the refit ground truth on the
    # ensemble read with the same weights
    truth = leaf_refit(read_ensemble(scorer.estimator_, X, y, sw), X_test, y_test)
    if method == "leafrefit":
        np.testing.assert_allclose(infl, truth)
    else:
        assert np.corrcoef(infl.ravel(), truth.ravel())[0, 1] > 0.8
    explained = scorer.explain(X_test[:2], y_test[:2], k=3)
    np.testing.assert_array_equal(explained.helpful_indices[:, 0], infl[:2].argmax(axis=1))


def test_scores_are_self_influence_high_for_mislabelled_rows():
    X, y, _, _ = _data("binary", n=300)
    y = y.copy()
    flipped = np.arange(0, 300, 15)
    y[flipped] = 1 - y[flipped]
    scorer = InfluenceScorer(boosted_model("hgb", "binary")).fit(X, y)
    ranks = np.argsort(np.argsort(-scorer.scores_))
    # mislabelled rows rank in the top third on average (20 of 300 flipped)
    assert ranks[flipped].mean() < 100
    np.testing.assert_allclose(
        InfluenceScorer(boosted_model("hgb", "binary"), method="boostin").fit(X, y).scores_,
        boostin_self(read_ensemble(scorer.estimator_, X, y)),
    )


def test_pipeline_pandas_pickle_and_new_rows():
    X, y, X_test, y_test = _data()
    frame = pd.DataFrame(X, columns=[f"f{j}" for j in range(X.shape[1])])
    test_frame = pd.DataFrame(X_test, columns=frame.columns)
    model = make_pipeline(StandardScaler(), HistGradientBoostingClassifier(max_iter=10))
    scorer = InfluenceScorer(model).fit(frame, y)
    restored = pickle.loads(pickle.dumps(scorer))
    np.testing.assert_allclose(
        restored.influence(test_frame, y_test), scorer.influence(test_frame, y_test)
    )
    assert scorer.score_samples(test_frame, y_test).shape == (len(y_test),)
    assert np.isfinite(scorer.transform(test_frame)).all()


@pytest.mark.parametrize(
    ("params", "match"),
    [
        ({"method": "direct"}, "inverse-Hessian solver"),
        ({"newton_step": True}, "newton_step"),
        ({"damping": 1.0}, "damping"),
        ({"solver_params": {"rtol": 1e-3}}, "solver_params"),
    ],
)
def test_linear_options_are_refused_for_trees(params, match):
    X, y, _, _ = _data()
    with pytest.raises(ValueError, match=match):
        InfluenceScorer(HistGradientBoostingClassifier(max_iter=3), **params).fit(X, y)


def test_tree_methods_are_refused_for_other_models():
    X, y, _, _ = _data()
    with pytest.raises(ValueError, match="boosted tree ensembles"):
        InfluenceScorer(LogisticRegression(), method="leafinfluence").fit(X, y)


def test_unsupported_tree_options_say_what_to_do():
    X, y = task_data("regression", n=100)
    model = GradientBoostingRegressor(n_estimators=3, loss="huber")
    with pytest.raises(TypeError, match="LeaveOneOutScorer"):
        InfluenceScorer(model).fit(X, y)
