"""Small fitted linear models for the common adapter tests (registered in ``_linear.py``).

Each factory fits a scikit-learn estimator on a few dozen synthetic rows to solver precision and
states its penalty as scikit-learn documents the objective (not as the adapter computes it).
"""

import numpy as np
from sklearn.datasets import make_classification, make_regression
from sklearn.linear_model import LogisticRegression

from ._registry import AdapterExample, log_loss_per_sample, squared_error_per_sample


def _l2_penalty(strength, n_features, n_outputs, intercept_strength=0.0):
    """``θ ↦ Σ_k strength_k/2 ‖W_k‖² (+ intercept_strength/2 ‖b‖²)`` in the (d, K) layout."""

    def penalty(theta):
        W = np.asarray(theta).reshape(-1, n_outputs)
        coef = np.sum(strength * W[:n_features] ** 2)
        return 0.5 * float(coef + intercept_strength * np.sum(W[n_features:] ** 2))

    return penalty


def logistic_example(n_classes=2, C=1.0, weighted=False, **params):
    """``LogisticRegression(C=C, **params)`` on 90 rows, 4 features, ``n_classes`` classes."""
    X, y = make_classification(
        n_samples=90,
        n_features=4,
        n_informative=3,
        n_redundant=0,
        n_classes=n_classes,
        flip_y=0.1,
        random_state=n_classes,
    )
    sw = np.random.RandomState(0).uniform(0.5, 2.0, len(y)) if weighted else None
    params = {"solver": "newton-cholesky", "tol": 1e-12, **params}
    model = LogisticRegression(C=C, **params).fit(X, y, sample_weight=sw)
    K = 1 if n_classes == 2 else n_classes
    # scikit-learn: C Σ w_i ℓ_i + ½‖W‖² (liblinear penalises b as a feature of value
    # intercept_scaling), i.e. ‖W‖²/(2C) in sum form.
    icpt = params.get("intercept_scaling", 1.0) ** -2 / C if params["solver"] == "liblinear" else 0
    return AdapterExample(
        model,
        X,
        y,
        penalty=_l2_penalty(1.0 / C, X.shape[1], K, icpt),
        sample_weight=sw,
        reference_loss=log_loss_per_sample,
        invalid_y=np.array([n_classes + 3]),
        id=f"logistic-K{n_classes}-C{C}-" + "-".join(f"{k}={v}" for k, v in params.items()),
    )


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
