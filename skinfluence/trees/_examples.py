"""Small fitted boosted models for the common adapter tests (``AdapterExample``)."""

import numpy as np
from sklearn.datasets import make_classification, make_regression

from ..models._registry import AdapterExample, log_loss_per_sample, squared_error_per_sample


def tree_example(model, task="binary", *, weighted=False, n=120, seed=0):
    """Fit ``model`` on a small task ("binary", "multiclass", "regression"): an example.

    The adapter's objective is the data term alone (penalty 0) and boosting does not
    minimise it jointly, hence ``exact_optimum=False``.
    """
    if task == "regression":
        X, y = make_regression(n, 5, noise=5.0, random_state=seed)
        y = y / y.std()
        invalid_y = np.zeros((2, 2))
        reference = squared_error_per_sample
    else:
        n_classes = 2 if task == "binary" else 3
        X, y = make_classification(
            n, 5, n_informative=3, n_classes=n_classes, n_clusters_per_class=1, random_state=seed
        )
        invalid_y = np.array([7])
        reference = log_loss_per_sample
    sw = np.random.default_rng(seed).uniform(0.5, 2.0, n) if weighted else None
    model.fit(X, y, sample_weight=sw)
    return AdapterExample(
        model,
        X,
        y,
        penalty=lambda theta: 0.0,
        invalid_y=invalid_y,
        sample_weight=sw,
        reference_loss=reference,
        exact_optimum=False,
        id=f"{type(model).__name__}-{task}",
    )


def sklearn_tree_examples(cls_name):
    """The example factories of one scikit-learn boosted model class."""
    from sklearn import ensemble

    cls = getattr(ensemble, cls_name)
    hist = cls_name.startswith("Hist")
    small = {"max_iter": 8, "max_leaf_nodes": 6} if hist else {"n_estimators": 8, "max_depth": 2}
    tasks = ("regression",) if cls_name.endswith("Regressor") else ("binary", "multiclass")
    makers = []
    for i, task in enumerate(tasks):

        def make(task=task, weighted=i == 0):
            return tree_example(cls(random_state=0, **small), task, weighted=weighted)

        makers.append(make)
    return makers


def boosting_tree_examples(name):
    """The example factories of a LightGBM or XGBoost sklearn wrapper (none for boosters).

    Each factory imports its library when called (the common tests call it only where the
    family's ``requires`` are installed).
    """
    small = {"n_estimators": 8}
    if name == "LGBMModel":

        def make(cls_name, task, weighted):
            import lightgbm

            params = {"num_leaves": 6, "min_child_samples": 5, "verbose": -1}
            return tree_example(
                getattr(lightgbm, cls_name)(**small, **params), task, weighted=weighted
            )

        specs = [
            ("LGBMClassifier", "binary", True),
            ("LGBMClassifier", "multiclass", False),
            ("LGBMRegressor", "regression", True),
        ]
    elif name == "XGBModel":

        def make(cls_name, task, weighted):
            import xgboost

            model = getattr(xgboost, cls_name)(**small, max_depth=2, n_jobs=1)
            return tree_example(model, task, weighted=weighted)

        specs = [
            ("XGBClassifier", "binary", True),
            ("XGBClassifier", "multiclass", False),
            ("XGBRegressor", "regression", True),
        ]
    else:
        return []
    return [lambda spec=spec: make(*spec) for spec in specs]
