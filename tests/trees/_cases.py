"""Small fitted boosted models of every supported kind, for the tree tests."""

import numpy as np
from sklearn.datasets import make_classification, make_regression
from sklearn.ensemble import (
    GradientBoostingClassifier,
    GradientBoostingRegressor,
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
)

TASKS = ("binary", "multiclass", "regression")


def task_data(task, n=300, seed=0):
    """(X, y) of ``n`` rows: 2 or 3 classes (flip_y adds label noise), or a noisy regression."""
    if task == "regression":
        X, y = make_regression(n, 6, n_informative=4, noise=20.0, random_state=seed)
        return X, y / y.std()
    n_classes = 2 if task == "binary" else 3
    return make_classification(
        n, 6, n_informative=4, n_classes=n_classes, flip_y=0.05, random_state=seed
    )


def boosted_model(kind, task, **params):
    """An unfitted model: kind "hgb" or "gb", for the task's estimator type."""
    regression = task == "regression"
    if kind == "hgb":
        cls = HistGradientBoostingRegressor if regression else HistGradientBoostingClassifier
        defaults = {"max_iter": 20, "max_leaf_nodes": 8, "random_state": 0}
    else:
        cls = GradientBoostingRegressor if regression else GradientBoostingClassifier
        defaults = {"n_estimators": 20, "max_depth": 3, "random_state": 0}
    return cls(**{**defaults, **params})


def sample_weight(n, seed=0):
    return np.random.default_rng(seed).uniform(0.5, 2.0, n)
