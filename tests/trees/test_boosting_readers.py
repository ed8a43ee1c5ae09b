"""The LightGBM and XGBoost readers reproduce the models, and refuse what they cannot model.

Skipped where the libraries are not installed (``pip install skinfluence[boosting]``).
"""

import pickle
import subprocess
import sys

import numpy as np
import pytest

from skinfluence.trees import check_ensemble, is_tree_ensemble, read_ensemble

from ._cases import TASKS, sample_weight, task_data


def lightgbm_model(task, **params):
    lgb = pytest.importorskip("lightgbm")
    cls = lgb.LGBMRegressor if task == "regression" else lgb.LGBMClassifier
    defaults = {"n_estimators": 20, "num_leaves": 8, "min_child_samples": 5, "verbose": -1}
    return cls(**{**defaults, **params})


def xgboost_model(task, **params):
    xgb = pytest.importorskip("xgboost")
    cls = xgb.XGBRegressor if task == "regression" else xgb.XGBClassifier
    defaults = {"n_estimators": 20, "max_depth": 3, "n_jobs": 1}
    return cls(**{**defaults, **params})


MODELS = {"lightgbm": lightgbm_model, "xgboost": xgboost_model}
# LightGBM stores leaves in float64 and is reproduced to rounding (the check's 1e-8, measured
# below 1e-14). XGBoost computes
# gradients, leaves, base score and margins in float32: 1e-5 (measured 2e-8 to 5e-7, up to
# 1e-6 of the largest leaf when max_delta_step keeps every leaf small).
TOLERANCE = {"lightgbm": 1e-8, "xgboost": 1e-5}


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("task", TASKS)
@pytest.mark.parametrize(
    ("library", "params"),
    [
        ("lightgbm", {}),
        ("lightgbm", {"reg_lambda": 2.0, "reg_alpha": 0.5, "learning_rate": 0.3}),
        ("lightgbm", {"max_delta_step": 0.05, "colsample_bytree": 0.5}),
        ("xgboost", {}),
        ("xgboost", {"reg_lambda": 2.0, "reg_alpha": 0.5, "learning_rate": 0.1}),
        ("xgboost", {"max_delta_step": 0.05, "colsample_bytree": 0.5}),
    ],
)
def test_reader_reproduces_leaves_and_raw_scores(library, params, task, weighted):
    X, y = task_data(task)
    sw = sample_weight(len(y)) if weighted else None
    model = MODELS[library](task, **params).fit(X, y, sample_weight=sw)
    ensemble = read_ensemble(model, X, y, sw)
    tolerance = TOLERANCE[library]
    # Recomputed here (the reader checked already) so that a reader skipping it fails.
    errors = check_ensemble(ensemble, tolerance=1.0)
    assert errors["leaf_values"] < tolerance
    assert errors["raw_train"] < tolerance
    K = 3 if task == "multiclass" else 1
    assert ensemble.train_leaves.shape == (len(y), 20, K)
    assert ensemble.baseline_is_fitted
    # The leaf ids of new rows give the model's own raw scores (LightGBM's reader asks the
    # library for those of 64 evenly spaced training rows, raw_train_rows).
    rows = ensemble.raw_train_rows
    rows = np.arange(len(y)) if rows is None else rows
    assert len(rows) == min(len(y), 64 if library == "lightgbm" else len(y))
    raw = ensemble.raw_predict(ensemble.apply(X[rows]))
    np.testing.assert_allclose(raw, ensemble.raw_train, rtol=tolerance, atol=tolerance)


def test_lightgbm_parameters_are_read_from_the_model():
    lgb = pytest.importorskip("lightgbm")
    X, y = task_data("multiclass")
    model = lightgbm_model("multiclass", reg_lambda=1.5, reg_alpha=0.25, learning_rate=0.2)
    ensemble = read_ensemble(model.fit(X, y), X, y)
    assert (ensemble.l2_regularization, ensemble.l1_regularization) == (1.5, 0.25)
    assert ensemble.learning_rate == 0.2
    assert ensemble.hessian_scale == 3 / 2  # K / (K - 1)
    # The initial score LightGBM folded into the first trees is the fitted baseline: the
    # log class frequencies (equal to the centred ones up to the softmax's shift).
    freq = np.bincount(y) / len(y)
    np.testing.assert_allclose(ensemble.baseline, np.log(freq), rtol=1e-12)
    # A Booster from lightgbm.train reads the same as the wrapper's.
    params = {"objective": "multiclass", "num_class": 3, "verbose": -1, "num_leaves": 8}
    params.update(min_data_in_leaf=5, lambda_l2=1.5, lambda_l1=0.25, learning_rate=0.2)
    booster = lgb.train(params, lgb.Dataset(X, y), num_boost_round=20)
    from_booster = read_ensemble(booster, X, y)
    np.testing.assert_allclose(from_booster.leaf_values, ensemble.leaf_values, atol=1e-12)


def test_lightgbm_learning_rate_beyond_the_six_digits_of_the_model_string():
    # LightGBM writes shrinkage and [learning_rate: ...] with 6 significant digits; with the
    # written 0.123457 the leaf check would be off by ~1e-6 and refuse the model. The
    # wrapper's learning_rate and a trained Booster's params (alias "eta") hold the exact rate.
    lgb = pytest.importorskip("lightgbm")
    X, y = task_data("binary")
    rate = 0.123456789
    model = lightgbm_model("binary", learning_rate=rate).fit(X, y)
    assert "shrinkage=0.123457\n" in model.booster_.model_to_string()
    assert read_ensemble(model, X, y).learning_rate == rate
    params = {"objective": "binary", "eta": rate, "verbose": -1, "num_leaves": 8}
    booster = lgb.train({**params, "min_data_in_leaf": 5}, lgb.Dataset(X, y), 20)
    assert read_ensemble(booster, X, y).learning_rate == rate
    # A Booster loaded from the text has only the 6 digits: refused, saying why.
    loaded = lgb.Booster(model_str=booster.model_to_string())
    with pytest.raises(TypeError, match="6 digits LightGBM writes"):
        read_ensemble(loaded, X, y)
    # A user's rate that is not the written one (another model's) is not taken.
    assert read_ensemble(lightgbm_model("binary").fit(X, y), X, y).learning_rate == 0.1


def test_xgboost_parameters_are_read_from_the_model():
    xgb = pytest.importorskip("xgboost")
    X, y = task_data("multiclass")
    model = xgboost_model("multiclass", reg_lambda=1.5, reg_alpha=0.25, learning_rate=0.2)
    ensemble = read_ensemble(model.fit(X, y), X, y)
    assert ensemble.l2_regularization == 1.5 and ensemble.l1_regularization == 0.25
    assert ensemble.learning_rate == float(np.float32(0.2))  # XGBoost's float32 eta
    assert ensemble.hessian_scale == 2.0
    booster = xgb.train(
        {
            "objective": "multi:softprob",
            "num_class": 3,
            "max_depth": 3,
            "eta": 0.2,
            "lambda": 1.5,
            "alpha": 0.25,
        },
        xgb.DMatrix(X, y),
        num_boost_round=20,
    )
    from_booster = read_ensemble(booster, X, y)
    assert from_booster.train_leaves.shape == ensemble.train_leaves.shape
    check_ensemble(from_booster)


def test_given_base_score_is_a_constant_baseline():
    X, y = task_data("binary")
    ensemble = read_ensemble(xgboost_model("binary", base_score=0.3).fit(X, y), X, y)
    assert not ensemble.baseline_is_fitted
    np.testing.assert_allclose(ensemble.baseline, np.log(0.3 / 0.7), rtol=1e-6)
    model = lightgbm_model("binary", boost_from_average=False).fit(X, y)
    ensemble = read_ensemble(model, X, y)
    assert not ensemble.baseline_is_fitted and ensemble.baseline[0] == 0.0


@pytest.mark.parametrize(
    ("library", "params", "match"),
    [
        ("lightgbm", {"subsample": 0.5, "subsample_freq": 1}, "row subsampling"),
        ("lightgbm", {"boosting_type": "dart"}, "boosting='dart'"),
        ("lightgbm", {"boosting_type": "goss"}, "goss"),
        ("lightgbm", {"linear_tree": True}, "linear_tree"),
        ("lightgbm", {"path_smooth": 1.0}, "path_smooth"),
        ("lightgbm", {"objective": "huber"}, "objective='huber'"),
        ("lightgbm", {"scale_pos_weight": 2.0}, "scale_pos_weight"),
        ("xgboost", {"subsample": 0.5}, "subsample=0.5"),
        ("xgboost", {"booster": "dart"}, "booster='dart'"),
        ("xgboost", {"num_parallel_tree": 2}, "num_parallel_tree=2"),
        ("xgboost", {"objective": "reg:absoluteerror"}, "reg:absoluteerror"),
        ("xgboost", {"scale_pos_weight": 2.0}, "scale_pos_weight"),
    ],
)
def test_unmodelled_options_are_refused(library, params, match):
    task = "binary" if "scale_pos_weight" in params else "regression"
    X, y = task_data(task)
    model = MODELS[library](task, n_estimators=3, **params).fit(X, y)
    with pytest.raises(TypeError, match=match) as info:
        read_ensemble(model, X, y)
    assert "LeaveOneOutScorer" in str(info.value)


@pytest.mark.parametrize("library", ["lightgbm", "xgboost"])
def test_binding_monotone_constraints_are_caught(library):
    # Constraints that clip leaf values change them away from the Newton step: the leaf
    # check must catch it (and say why), not produce wrong influence.
    X, y = task_data("regression")
    constraints = [1, -1, 1, -1, 1, -1]
    kwargs = (
        {"monotone_constraints": constraints, "monotone_constraints_method": "basic"}
        if library == "lightgbm"
        else {"monotone_constraints": tuple(constraints)}
    )
    model = MODELS[library]("regression", n_estimators=10, **kwargs).fit(X, y)
    with pytest.raises(TypeError, match="monotone"):
        read_ensemble(model, X, y)


@pytest.mark.parametrize("library", ["lightgbm", "xgboost"])
def test_wrong_weights_are_caught(library):
    X, y = task_data("binary")
    model = MODELS[library]("binary").fit(X, y, sample_weight=sample_weight(len(y)))
    with pytest.raises(TypeError, match="not reproduced"):
        read_ensemble(model, X, y)  # fitted with weights, read without


@pytest.mark.parametrize("library", ["lightgbm", "xgboost"])
def test_early_stopping_reads_the_best_iteration(library):
    X, y = task_data("binary", n=400)
    lib = pytest.importorskip(library)
    if library == "lightgbm":
        model = lightgbm_model("binary", n_estimators=200, learning_rate=0.3)
        model.fit(
            X[:300],
            y[:300],
            eval_set=[(X[300:], y[300:])],
            callbacks=[lib.early_stopping(3, verbose=False)],
        )
        best = model.best_iteration_
    else:
        model = xgboost_model(
            "binary", n_estimators=200, learning_rate=0.3, early_stopping_rounds=3
        )
        model.fit(X[:300], y[:300], eval_set=[(X[300:], y[300:])], verbose=False)
        best = model.best_iteration + 1
    ensemble = read_ensemble(model, X[:300], y[:300])
    assert ensemble.n_iter == best < 200
    proba = model.predict_proba(X[300:])[:, 1]
    raw = ensemble.raw_predict(ensemble.apply(X[300:]))[:, 0]
    np.testing.assert_allclose(1 / (1 + np.exp(-raw)), proba, rtol=1e-5)


@pytest.mark.parametrize("library", ["lightgbm", "xgboost"])
def test_ensemble_pickles_and_reads_without_data(library):
    X, y = task_data("multiclass")
    model = MODELS[library]("multiclass").fit(X, y)
    ensemble = read_ensemble(model, X, y)
    clone = pickle.loads(pickle.dumps(ensemble))
    np.testing.assert_array_equal(clone.apply(X[:20]), ensemble.apply(X[:20]))
    structure = read_ensemble(model)
    assert structure.train_leaves.shape[0] == 0
    np.testing.assert_array_equal(structure.apply(X[:20]), ensemble.apply(X[:20]))
    assert is_tree_ensemble(model)


def test_importing_skinfluence_imports_neither_library():
    code = (
        "import sys, skinfluence, skinfluence.trees; "
        "print(sorted({'lightgbm', 'xgboost'} & set(sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
