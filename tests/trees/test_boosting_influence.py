"""LeafInfluence on LightGBM and XGBoost models against the fixed-structure leave-one-out.

The ground truth is the fixed-structure refit (every leaf recomputed without the row, the
splits held), as for the scikit-learn models; skipped where the libraries are absent.
"""

import numpy as np
import pytest

from skinfluence.trees import (
    boostin,
    check_ensemble,
    leaf_influence,
    leaf_influence_self,
    leaf_refit,
    read_ensemble,
    refit_leaf_values,
)
from skinfluence.trees._ensemble import per_row_loss
from skinfluence.trees._methods import query_rows

from ._cases import sample_weight, task_data

N_TRAIN = 350


def library_model(library, task):
    """The library's defaults (LightGBM: 31 leaves, 20 rows a leaf, lr 0.1), 15 iterations."""
    if library == "lightgbm":
        lgb = pytest.importorskip("lightgbm")
        cls = lgb.LGBMRegressor if task == "regression" else lgb.LGBMClassifier
        return cls(n_estimators=15, verbose=-1)
    xgb = pytest.importorskip("xgboost")
    cls = xgb.XGBRegressor if task == "regression" else xgb.XGBClassifier
    return cls(n_estimators=15, learning_rate=0.1, max_depth=3, n_jobs=1)


def mean_row_pearson(A, B):
    return np.mean([np.corrcoef(a, b)[0, 1] for a, b in zip(A, B, strict=True)])


@pytest.mark.parametrize("task", ["binary", "multiclass", "regression"])
@pytest.mark.parametrize("library", ["lightgbm", "xgboost"])
def test_leaf_influence_matches_fixed_structure_loo(library, task):
    X, y = task_data(task, n=N_TRAIN + 30)
    sw = sample_weight(N_TRAIN)
    X_train, y_train, X_test, y_test = X[:N_TRAIN], y[:N_TRAIN], X[N_TRAIN:], y[N_TRAIN:]
    model = library_model(library, task).fit(X_train, y_train, sample_weight=sw)
    ensemble = read_ensemble(model, X_train, y_train, sw)
    # Every test row, also regression rows the model fits almost exactly (a vanishing
    # first-order term: per-row Pearson of the linear influence down to -0.7 at
    # |residual| < 0.03): the default evaluates the test loss at the moved raw scores.
    influence = leaf_influence(ensemble, X_test, y_test)
    loo = leaf_refit(ensemble, X_test, y_test)
    # The criterion: Pearson >= 0.99 per test row, averaged.
    assert mean_row_pearson(influence, loo) >= 0.99
    # BoostIn drops the propagation through later trees: a weaker but positive agreement.
    final = boostin(ensemble, X_test, y_test, checkpoints=False, leaf_derivative="exact")
    assert mean_row_pearson(final, loo) > 0.8
    # Self-influence on the model's own rows equals the diagonal of the influence matrix.
    # (forward and reverse mode, without the exact refits of the largest rows; measured to
    # agree to 1e-7 relative on the float32-read models)
    own = leaf_influence(ensemble, X_train[:5], y_train[:5], refit_rows=0)
    own = own[np.arange(5), np.arange(5)]
    self_influence = leaf_influence_self(ensemble, refit_rows=0)[:5]
    np.testing.assert_allclose(self_influence, own, rtol=1e-6, atol=1e-12)


@pytest.mark.parametrize("library", ["lightgbm", "xgboost"])
def test_influence_scorer_end_to_end(library):
    # The public API on an unfitted LightGBM / XGBoost classifier: fit, scores_, influence and
    # pickling; the numbers are LeafInfluence's, close to the fixed-structure LOO.
    import pickle

    from skinfluence.scorers import InfluenceScorer

    X, y = task_data("binary", n=N_TRAIN + 30)
    X_train, y_train, X_test, y_test = X[:N_TRAIN], y[:N_TRAIN], X[N_TRAIN:], y[N_TRAIN:]
    scorer = InfluenceScorer(library_model(library, "binary")).fit(X_train, y_train)
    ensemble = read_ensemble(scorer.estimator_, X_train, y_train)
    influence = scorer.influence(X_test, y_test)
    assert influence.shape == (len(y_test), N_TRAIN)
    np.testing.assert_allclose(influence, leaf_influence(ensemble, X_test, y_test), atol=1e-12)
    np.testing.assert_allclose(scorer.scores_, leaf_influence_self(ensemble), atol=1e-12)
    assert mean_row_pearson(influence, leaf_refit(ensemble, X_test, y_test)) >= 0.99
    clone = pickle.loads(pickle.dumps(scorer))
    np.testing.assert_allclose(clone.influence(X_test[:3], y_test[:3]), influence[:3])


@pytest.mark.parametrize("model_name", ["hgb", "lightgbm", "xgboost"])
def test_audit_self_influence_of_boosted_models(model_name):
    # The audit's --model hgb/lightgbm/xgboost gets the tree self-influence as its model
    # family's score: LeafInfluence of every row on its own loss.
    if model_name != "hgb":
        pytest.importorskip(model_name)
    from skinfluence._audit._scores import SCORES, AuditContext, make_model

    X, y = task_data("binary", n=200)
    ctx = AuditContext(model_name, make_model(model_name), X, y, n_jobs=1)
    assert SCORES["self-influence"].unavailable(ctx) is None
    scores = SCORES["self-influence"].make(ctx).fit(X, y).scores_
    ensemble = read_ensemble(ctx.fitted_model, X, y)
    np.testing.assert_allclose(scores, leaf_influence_self(ensemble), rtol=1e-10, atol=1e-14)


@pytest.mark.parametrize("model_name", ["lightgbm", "xgboost"])
def test_audit_of_boosted_models_takes_string_labels(model_name):
    # XGBoost's classifier takes labels 0..K − 1 only: the audit's model encodes them, and
    # suggests labels in the user's own; its self-influence is that of the fitted model.
    pytest.importorskip(model_name)
    from skinfluence import audit
    from skinfluence._audit._scores import make_model

    X, y = task_data("multiclass", n=150)
    names = np.array(["bird", "cat", "dog"])[y]
    result = audit(X, names, model=model_name, scorers=["self-influence", "loss"])
    assert set(result.suggested_label) <= set(names)
    model = make_model(model_name).fit(X, names)
    assert list(model.classes_) == ["bird", "cat", "dog"]
    np.testing.assert_array_equal(
        model.predict(X), model.classes_[model.predict_proba(X).argmax(1)]
    )
    ensemble = read_ensemble(model, X, names)
    coded = read_ensemble(make_model(model_name).fit(X, y), X, y)
    np.testing.assert_allclose(leaf_influence_self(ensemble), leaf_influence_self(coded))


def test_lightgbm_trees_it_could_not_split_are_constants():
    # LightGBM leaves a tree it cannot split (here: one class's trees once its rows are fit,
    # min_child_samples=5 on iris) as one leaf of value 0, no Newton step: read as a
    # constant with no influence, the model is reproduced (read_ensemble's check) and
    # LeafInfluence is the derivative of the fixed-structure refit, by central differences.
    lgb = pytest.importorskip("lightgbm")
    from sklearn.datasets import load_iris

    X, y = load_iris(return_X_y=True)
    train = np.arange(len(y)) % 5 != 0
    model = lgb.LGBMClassifier(n_estimators=100, min_child_samples=5, verbose=-1)
    model.fit(X[train], y[train])
    ensemble = read_ensemble(model, X[train], y[train])
    assert max(check_ensemble(ensemble).values()) <= 1e-8
    one_leaf = np.flatnonzero(np.diff(ensemble.leaf_offsets) == 1)
    assert len(one_leaf) > 0
    np.testing.assert_array_equal(ensemble.leaf_values[ensemble.leaf_offsets[one_leaf]], 0.0)
    X_test, y_test = X[~train], y[~train]
    influence = leaf_influence(ensemble, X_test, y_test, linear=True)
    rows, eps = np.arange(0, train.sum(), 11), 1e-6
    W = np.repeat(ensemble.train_weight[None], 2 * len(rows), axis=0)
    W[np.arange(len(rows)), rows] *= 1 - eps
    W[len(rows) + np.arange(len(rows)), rows] *= 1 + eps
    values, baseline, _ = refit_leaf_values(ensemble, W)
    leaves, Y, _ = query_rows(ensemble, X_test, y_test)
    loss = per_row_loss(ensemble.objective, baseline[:, None] + values[:, leaves].sum(2), Y[None])
    fd = (loss[: len(rows)] - loss[len(rows) :]).T / (2 * eps)
    scale = np.abs(influence[:, rows]).max()
    np.testing.assert_allclose(influence[:, rows], fd, atol=1e-5 * scale)


def test_saturated_lightgbm_model_is_tracked_through_the_exact_refits():
    # 100 LightGBM trees on breast-cancer (separable, lambda_l2 = 0): after ~50 trees every
    # training row is saturated (leaf Hessian sums ~0.003) and the first-order propagation
    # through later trees falls to 0.952 (measured); the default refits the 64 rows that
    # move their own leaves most exactly, measured 0.9999 (benchmarks/README.md).
    lgb = pytest.importorskip("lightgbm")
    from sklearn.datasets import load_breast_cancer
    from sklearn.model_selection import train_test_split

    from skinfluence.trees import leaf_refit_self
    from skinfluence.trees._methods import Trajectory

    X, y = load_breast_cancer(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=100, stratify=y, random_state=0
    )
    model = lgb.LGBMClassifier(n_estimators=100, verbose=-1, random_state=0, n_jobs=1)
    ensemble = read_ensemble(model.fit(X_train, y_train), X_train, y_train)
    exact = leaf_refit(ensemble, X_test, y_test)
    traj = Trajectory(ensemble)
    first_order = leaf_influence(ensemble, X_test, y_test, refit_rows=0, trajectory=traj)
    default = leaf_influence(ensemble, X_test, y_test, trajectory=traj)
    assert mean_row_pearson(first_order, exact) < 0.97
    assert mean_row_pearson(default, exact) >= 0.999
    # the refitted columns are the refit itself; the rest is the first-order propagation
    rows = traj.exact_refits(64)["rows"]
    rest = np.setdiff1d(np.arange(len(y_train)), rows)
    scale = np.abs(exact).max()
    np.testing.assert_allclose(default[:, rows], exact[:, rows], atol=1e-12 * scale)
    np.testing.assert_array_equal(default[:, rest], first_order[:, rest])
    # a test row's numbers do not depend on the other test rows of the call
    np.testing.assert_array_equal(leaf_influence(ensemble, X_test[5:8], y_test[5:8]), default[5:8])
    total = leaf_influence(ensemble, X_test, y_test, aggregate=True, trajectory=traj)
    np.testing.assert_allclose(total, default.sum(axis=0), atol=1e-12 * np.abs(total).max())
    # self-influence: the same refits (measured 0.972 without, 0.99999999 with)
    self_exact = leaf_refit_self(ensemble)
    self_default = leaf_influence_self(ensemble, trajectory=traj)
    np.testing.assert_allclose(self_default[rows], self_exact[rows], atol=1e-12 * scale)
    assert np.corrcoef(leaf_influence_self(ensemble, refit_rows=0), self_exact)[0, 1] < 0.98
    assert np.corrcoef(self_default, self_exact)[0, 1] >= 0.9999
