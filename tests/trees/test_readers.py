"""The readers reproduce the models: every leaf value and raw score, to 1e-8."""

import pickle

import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import GradientBoostingClassifier, HistGradientBoostingRegressor
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skinfluence.trees import check_ensemble, is_tree_ensemble, read_ensemble, refit_leaf_values

from ._cases import TASKS, boosted_model, sample_weight, task_data


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("task", TASKS)
@pytest.mark.parametrize(
    ("kind", "params"),
    [
        ("hgb", {}),
        ("hgb", {"early_stopping": True, "max_iter": 60, "n_iter_no_change": 3}),
        ("hgb", {"l2_regularization": 2.0}),
        ("gb", {}),
        ("gb", {"n_estimators": 60, "n_iter_no_change": 3}),
    ],
)
def test_reader_reproduces_leaves_and_raw_scores(kind, params, task, weighted):
    X, y = task_data(task)
    sw = sample_weight(len(y)) if weighted else None
    model = boosted_model(kind, task, **params).fit(X, y, sample_weight=sw)
    ensemble = read_ensemble(model, X, y, sw)
    # The reader already checked at 1e-8; the check is recomputed here so the test fails on
    # a reader that skips it. Recomputed leaves and raw scores agree to rounding.
    errors = check_ensemble(ensemble, tolerance=1e-8)
    assert max(errors.values()) < 1e-8
    assert ensemble.train_leaves.shape == (len(y), ensemble.n_iter, ensemble.n_outputs)
    # The leaf ids of new rows give the model's own raw scores.
    raw = ensemble.raw_predict(ensemble.apply(X[:50]))
    np.testing.assert_allclose(raw, ensemble.raw_train[:50], rtol=1e-10, atol=1e-10)
    if "n_iter_no_change" in params:
        # early stopping held rows out: they were given weight 0, and the check passed.
        assert (ensemble.train_weight == 0).sum() > 0


def test_refit_at_training_weights_is_the_model():
    X, y = task_data("multiclass")
    model = boosted_model("hgb", "multiclass").fit(X, y)
    ensemble = read_ensemble(model, X, y)
    values, _, raw = refit_leaf_values(ensemble, ensemble.train_weight)
    # float64 gradients instead of the library's float32: agreement to float32 rounding.
    np.testing.assert_allclose(values[0], ensemble.leaf_values, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(raw[0], ensemble.raw_train, rtol=1e-5, atol=1e-6)


def test_wrong_weights_are_caught():
    # Reading with other weights than the fit's must fail the check (it is not vacuous).
    X, y = task_data("binary")
    model = boosted_model("gb", "binary").fit(X, y)
    with pytest.raises(TypeError, match="not reproduced"):
        read_ensemble(model, X, y, sample_weight(len(y)))


@pytest.mark.parametrize(
    ("model", "match"),
    [
        (GradientBoostingClassifier(n_estimators=5, subsample=0.5), "subsample"),
        (HistGradientBoostingRegressor(max_iter=5, loss="absolute_error"), "LeaveOneOutScorer"),
        (LogisticRegression(), "not a supported boosted tree model"),
    ],
)
def test_unsupported_models_are_refused(model, match):
    X, y = task_data("binary")
    model.fit(X, y)
    with pytest.raises(TypeError, match=match):
        read_ensemble(model, X, y)


def test_pipeline_pandas_and_pickle():
    X, y = task_data("binary")
    frame = pd.DataFrame(X, columns=[f"f{j}" for j in range(X.shape[1])])
    model = make_pipeline(StandardScaler(), boosted_model("hgb", "binary")).fit(frame, y)
    assert is_tree_ensemble(model)
    ensemble = read_ensemble(model, frame, y)
    restored = pickle.loads(pickle.dumps(ensemble))
    np.testing.assert_array_equal(restored.apply(frame.iloc[:20]), ensemble.train_leaves[:20])


def test_hist_gradient_boosting_root_only_trees_hold_zero():
    # 30 rows with min_samples_leaf=20: no tree can split, and HistGradientBoosting
    # finalises such a root with value 0 rather than its Newton step (caught by the
    # estimator checks on tiny data).
    X, y = task_data("binary", n=30)
    model = boosted_model("hgb", "binary", max_iter=3).fit(X, y)
    ensemble = read_ensemble(model, X, y)
    assert len(ensemble.leaf_values) == 3
    np.testing.assert_array_equal(ensemble.leaf_values, 0.0)


def test_hist_gradient_boosting_with_its_own_validation_set():
    # X_val given to fit: early stopping without splitting X, every row fitted on.
    X, y = task_data("binary", n=400)
    model = boosted_model("hgb", "binary", early_stopping=True, max_iter=30)
    model.fit(X[:300], y[:300], X_val=X[300:], y_val=y[300:])
    ensemble = read_ensemble(model, X[:300], y[:300])
    np.testing.assert_array_equal(ensemble.train_weight, 1.0)
