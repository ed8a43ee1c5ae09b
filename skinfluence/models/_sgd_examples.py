"""Small fitted SGD models for the common adapter tests (registered in ``_sgd.py``).

SGD stops near its optimum, not at it (its iterate is ~1e-5 away after 10⁴ epochs on these
rows), and the common tests check stationarity to 1e-6 of the gradients' scale. So each
example fits scikit-learn's SGD, then *polishes* it: its ``coef_``/``intercept_`` are set to
the minimiser of the objective scikit-learn documents for SGD, ``1/n Σ w_i L(y_i, η_i) +
α/2 ‖W‖²`` per one-vs-all problem, found by L-BFGS from the SGD solution, with the losses of
scikit-learn's own loss objects (``_sgd_fast``, ``sklearn._loss``), not the adapter's. The
leave-one-out check refits the same way (``AdapterExample.refit``). That the documented
objective is what SGD itself converges to (penalty share 1 per row, not its weight) is
checked against long SGD runs in ``tests/models/test_sgd.py``.
"""

import numpy as np
from scipy.optimize import minimize
from sklearn._loss._loss import CyHalfBinomialLoss, CyHalfSquaredError, CyHuberLoss
from sklearn.base import clone
from sklearn.datasets import make_classification, make_regression
from sklearn.linear_model import SGDClassifier, SGDRegressor, _sgd_fast
from sklearn.utils.class_weight import compute_class_weight

from ._registry import AdapterExample


def _cy_loss_and_gradient(cy_loss, y, p):
    shape = np.shape(p)
    y = np.ascontiguousarray(np.ravel(y), dtype=np.float64)
    p = np.ascontiguousarray(np.ravel(p), dtype=np.float64)
    loss, grad, ones = np.empty_like(p), np.empty_like(p), np.ones_like(p)
    cy_loss.loss(y, p, ones, loss, 1)
    cy_loss.gradient(y, p, ones, grad, 1)
    return loss.reshape(shape), grad.reshape(shape)


def documented_loss(estimator, y, p):
    """``(L, ∂L/∂p)`` elementwise from scikit-learn's loss object for the estimator's loss.

    ``y`` is coded as scikit-learn's SGD codes it: {0, 1} for ``log_loss``, {−1, +1} for the
    other classification losses, the target for regression.
    """
    loss = estimator.loss
    if loss == "log_loss":
        return _cy_loss_and_gradient(CyHalfBinomialLoss(), y, p)
    if loss == "squared_error":
        return _cy_loss_and_gradient(CyHalfSquaredError(), y, p)
    if loss == "huber":
        return _cy_loss_and_gradient(CyHuberLoss(estimator.epsilon), y, p)
    objects = {
        "modified_huber": lambda: _sgd_fast.ModifiedHuber(),
        "squared_hinge": lambda: _sgd_fast.SquaredHinge(1.0),
        "squared_epsilon_insensitive": lambda: _sgd_fast.SquaredEpsilonInsensitive(
            estimator.epsilon
        ),
    }
    obj = objects[loss]()
    L = np.vectorize(obj.py_loss)(p, y)
    dL = np.vectorize(obj.py_dloss)(p, y)
    return L, dL


def _coded_targets(estimator, y):
    """(n, K) targets of the K one-vs-all problems (one column for binary and regression)."""
    if not isinstance(estimator, SGDClassifier):
        return np.asarray(y, dtype=np.float64)[:, None]
    classes = estimator.classes_
    columns = classes[1:] if len(classes) == 2 else classes
    positive = np.asarray(y)[:, None] == columns[None, :]
    return positive.astype(float) if estimator.loss == "log_loss" else np.where(positive, 1.0, -1.0)


def _weights(estimator, y, sample_weight):
    w = np.ones(len(y)) if sample_weight is None else np.asarray(sample_weight, dtype=float)
    cw = getattr(estimator, "class_weight", None)
    if cw is not None:
        per_class = compute_class_weight(cw, classes=estimator.classes_, y=y)
        w = w * per_class[np.searchsorted(estimator.classes_, y)]
    return w


def sgd_reference_loss(estimator, X, y):
    """``Σ_k L(y_ik, η_ik)`` per row from ``decision_function`` and scikit-learn's losses."""
    p = estimator.decision_function(X) if isinstance(estimator, SGDClassifier) else None
    if p is None:
        p = estimator.predict(X)
    p = np.asarray(p, dtype=np.float64).reshape(len(y), -1)
    return documented_loss(estimator, _coded_targets(estimator, y), p)[0].sum(axis=1)


def polish(estimator, X, y, sample_weight=None):
    """Set the fitted SGD model's parameters to the exact minimiser of its documented objective.

    Each one-vs-all problem (one for binary and regression) minimises
    ``1/n Σ w_i L(y_ik, η_ik) + α/2 ‖w_k‖²`` (α = 0 without a penalty), from the SGD solution.
    """
    Y = _coded_targets(estimator, y)
    w = _weights(estimator, y, sample_weight)
    n, d = X.shape
    alpha = 0.0 if estimator.penalty is None else float(estimator.alpha)
    b0 = bool(estimator.fit_intercept)
    coef = np.atleast_2d(estimator.coef_).astype(np.float64)
    intercept = np.broadcast_to(np.asarray(estimator.intercept_, float), (coef.shape[0],)).copy()
    for k in range(coef.shape[0]):

        def objective(theta, k=k):
            p = X @ theta[:d] + (theta[d] if b0 else 0.0)
            L, dL = documented_loss(estimator, Y[:, k], p)
            f = w @ L / n + 0.5 * alpha * theta[:d] @ theta[:d]
            g_w = X.T @ (w * dL) / n + alpha * theta[:d]
            g = np.r_[g_w, (w @ dL) / n] if b0 else g_w
            return f, g

        start = np.r_[coef[k], intercept[k]] if b0 else coef[k]
        res = minimize(
            objective,
            start,
            jac=True,
            method="L-BFGS-B",
            options={"gtol": 1e-14, "ftol": 0.0, "maxiter": 20_000, "maxcor": 30},
        )
        coef[k] = res.x[:d]
        if b0:
            intercept[k] = res.x[d]
    estimator.coef_ = coef.reshape(np.shape(estimator.coef_))
    estimator.intercept_ = intercept.reshape(np.shape(estimator.intercept_))
    return estimator


def _fit_polished(estimator, X, y, sample_weight=None):
    fitted = clone(estimator).fit(X, y, sample_weight=sample_weight)
    return polish(fitted, X, y, sample_weight)


def _example(estimator, X, y, sw, id_):
    model = _fit_polished(estimator, X, y, sw)
    alpha = 0.0 if model.penalty is None else float(model.alpha)
    d = X.shape[1]
    K = np.atleast_2d(model.coef_).shape[0]

    def share(theta):  # q = α/2 ‖W‖², the intercepts unpenalised
        return 0.5 * alpha * float(np.sum(np.reshape(theta, (-1, K))[:d] ** 2))

    return AdapterExample(
        model,
        X,
        y,
        penalty=lambda theta: 0.0,
        penalty_share=share if alpha else None,
        penalty_shares=np.ones(len(y)),  # one decay per visited row, whatever its weight
        sample_weight=sw,
        reference_loss=sgd_reference_loss,
        invalid_y=(np.array([99]) if isinstance(model, SGDClassifier) else np.zeros((2, 2))),
        refit=lambda X, y, sample_weight=None: _fit_polished(estimator, X, y, sample_weight),
        id=id_,
    )


_SGD = {"tol": None, "max_iter": 50, "random_state": 0}


def sgd_classifier_example(loss, n_classes=2, weighted=False, penalty="l2", **params):
    """``SGDClassifier(loss, **params)`` on 60 rows, 4 features, polished to its optimum."""
    X, y = make_classification(
        n_samples=60,
        n_features=4,
        n_informative=3,
        n_redundant=0,
        n_classes=n_classes,
        flip_y=0.15,
        class_sep=0.5,
        random_state=n_classes,
    )
    sw = np.random.RandomState(0).uniform(0.5, 2.0, len(y)) if weighted else None
    est = SGDClassifier(loss=loss, alpha=0.05, penalty=penalty, **_SGD, **params)
    name = f"sgd-{loss}-K{n_classes}-" + "-".join(f"{k}={v}" for k, v in params.items())
    return _example(est, X, y, sw, f"{name}-penalty={penalty}-weighted={weighted}")


def sgd_regressor_example(loss, weighted=False, penalty="l2", **params):
    """``SGDRegressor(loss, **params)`` on 60 rows, 4 features, polished to its optimum."""
    X, y = make_regression(n_samples=60, n_features=4, noise=20.0, random_state=0)
    X, y = X / 2.0, y / np.std(y)  # targets of order 1, so that ε = 0.1 splits the rows
    sw = np.random.RandomState(1).uniform(0.5, 2.0, len(y)) if weighted else None
    est = SGDRegressor(loss=loss, alpha=0.05, penalty=penalty, **_SGD, **params)
    name = f"sgd-{loss}-" + "-".join(f"{k}={v}" for k, v in params.items())
    return _example(est, X, y, sw, f"{name}-penalty={penalty}-weighted={weighted}")
