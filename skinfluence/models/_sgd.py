"""Adapters for scikit-learn's ``SGDClassifier`` and ``SGDRegressor`` (smooth losses only).

Objective. scikit-learn's SGD minimises ``E(w, b) = 1/n Σ_i w_i L(y_i, η_i) + α R(w)``
(``_sgd_fast.pyx``: each visited row takes a loss step scaled by its sample × class weight,
then decays the coefficients by ``1 − η_t α`` whatever its weight; the intercept is not
decayed). In sum form, times n: ``Σ_i (w_i L_i + α R(w))``: every row carries the share
``c_i = 1`` of ``q = α R`` (see "Penalty shares" in :mod:`skinfluence.models._base`), and
removing a row removes ``w_i L_i + α R``. ``R = ½‖w‖²`` (``penalty="l2"``, or
``"elasticnet"`` with ``l1_ratio=0``) or none (``penalty=None``); l1 and elastic-net
penalties are not differentiable at the zero coefficients they create and are refused.

Losses, in the raw output ``p = η`` (``y ∈ {0, 1}`` for ``log_loss``, ``y ∈ {−1, +1}`` for
the other classification losses, the target for regression), as ``_sgd_fast`` and
``sklearn._loss`` compute them:

* ``log_loss``: ``log(1 + eᵖ) − y p`` (the half binomial deviance);
* ``modified_huber``: with ``z = y p``: 0 for z ≥ 1, ``(1 − z)²`` for −1 ≤ z < 1, ``−4z``
  below;
* ``squared_hinge``: ``max(0, 1 − y p)²``;
* ``squared_error``: ``½ (p − y)²``; ``huber``: ``½ r²`` for ``|r| ≤ ε``, else
  ``ε (|r| − ε/2)``; ``squared_epsilon_insensitive``: ``max(0, |y − p| − ε)²``.

``modified_huber``, ``squared_hinge``, ``huber`` and ``squared_epsilon_insensitive`` are
piecewise quadratic (or linear): once differentiable, with a second derivative that jumps at
the kinks. The adapter uses the *generalised Hessian* (the second derivative of the piece a
row lies on, 0 on linear pieces), which is the Hessian wherever no training row sits exactly
on a kink (a set of measure zero for continuous data). ``hinge``, ``perceptron`` and
``epsilon_insensitive`` are not differentiable at their kinks, where the optimum puts rows:
refused with a ``TypeError`` naming the retraining scorers.

Multiclass ``SGDClassifier`` is one-vs-all: K independent binary problems, one per class,
each with its own coefficients and intercept. The objective is their sum, so θ holds the K
problems' parameters (one output per class, the (d, K) layout) and the Hessian is block
diagonal. The per-sample loss is the sum of the K one-vs-all binary losses,
``ℓ_i = Σ_k L(y_ik, η_ik)`` with ``y_ik = [y_i = k]``: what the model minimises, and the loss
whose change influence reports on test rows (not the log-loss of ``predict_proba``, which
for OvA is a normalisation of the K sigmoids the training never saw).

Stationarity. SGD stops on a loss plateau (``tol``), not on a zero gradient, and its iterate
(or average, ``average=True``) sits at a distance of order the last learning rates from the
optimum. :meth:`SGDAdapter.check_optimum` (called by ``InfluenceScorer.fit`` with its solver)
measures the Newton step to the optimum, ``‖H⁻¹∇J(θ̂)‖``, in units of a typical first-order
leave-one-out step ``‖H⁻¹(w_i ∇ℓ_i + c_i ∇q)‖`` (on the benchmark rows it equals the actual
distance to the polished optimum to 3 digits) and warns
(:class:`~skinfluence.exceptions.NotAtOptimumWarning`) above 0.1. Influence is always that of the
optimum of the objective (a Newton linearisation at θ̂); what rerunning SGD without a row gives
also depends on the optimiser's path and seed.
"""

import warnings

import numpy as np
from scipy.special import expit, log_expit
from sklearn.linear_model import SGDClassifier, SGDRegressor
from sklearn.utils.class_weight import compute_class_weight

from .._utils._docstring import inherit_docstrings
from .._utils._labels import encode_labels
from ..exceptions import NotAtOptimumWarning
from ._base import training_gradients
from ._linear import LinearModelAdapter
from ._registry import register_adapter
from ._sgd_examples import sgd_classifier_example, sgd_regressor_example

#: Above this distance from the optimum (in leave-one-out steps), check_optimum warns.
STATIONARITY_WARNING_RATIO = 0.1

_SMOOTH_CLASSIFICATION = ("log_loss", "modified_huber", "squared_hinge")
_SMOOTH_REGRESSION = ("squared_error", "huber", "squared_epsilon_insensitive")
_NON_SMOOTH = {
    "hinge": "the hinge loss has no derivative at margin 1, where the support vectors sit",
    "perceptron": "the perceptron loss has no derivative at margin 0",
    "epsilon_insensitive": "the epsilon-insensitive loss has no derivative at |r| = ε",
}


def sgd_loss_parts(loss, y, p, epsilon):
    """Loss, first and second derivative in ``p`` of an SGD loss, elementwise.

    Parameters
    ----------
    loss : str
        scikit-learn's name of the loss (a smooth one).
    y : ndarray
        Targets: {0, 1} for ``log_loss``, {−1, +1} for the other classification losses,
        real for regression.
    p : ndarray
        Raw outputs ``η``, of y's shape.
    epsilon : float
        ``epsilon`` of huber and squared_epsilon_insensitive.

    Returns
    -------
    L, dL, d2L : ndarray
        The loss, ∂L/∂p and the (generalised) ∂²L/∂p².
    """
    if loss == "log_loss":
        prob = expit(p)
        return -log_expit(p) + p - y * p, prob - y, prob * (1.0 - prob)
    if loss == "modified_huber":
        z = y * p
        quad = (z >= -1.0) & (z < 1.0)
        L = np.where(z >= 1.0, 0.0, np.where(z >= -1.0, (1.0 - z) ** 2, -4.0 * z))
        dz = np.where(z >= 1.0, 0.0, np.where(z >= -1.0, -2.0 * (1.0 - z), -4.0))
        return L, y * dz, 2.0 * quad
    if loss == "squared_hinge":
        m = np.maximum(0.0, 1.0 - y * p)
        return m**2, -2.0 * y * m, 2.0 * (m > 0)
    r = p - y
    if loss == "squared_error":
        return 0.5 * r**2, r, np.ones_like(r)
    if loss == "huber":
        inside = np.abs(r) <= epsilon
        L = np.where(inside, 0.5 * r**2, epsilon * (np.abs(r) - 0.5 * epsilon))
        return L, np.where(inside, r, epsilon * np.sign(r)), inside.astype(float)
    if loss == "squared_epsilon_insensitive":
        m = np.maximum(0.0, np.abs(r) - epsilon)
        return m**2, 2.0 * m * np.sign(r), 2.0 * (m > 0)
    raise ValueError(f"Unknown smooth SGD loss {loss!r}.")


def _check_smooth(estimator, allowed):
    loss = estimator.loss
    name = type(estimator).__name__
    if loss in _NON_SMOOTH:
        raise TypeError(
            f"{name}(loss={loss!r}) has a non-smooth training objective ({_NON_SMOOTH[loss]}), "
            "so influence functions, which differentiate it, do not apply. Use a smooth loss "
            f"({', '.join(allowed)}), or MemorizationScorer or LeaveOneOutScorer, which only "
            "retrain."
        )
    if loss not in allowed:
        raise TypeError(f"{name}(loss={loss!r}) is not supported; use one of {list(allowed)}.")
    penalty = estimator.penalty
    l1_ratio = estimator.l1_ratio
    if penalty == "elasticnet" and l1_ratio == 0:
        penalty = "l2"
    if penalty not in ("l2", None):
        raise TypeError(
            f"{name}(penalty={penalty!r}) is not twice differentiable at the zero coefficients "
            "it creates; influence needs penalty='l2' or None. Use LeaveOneOutScorer or "
            "MemorizationScorer for other penalties."
        )
    if estimator.early_stopping:
        raise TypeError(
            f"{name}(early_stopping=True) trains on a random subset of the rows (the rest "
            "validate), which is not one objective of the training set; refit with "
            "early_stopping=False."
        )
    return penalty


@inherit_docstrings
class SGDAdapter(LinearModelAdapter):
    """Adapter of scikit-learn's ``SGDClassifier`` and ``SGDRegressor`` (smooth losses).

    Objective in sum form ``Σ_i (w_i ℓ_i + α/2 ‖W‖²)``: weights ``w_i`` = sample × class
    weight, and every row's penalty share ``c_i = 1`` (SGD decays the coefficients once per
    visited row, whatever its weight); intercepts unpenalised. One output for regression and
    binary classification, K one-vs-all outputs for K > 2 classes (the loss is the sum of
    the K binary losses). Piecewise-quadratic losses use their generalised Hessian. See the
    module docstring (:mod:`skinfluence.models._sgd`) for the losses and what influence means
    when SGD stops short of the optimum.

    Parameters
    ----------
    estimator : SGDClassifier or SGDRegressor
        Fitted, with a smooth loss, ``penalty="l2"`` or None and ``early_stopping=False``.

    Attributes
    ----------
    loss_ : str
        The loss.
    penalty_ : {"l2", None}
        The penalty as scikit-learn applies it.
    classes_ : ndarray or None
        The classes (classifiers).

    See Also
    --------
    adapter_for : builds this adapter for a fitted SGD model.
    LogisticRegressionAdapter : the exact-solver counterpart of ``log_loss``.

    Examples
    --------
    The objective's gradient at an SGD fit is small, not zero; ``check_optimum`` measures it
    (here against a typical row's gradient; it warns above 0.1):

    >>> import numpy as np
    >>> from sklearn.datasets import load_breast_cancer
    >>> from sklearn.linear_model import SGDClassifier
    >>> from sklearn.preprocessing import StandardScaler
    >>> from skinfluence.models import adapter_for
    >>> X, y = load_breast_cancer(return_X_y=True)
    >>> X = StandardScaler().fit_transform(X)
    >>> model = SGDClassifier(loss="log_loss", alpha=0.01, average=True, tol=None,
    ...                       max_iter=200, random_state=0).fit(X, y)
    >>> adapter = adapter_for(model)
    >>> adapter.n_params, adapter.penalty_shares(y[:3]).tolist()
    (31, [1.0, 1.0, 1.0])

    200 epochs leave this fit almost two leave-one-out steps from the optimum, and the
    stationarity check says so:

    >>> import warnings
    >>> from skinfluence.inverse import make_solver
    >>> solver = make_solver("direct").fit(adapter, X, y)
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     distance = adapter.check_optimum(X, y, solve=solver.solve)
    >>> round(distance, 1), caught[0].category.__name__
    (1.8, 'NotAtOptimumWarning')
    """

    def __init__(self, estimator):
        self.classifier = isinstance(estimator, SGDClassifier)
        allowed = _SMOOTH_CLASSIFICATION if self.classifier else _SMOOTH_REGRESSION
        self.penalty_ = _check_smooth(estimator, allowed)
        super().__init__(estimator)
        self.loss_ = estimator.loss
        self.classes_ = getattr(estimator, "classes_", None) if self.classifier else None
        if self.classifier and len(self.classes_) > 2 and estimator.class_weight is not None:
            raise TypeError(
                "SGDClassifier with class_weight and more than two classes weighs each "
                "one-vs-all problem's positives only, which is not one weight per row; "
                "refit without class_weight or with two classes."
            )

    def penalty_share_strength(self):
        return 0.0 if self.penalty_ is None else float(self.estimator.alpha)

    def penalty_shares(self, y, sample_weight=None):
        """Return ones: SGD decays the coefficients once per visited row, whatever its weight.

        Parameters
        ----------
        y : array-like of shape (n_samples,)
            Labels or targets of the rows.
        sample_weight : array-like of shape (n_samples,), default=None
            Ignored (the share does not depend on it).

        Returns
        -------
        c : ndarray of shape (n_samples,)
            Ones.
        """
        return np.ones(len(y))

    @property
    def output_link(self):
        """The output link ("identity", "logistic", "scores"): see ``ModelAdapter.output_link``."""
        if not self.classifier:
            return "identity"
        # multiclass SGD is one-vs-rest: its scores are not a softmax
        return "logistic" if self.loss_ == "log_loss" and self.n_outputs == 1 else "scores"

    def encode_target(self, y):
        y = np.asarray(y)
        if self.classifier:
            if y.ndim != 1:
                raise ValueError(f"y must be 1-D class labels; got shape {y.shape}.")
            return encode_labels(self.classes_, y)
        y = np.asarray(y, dtype=np.float64)
        if y.ndim != 1 and not (y.ndim == 2 and y.shape[1] == 1):
            raise ValueError(f"y must be 1-D targets; got shape {y.shape}.")
        return y.reshape(-1, 1)

    def row_weights(self, y, sample_weight=None):
        w = np.ones(len(y)) if sample_weight is None else np.asarray(sample_weight, float).copy()
        cw = getattr(self.estimator, "class_weight", None)
        if not self.classifier or cw is None:
            return w
        # as scikit-learn resolves it at fit: from these labels, without the sample weights
        per_class = compute_class_weight(cw, classes=self.classes_, y=np.asarray(y))
        return w * per_class[self.encode_target(y)]

    def _targets(self, t):
        """Per-output targets in the loss's coding, shape (n, K)."""
        if not self.classifier:
            return t
        K = self.n_outputs
        positive = (t[:, None] == (np.arange(K) if K > 1 else np.array([1])))[:, :K]
        if self.loss_ == "log_loss":
            return positive.astype(float)
        return np.where(positive, 1.0, -1.0)

    def _parts(self, eta, t):
        return sgd_loss_parts(self.loss_, self._targets(t), eta, self.estimator.epsilon)

    def _loss_from_outputs(self, eta, t):
        return self._parts(eta, t)[0].sum(axis=1)

    def output_gradients(self, eta, t):
        return self._parts(eta, t)[1]

    def output_derivatives(self, eta, t):
        _, d1, d2 = self._parts(eta, t)
        n, K = d2.shape
        S = np.zeros((n, K, K))
        S[:, np.arange(K), np.arange(K)] = d2
        return d1, S

    def check_optimum(self, X, y, sample_weight=None, solve=None):
        """Measure how far θ̂ is from a stationary point of J, and warn when it is far.

        With ``solve`` (``B ↦ H⁻¹B``, the scorer's inverse-Hessian solver), the distance in
        leave-one-out steps: ``‖H⁻¹∇J(θ̂)‖`` (the Newton step to the optimum) over the RMS of
        the first-order leave-one-out steps ``‖H⁻¹(w_i∇ℓ_i + c_i∇q)‖``, estimated with 16
        Rademacher probes (``E‖H⁻¹G̃ᵀz‖²/n``): 17 solves and O(n p) products. Without it, the
        gradient ratio ``‖∇J‖ / mean_i ‖w_i∇ℓ_i + c_i∇q‖``, O(n p). Above 0.1
        :class:`~skinfluence.exceptions.NotAtOptimumWarning` says so: the fit is then more
        than a tenth of a typical leave-one-out change from the optimum.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The training rows.
        y : array-like of shape (n_samples,)
            Their labels or targets.
        sample_weight : array-like of shape (n_samples,), default=None
            The weights passed to ``fit``.
        solve : callable, default=None
            ``B ↦ H⁻¹B`` on (p, k) arrays.

        Returns
        -------
        ratio : float
            The distance from the optimum in leave-one-out steps (with ``solve``), else the
            gradient ratio; 0 at the exact optimum.
        """
        w = self.row_weights(y, sample_weight)
        n = len(w)
        T = training_gradients(self, X, y, w, self.penalty_shares(y, sample_weight))
        grad = T.rmatmul(np.ones((n, 1)))
        if solve is None:
            distance = float(np.linalg.norm(grad))
            typical = float(np.mean(T.row_norms()))
            what = f"‖∇J‖ = {distance:.3g}, {{ratio:.3g}} times the mean row gradient"
        else:
            z = np.random.RandomState(0).choice([-1.0, 1.0], size=(n, _PROBES))
            steps = solve(np.hstack([grad, T.rmatmul(z)]))
            distance = float(np.linalg.norm(steps[:, 0]))
            typical = float(np.sqrt(np.sum(steps[:, 1:] ** 2) / (_PROBES * n)))
            what = (
                f"‖∇J‖ = {np.linalg.norm(grad):.3g}; the Newton step to the optimum is "
                "{ratio:.3g} times the typical leave-one-out step"
            )
        ratio = distance / typical if typical > 0 else (0.0 if distance == 0 else np.inf)
        if ratio > STATIONARITY_WARNING_RATIO:
            warnings.warn(
                f"{type(self.estimator).__name__} is not at a stationary point of its training "
                f"objective: {what.format(ratio=ratio)}. Influence describes the optimum of "
                "the objective, linearised at the fit; fit with tol=None and more max_iter "
                "(or a smaller constant learning rate with average=True) to get closer, or use "
                "LeaveOneOutScorer for what retraining SGD gives.",
                NotAtOptimumWarning,
                stacklevel=3,
            )
        return ratio


# Rademacher probes of the typical leave-one-out step in check_optimum.
_PROBES = 16


register_adapter(
    SGDClassifier,
    SGDAdapter,
    name="SGDClassifier (log_loss, modified_huber, squared_hinge; l2 or no penalty)",
    examples=[
        lambda: sgd_classifier_example("log_loss"),
        lambda: sgd_classifier_example("modified_huber", weighted=True),
        lambda: sgd_classifier_example("squared_hinge", class_weight={0: 2.0}),
        lambda: sgd_classifier_example("log_loss", n_classes=3, fit_intercept=False),
        lambda: sgd_classifier_example("squared_hinge", n_classes=3, penalty=None),
    ],
)
register_adapter(
    SGDRegressor,
    SGDAdapter,
    name="SGDRegressor (squared_error, huber, squared_epsilon_insensitive; l2 or no penalty)",
    examples=[
        lambda: sgd_regressor_example("squared_error", weighted=True),
        lambda: sgd_regressor_example("huber", fit_intercept=False),
        lambda: sgd_regressor_example("squared_epsilon_insensitive", penalty=None),
    ],
)
