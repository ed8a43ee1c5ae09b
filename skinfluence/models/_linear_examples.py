"""Small fitted linear models for the common adapter tests (registered in ``_linear.py``).

Each factory fits a scikit-learn estimator on a few dozen synthetic rows to solver precision and
states its penalty as scikit-learn documents the objective (not as the adapter computes it).
"""

from dataclasses import replace

import numpy as np
from sklearn.datasets import make_classification, make_multilabel_classification, make_regression
from sklearn.linear_model import LogisticRegression, LogisticRegressionCV
from sklearn.preprocessing import LabelBinarizer

from ._registry import AdapterExample, log_loss_per_sample, squared_error_per_sample


def _l2_penalty(strength, n_features, n_outputs, intercept_strength=0.0):
    """``θ ↦ Σ_k strength_k/2 ‖W_k‖² (+ intercept_strength/2 ‖b‖²)`` in the (d, K) layout."""

    def penalty(theta):
        W = np.asarray(theta).reshape(-1, n_outputs)
        coef = np.sum(strength * W[:n_features] ** 2)
        return 0.5 * float(coef + intercept_strength * np.sum(W[n_features:] ** 2))

    return penalty


def _classification(n_samples, n_classes, weighted, *, weight_seed):
    """(X, y, sample_weight or None): 4 features, 3 informative, 10 % flipped labels."""
    X, y = make_classification(
        n_samples=n_samples,
        n_features=4,
        n_informative=3,
        n_redundant=0,
        n_classes=n_classes,
        flip_y=0.1,
        random_state=n_classes,
    )
    sw = np.random.RandomState(weight_seed).uniform(0.5, 2.0, len(y)) if weighted else None
    return X, y, sw


def _logistic_example(model, X, y, sw, C, K, intercept_strength, name, params):
    """The example of a logistic model fitted at ``C``: ``‖W‖²/(2C)`` in sum form."""
    return AdapterExample(
        model,
        X,
        y,
        penalty=_l2_penalty(1.0 / C, X.shape[1], K, intercept_strength),
        sample_weight=sw,
        reference_loss=log_loss_per_sample,
        invalid_y=np.array([len(model.classes_) + 3]),
        id=f"{name}-C{C}-" + "-".join(f"{k}={v}" for k, v in params.items()),
    )


def logistic_example(n_classes=2, C=1.0, weighted=False, **params):
    """``LogisticRegression(C=C, **params)`` on 90 rows, 4 features, ``n_classes`` classes."""
    X, y, sw = _classification(90, n_classes, weighted, weight_seed=0)
    params = {"solver": "newton-cholesky", "tol": 1e-12, **params}
    model = LogisticRegression(C=C, **params).fit(X, y, sample_weight=sw)
    K = 1 if n_classes == 2 else n_classes
    # scikit-learn: C Σ w_i ℓ_i + ½‖W‖² (liblinear penalises b as a feature of value
    # intercept_scaling), i.e. ‖W‖²/(2C) in sum form.
    icpt = params.get("intercept_scaling", 1.0) ** -2 / C if params["solver"] == "liblinear" else 0
    return _logistic_example(model, X, y, sw, C, K, icpt, f"logistic-K{n_classes}", params)


def least_squares_example(estimator, n_targets=1, weighted=False):
    """``estimator`` (Ridge or LinearRegression) fitted on 60 rows with ``n_targets`` targets."""
    X, y = make_regression(
        n_samples=60, n_features=4, n_targets=n_targets, noise=1.0, random_state=n_targets
    )
    sw = np.random.RandomState(1).uniform(0.5, 2.0, len(y)) if weighted else None
    model = estimator.fit(X, y, sample_weight=sw)
    alpha = np.asarray(getattr(model, "alpha", 0.0), dtype=np.float64)
    # Ridge: ‖y − Xw‖² + α‖w‖² (one α per target when an array); LinearRegression: no penalty.
    return AdapterExample(
        model,
        X,
        y,
        penalty=_l2_penalty(2.0 * alpha, X.shape[1], n_targets),
        sample_weight=sw,
        reference_loss=squared_error_per_sample,
        invalid_y=np.zeros((2, n_targets + 1)),
        id=f"{type(model).__name__}-targets{n_targets}-weighted{weighted}",
    )


def ridge_cv_example(estimator, n_targets=1, weighted=False):
    """``RidgeCV`` fitted as in :func:`least_squares_example`, its penalty at ``alpha_``."""
    example = least_squares_example(estimator, n_targets, weighted)
    alpha = np.asarray(example.estimator.alpha_, dtype=np.float64)
    # RidgeCV: the Ridge objective ‖y − Xw‖² + α‖w‖² at the selected alpha_ (one per target
    # with alpha_per_target=True), refitted on all rows.
    return replace(
        example,
        penalty=_l2_penalty(2.0 * alpha, example.X.shape[1], n_targets),
        id=f"{example.id}-alpha{np.round(alpha, 3).tolist()}",
    )


def ridge_decision_squared_error(estimator, X, y):
    """``Σ_k (t_ik − f_k(x_i))²`` with ``f = decision_function`` and ``t`` the ±1 codes of
    ``LabelBinarizer(pos_label=1, neg_label=-1)`` (reference loss of ``RidgeClassifier``)."""
    y = np.asarray(y)
    if y.ndim == 2:  # multilabel indicator
        codes = 2.0 * y - 1.0
    else:
        codes = LabelBinarizer(pos_label=1, neg_label=-1).fit(estimator.classes_).transform(y)
    decision = np.asarray(estimator.decision_function(X), dtype=np.float64)
    return ((codes - decision.reshape(len(y), -1)) ** 2).sum(axis=1)


def ridge_classifier_example(estimator, n_classes=2, weighted=False, multilabel=False):
    """``RidgeClassifier``/``RidgeClassifierCV`` on 70 rows, 4 features, ``n_classes`` classes
    (or ``n_classes`` labels of a multilabel indicator matrix)."""
    if multilabel:
        X, y = make_multilabel_classification(
            n_samples=70, n_features=4, n_classes=n_classes, random_state=0
        )
        X = X.astype(np.float64)
        sw = np.random.RandomState(2).uniform(0.5, 2.0, len(y)) if weighted else None
    else:
        X, y, sw = _classification(70, n_classes, weighted, weight_seed=2)
        y = np.array(["a", "b", "c", "d"])[y]  # string labels: the codes follow classes_
    model = estimator.fit(X, y, sample_weight=sw)
    K = y.shape[1] if multilabel else (1 if n_classes == 2 else n_classes)
    alpha = float(model.alpha_ if hasattr(model, "alpha_") else model.alpha)
    # RidgeClassifier: Ridge (‖T − XW‖² + α‖W‖²) on the ±1 codes T; the CV variant at alpha_.
    return AdapterExample(
        model,
        X,
        y,
        penalty=_l2_penalty(2.0 * alpha, X.shape[1], K),
        sample_weight=sw,
        reference_loss=ridge_decision_squared_error,
        invalid_y=np.zeros((2, K + 1)) if multilabel else np.array(["z"]),
        id=f"{type(model).__name__}-K{n_classes}-multilabel{multilabel}-weighted{weighted}",
    )


def logistic_cv_example(n_classes=2, weighted=False, **params):
    """``LogisticRegressionCV(Cs=[0.1, 1, 10], **params)`` fitted as :func:`logistic_example`."""
    X, y, sw = _classification(90, n_classes, weighted, weight_seed=0)
    params = {"solver": "newton-cholesky", "tol": 1e-12, "use_legacy_attributes": False, **params}
    model = LogisticRegressionCV(
        Cs=[0.1, 1.0, 10.0],
        l1_ratios=(0.0,),
        cv=3,
        scoring="neg_log_loss",
        **params,
    ).fit(X, y, sample_weight=sw)
    C = float(np.ravel(model.C_)[0])
    K = 1 if n_classes == 2 else n_classes
    # LogisticRegressionCV refits LogisticRegression at C_: C Σ w_i ℓ_i + ½‖W‖², i.e.
    # ‖W‖²/(2C) in sum form. liblinear penalises b as a feature of value 1 in that refit:
    # scikit-learn 1.9's LogisticRegressionCV.fit does not pass intercept_scaling to it.
    icpt = 1.0 / C if params["solver"] == "liblinear" else 0.0
    return _logistic_example(model, X, y, sw, C, K, icpt, f"logistic-cv-K{n_classes}", params)
