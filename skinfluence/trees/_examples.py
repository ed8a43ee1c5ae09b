"""Small fitted boosted models for the common adapter tests (``AdapterExample``)."""

import numpy as np
from sklearn.datasets import make_classification, make_regression

from ..models._registry import AdapterExample, log_loss_per_sample, squared_error_per_sample


def tree_example(
    model, task="binary", *, weighted=False, n=120, seed=0, reference_loss=None, **extra
):
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
        reference_loss=reference_loss or reference,
        exact_optimum=False,
        **extra,
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
            # float32 margins: the losses agree to ~3e-7 (relative) and 1.3e-7 (absolute)
            return tree_example(
                model,
                task,
                weighted=weighted,
                reference_loss=margin_loss_per_sample,
                loss_tolerance=(1e-6, 1e-6),
            )

        specs = [
            ("XGBClassifier", "binary", True),
            ("XGBClassifier", "multiclass", False),
            ("XGBRegressor", "regression", True),
        ]
    elif name in ("lightgbm.Booster", "xgboost.Booster"):
        return [lambda: booster_example(name.split(".")[0])]
    else:
        return []
    return [lambda spec=spec: make(*spec) for spec in specs]


def booster_example(library, n=120, seed=0):
    """A binary ``lightgbm.Booster`` / ``xgboost.Booster`` from the libraries' train()."""
    X, y = make_classification(n, 5, n_informative=3, n_clusters_per_class=1, random_state=seed)
    if library == "lightgbm":
        import lightgbm

        params = {"objective": "binary", "verbose": -1, "num_leaves": 6, "min_data_in_leaf": 5}
        booster = lightgbm.train(params, lightgbm.Dataset(X, y), num_boost_round=8)

        def raw(model, X):
            return model.predict(X, raw_score=True)

        tolerance = (1e-7, 1e-10)
    else:
        import xgboost

        params = {"objective": "binary:logistic", "max_depth": 2, "nthread": 1}
        booster = xgboost.train(params, xgboost.DMatrix(X, y), num_boost_round=8)

        def raw(model, X):
            return model.predict(xgboost.DMatrix(X), output_margin=True)

        tolerance = (1e-6, 1e-6)  # float32 margins

    def reference(model, X, y):
        F = np.asarray(raw(model, X), dtype=np.float64)
        return np.logaddexp(0.0, F) - np.asarray(y) * F

    return AdapterExample(
        booster,
        X,
        y,
        penalty=lambda theta: 0.0,
        invalid_y=np.array([7]),
        reference_loss=reference,
        exact_optimum=False,
        id=f"{library}.Booster-binary",
        loss_tolerance=tolerance,
    )


def margin_loss_per_sample(estimator, X, y):
    """The per-row loss from the model's own raw margin, in float64 (XGBoost's reference).

    XGBoost's ``predict_proba`` is float32 (its losses agree with float64 ones to ~4e-7
    only); its ``output_margin`` is the float32 sum of the leaves, turned into the loss
    here in float64.
    """
    from scipy.special import log_softmax

    raw = np.asarray(estimator.predict(X, output_margin=True), dtype=np.float64)
    if not hasattr(estimator, "classes_"):
        return (np.asarray(y, dtype=np.float64) - raw) ** 2
    idx = np.searchsorted(estimator.classes_, y)
    if raw.ndim == 1:
        return np.logaddexp(0.0, raw) - idx * raw
    return -log_softmax(raw, axis=1)[np.arange(len(idx)), idx]
