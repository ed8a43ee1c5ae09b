"""Small fitted scikit-learn nets for the common adapter tests (registered in ``_mlp.py``).

Each factory fits an ``MLPClassifier`` or ``MLPRegressor`` on 60 synthetic rows and states the
penalty as scikit-learn documents it ("the L2 regularization term is divided by the sample
size when added to the loss": ``α/2 ‖W‖²`` in sum form over ``coefs_``, intercepts free;
per minibatch for ``sgd``/``adam``), not as the adapter computes it. L-BFGS fits stop at
a relative decrease of the loss of 2.2e-9 (scipy's default ``ftol``, which scikit-learn does
not expose), a gradient of about 1e-5 on these nets: :func:`polish_lbfgs` continues the fit
with scikit-learn's own loss and gradient (``_loss_grad_lbfgs``) and ``ftol=0``, so that the
examples sit at a stationary point of scikit-learn's objective, found without skinfluence.
"""

import warnings
from functools import partial
from itertools import pairwise

import numpy as np
import scipy.sparse as sp
from scipy.special import xlogy
from sklearn.datasets import make_classification, make_multilabel_classification, make_regression
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPClassifier, MLPRegressor
from sklearn.preprocessing import scale

from ._registry import AdapterExample, log_loss_per_sample

_N_ROWS = 60


def _coefficient_penalty(estimator, strength):
    """``θ ↦ strength/2 ‖W‖²`` over the coefficients, which scikit-learn packs first."""
    n_coefs = sum(c.size for c in estimator.coefs_)
    return lambda theta: 0.5 * strength * float(np.sum(np.asarray(theta)[:n_coefs] ** 2))


def polish_lbfgs(model, X, y, sample_weight=None, *, gtol=1e-13, max_iter=20_000):
    """Continue an L-BFGS fit of a scikit-learn net to a stationary point of its objective.

    Minimises scikit-learn's own ``_loss_grad_lbfgs`` (mean loss + ``α/(2n) ‖W‖²``) from the
    fitted weights with scipy's L-BFGS-B at ``ftol=0``: the same objective and optimiser as
    ``fit``, without the stop on a small relative decrease of the loss. For a regressor of
    several targets the squared error is summed over them, which makes the loss the function
    scikit-learn's gradient belongs to (scikit-learn#8349: its reported loss averages over the
    targets, so its own line search stops short of a stationary point). Modifies ``model``.

    Parameters
    ----------
    model : MLPClassifier or MLPRegressor
        Fitted with ``solver="lbfgs"``.
    X, y : arrays
        The training data it was fitted on.
    sample_weight : array-like of shape (n_samples,), default=None
        The weights it was fitted with.
    gtol : float, default=1e-13
        Largest projected gradient (of the mean objective) to stop at.
    max_iter : int, default=20000
        Iterations at most.

    Returns
    -------
    model : the same net, its ``coefs_`` and ``intercepts_`` updated.
    """
    from scipy.optimize import minimize
    from sklearn.neural_network._multilayer_perceptron import _pack

    X, Y = model._validate_input(X, y, incremental=False, reset=False)
    Y = Y.reshape(len(Y), -1)
    sw = None if sample_weight is None else np.asarray(sample_weight, dtype=X.dtype)
    units = [X.shape[1]] + [c.shape[1] for c in model.coefs_]
    activations = [X] + [None] * (len(units) - 1)
    deltas = [None] * (len(units) - 1)
    coef_grads = [np.empty((i, o), dtype=X.dtype) for i, o in pairwise(units)]
    intercept_grads = [np.empty(o, dtype=X.dtype) for o in units[1:]]
    objective = model._loss_grad_lbfgs
    if targets_averaged(model):
        objective = partial(_summed_targets, model, Y.shape[1], sw)
    result = minimize(
        objective,
        _pack(model.coefs_, model.intercepts_),
        method="L-BFGS-B",
        jac=True,
        args=(X, Y, sw, activations, deltas, coef_grads, intercept_grads),
        options={"ftol": 0.0, "gtol": gtol, "maxiter": max_iter, "maxfun": 2 * max_iter},
    )
    model._unpack(result.x)
    model.loss_ = float(result.fun)
    return model


def targets_averaged(model):
    """Whether the net is a several-target ``squared_error`` regressor whose reported loss
    averages over the targets while its gradient is that of their sum (scikit-learn#8349)."""
    from sklearn.neural_network._base import squared_loss

    several = isinstance(model, MLPRegressor) and model.loss == "squared_error"
    several = several and model.n_outputs_ > 1
    return several and squared_loss(np.zeros((1, 2)), np.ones((1, 2))) == 0.5


def _summed_targets(model, n_targets, sw, packed, *args):
    """scikit-learn's loss and gradient with the squared error summed over the targets, the
    function its gradient belongs to (the fix proposed for scikit-learn#8349)."""
    loss, grad = model._loss_grad_lbfgs(packed, *args)
    n_coefs = sum(c.size for c in model.coefs_)
    total = len(args[0]) if sw is None else float(np.sum(sw))
    penalty = 0.5 * model.alpha * float(packed[:n_coefs] @ packed[:n_coefs]) / total
    return n_targets * (loss - penalty) + penalty, grad


def _fit(model, X, y, sw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(X, y, sample_weight=sw)
    if model.solver == "lbfgs":
        polish_lbfgs(model, X, y, sw)
    return model


def _net_params(solver, activation, hidden, alpha, batch_size):
    params = {
        "hidden_layer_sizes": hidden,
        "activation": activation,
        "alpha": alpha,
        "solver": solver,
        "random_state": 0,
    }
    if solver == "lbfgs":
        return {**params, "tol": 1e-10, "max_iter": 5000}
    return {**params, "max_iter": 300, "batch_size": batch_size, "learning_rate_init": 0.01}


def _penalties(model, alpha, solver, batch_size):
    """(R₀, q): ``α/2 ‖W‖²`` fixed for L-BFGS; for sgd/adam α/2 ‖W‖² once per minibatch of
    B rows, i.e. a share ``q = α/(2B) ‖W‖²`` per row and no fixed part."""
    if solver == "lbfgs":
        return _coefficient_penalty(model, alpha), None
    return (lambda theta: 0.0), _coefficient_penalty(model, alpha / min(batch_size, _N_ROWS))


def multilabel_log_loss_per_sample(estimator, X, Y):
    """``−Σ_k log p(y_ik | x_i)`` from ``predict_proba`` of a multilabel classifier."""
    P = np.clip(estimator.predict_proba(X), 1e-300, 1.0)
    Q = np.clip(1.0 - estimator.predict_proba(X), 1e-300, 1.0)
    return -np.sum(xlogy(Y, P) + xlogy(1 - Y, Q), axis=1)


def half_squared_error_per_sample(estimator, X, y):
    """``½ Σ_k (y_ik − ŷ_ik)²`` from ``predict`` (the loss whose gradient MLPRegressor takes)."""
    pred = np.asarray(estimator.predict(X), dtype=np.float64).reshape(len(y), -1)
    return 0.5 * np.sum((np.asarray(y, float).reshape(len(y), -1) - pred) ** 2, axis=1)


def half_poisson_deviance_per_sample(estimator, X, y):
    """``Σ_k ŷ − y log ŷ + y log y − y`` from ``predict`` (MLPRegressor's poisson loss)."""
    pred = np.asarray(estimator.predict(X), dtype=np.float64).reshape(len(y), -1)
    y = np.asarray(y, float).reshape(len(y), -1)
    return np.sum(pred - xlogy(y, pred) + xlogy(y, y) - y, axis=1)


def mlp_classifier_example(
    n_classes=2,
    activation="tanh",
    hidden=(5,),
    *,
    weighted=False,
    multilabel=False,
    solver="lbfgs",
    alpha=1e-2,
    batch_size=20,
    exact_optimum=True,
):
    """An ``MLPClassifier`` on 60 rows and 4 standardised features."""
    if multilabel:
        X, y = make_multilabel_classification(
            _N_ROWS, n_features=4, n_classes=3, n_labels=2, random_state=0
        )
    else:
        X, y = make_classification(
            _N_ROWS,
            n_features=4,
            n_informative=3,
            n_redundant=0,
            n_classes=n_classes,
            flip_y=0.1,
            random_state=n_classes,
        )
    X = scale(X)
    sw = np.random.RandomState(1).uniform(0.5, 2.0, len(y)) if weighted else None
    params = _net_params(solver, activation, hidden, alpha, batch_size)
    model = _fit(MLPClassifier(**params), X, y, sw)
    penalty, share = _penalties(model, alpha, solver, batch_size)
    kind = "multilabel" if multilabel else f"{n_classes}-class"
    return AdapterExample(
        model,
        X,
        y,
        penalty=penalty,
        penalty_share=share,
        invalid_y=np.zeros((2, 4)) if multilabel else np.array([n_classes + 5]),
        sample_weight=sw,
        reference_loss=multilabel_log_loss_per_sample if multilabel else log_loss_per_sample,
        exact_optimum=exact_optimum,
        id=f"mlp-{kind}-{activation}-{solver}-{hidden}" + ("-weighted" if weighted else ""),
    )


def mlp_regressor_example(
    n_targets=1,
    activation="tanh",
    hidden=(5,),
    *,
    loss="squared_error",
    weighted=False,
    sparse=False,
    solver="lbfgs",
    alpha=1e-2,
    batch_size=20,
    exact_optimum=True,
):
    """An ``MLPRegressor`` on 60 rows and 3 features (Poisson: counts of a log-linear rate)."""
    rng = np.random.RandomState(n_targets)
    if loss == "poisson":
        X = rng.randn(_N_ROWS, 3)
        rate = np.exp(0.5 + X @ np.array([0.4, -0.3, 0.2]))
        y = rng.poisson(rate).astype(float)
    else:
        X, y = make_regression(
            _N_ROWS, n_features=3, n_targets=n_targets, noise=10.0, random_state=n_targets
        )
        X, y = scale(X), y / np.std(y)
    if sparse:
        X = sp.csr_matrix(np.where(np.abs(X) < 0.5, 0.0, X))
    sw = np.random.RandomState(2).uniform(0.5, 2.0, _N_ROWS) if weighted else None
    params = _net_params(solver, activation, hidden, alpha, batch_size)
    model = _fit(MLPRegressor(loss=loss, **params), X, y, sw)
    penalty, share = _penalties(model, alpha, solver, batch_size)
    reference = (
        half_poisson_deviance_per_sample if loss == "poisson" else half_squared_error_per_sample
    )
    return AdapterExample(
        model,
        X,
        y,
        penalty=penalty,
        penalty_share=share,
        invalid_y=np.zeros((2, n_targets + 1)),
        sample_weight=sw,
        reference_loss=reference,
        exact_optimum=exact_optimum,
        id=f"mlp-regressor-{loss}-{n_targets}-{activation}-{solver}"
        + ("-sparse" if sparse else "")
        + ("-weighted" if weighted else ""),
    )
