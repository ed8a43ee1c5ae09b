"""``PerceptronStudent``: the max-margin perceptron of the teacher-student toy, and a smooth
(logistic) variant whose exact Hessian the influence machinery knows."""

import numbers
import warnings

import numpy as np
from scipy.optimize import nnls
from scipy.special import expit
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.linear_model import LogisticRegression
from sklearn.svm import LinearSVC
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted
from sklearn_compat.base import _fit_context
from sklearn_compat.utils.validation import validate_data

from .._validation import check_sample_weight_nonneg
from ..exceptions import SkinfluenceWarning
from ..models import register_adapter
from ..models._linear import LinearModelAdapter, LogisticRegressionAdapter


class NotSeparableWarning(SkinfluenceWarning):
    """The training set is not linearly separable through the origin.

    No max-margin (hard-margin) perceptron exists; :class:`PerceptronStudent` fitted a soft
    margin instead.

    See Also
    --------
    PerceptronStudent : The estimator that raises it.
    """


def max_margin_direction(X, t):
    """Hard-margin perceptron without bias: ``argmin ‖w‖ s.t. t_i w·x_i ≥ 1``, or None.

    Solved exactly as a least-distance program through non-negative least squares
    (Lawson & Hanson 1974, ch. 23): with ``E = [(t x)ᵀ; 1ᵀ]`` and ``u ≥ 0`` minimising
    ``‖E u − e_{N+1}‖``, the residual ``r`` gives ``w = −r[:N] / r[N]``; ``r = 0`` means
    the constraints are infeasible (data not separable through the origin).
    Cost: the active-set NNLS on an (N+1) × P matrix, about O(P N · #support vectors).
    """
    G = X * t[:, None]
    E = np.vstack([G.T, np.ones((1, len(t)))])
    f = np.zeros(E.shape[0])
    f[-1] = 1.0
    u, _ = nnls(E, f, maxiter=50 * E.shape[1])
    r = E @ u - f
    if -r[-1] <= 1e-12:
        return None
    w = -r[:-1] / r[-1]
    if np.any(G @ w < 1.0 - 1e-6):  # NNLS stopped short: not a valid separator
        return None
    return w


def _is_logistic(estimator):
    return estimator.loss == "logistic"


class PerceptronStudent(ClassifierMixin, BaseEstimator):
    """Student perceptron of the teacher-student toy: max-margin, or its smooth surrogate.

    A homogeneous linear classifier ``sign(w·x)`` (no intercept, like the teacher) for two
    classes. ``loss="hinge"`` with ``C=None`` (default) is the **maximum-margin** solution
    ``argmin ‖w‖ s.t. y_i w·x_i ≥ 1``, the student the replica theory of Sorscher et al.
    assumes (:func:`~skinfluence.toy.theory_test_error`), solved exactly. ``loss="logistic"``
    is the l2-penalised logistic loss ``Σ w_i log(1 + e^{−y_i w·x_i}) + ‖w‖²/(2C)``: twice
    differentiable, so :class:`~skinfluence.InfluenceScorer` works on it with its exact
    Hessian; as C → ∞ on separable data its direction tends to the max-margin one
    (Rosset, Zhu & Hastie 2004).

    Read more in the :ref:`User Guide <perceptron_student>`.

    Parameters
    ----------
    loss : {"hinge", "logistic"}, default="hinge"
        "hinge": max-margin (``C=None``) or soft-margin SVM (finite C). "logistic": the
        smooth variant with an influence adapter.
    C : float or None, default=None
        Inverse penalty strength. None: hard margin for "hinge", 1.0 for "logistic".
    tol : float, default=1e-8
        Tolerance of the soft-margin and logistic solvers.
    max_iter : int, default=1000
        Iterations of the soft-margin and logistic solvers.

    Attributes
    ----------
    classes_ : ndarray of shape (2,)
    coef_ : ndarray of shape (1, n_features)
        ``w``; ``decision_function(X) = X @ coef_.T``.
    intercept_ : ndarray of shape (1,)
        Always 0 (the student is homogeneous).
    C_ : float
        The penalty actually used (inf for the hard margin).
    n_iter_ : int
        Iterations of the logistic or soft-margin solver; 1 for the exact hard margin.
    margin_ : float
        Geometric margin ``min_i y_i w·x_i / ‖w‖`` over the training rows of positive
        weight (negative if one of them is misclassified).
    n_features_in_ : int

    See Also
    --------
    skinfluence.toy.MarginScorer : margin difficulty for pruning.
    skinfluence.toy.make_teacher_student : the data this student is meant for.

    Notes
    -----
    Hard margin: NNLS on an (N+1) × P matrix (N features, P rows), roughly
    O(P N S) time for S support vectors (S ≤ N + 1) and O(P N) memory. If the rows are
    not separable through the origin a :class:`NotSeparableWarning` is raised and a
    soft-margin SVM with C = 1 is fitted (liblinear). Logistic: scikit-learn's
    ``LogisticRegression(solver="newton-cholesky", fit_intercept=False)``,
    O(P N² + N³) per Newton step.

    References
    ----------
    Sorscher et al., "Beyond neural scaling laws: beating power law scaling via data
    pruning", NeurIPS 2022.
    Rosset, Zhu & Hastie, "Margin maximizing loss functions", NeurIPS 2004.

    Examples
    --------
    >>> from skinfluence.toy import PerceptronStudent, make_teacher_student
    >>> X, y, teacher = make_teacher_student(400, 20, random_state=0)
    >>> student = PerceptronStudent().fit(X, y)
    >>> bool(student.score(X, y) == 1.0)
    True
    """

    _parameter_constraints = {  # noqa: RUF012
        "loss": [StrOptions({"hinge", "logistic"})],
        "C": [Interval(numbers.Real, 0, None, closed="neither"), None],
        "tol": [Interval(numbers.Real, 0, None, closed="neither")],
        "max_iter": [Interval(numbers.Integral, 1, None, closed="left")],
    }

    #: The teacher has no bias and neither does the student (read by the influence adapter).
    fit_intercept = False

    def __init__(self, *, loss="hinge", C=None, tol=1e-8, max_iter=1000):
        self.loss = loss
        self.C = C
        self.tol = tol
        self.max_iter = max_iter

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, sample_weight=None):
        """Fit the student.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)
            Two classes.
        sample_weight : array-like of shape (n_samples,), default=None
            Row weights. The hard margin only distinguishes zero (row ignored) from
            positive weights: a constraint holds or it does not.

        Returns
        -------
        self : PerceptronStudent
        """
        X, y = validate_data(self, X, y, dtype=np.float64, reset=True)
        check_classification_targets(y)
        self.classes_ = np.unique(y)
        if len(self.classes_) != 2:
            n = len(self.classes_)
            raise ValueError(
                f"Only binary classification is supported: PerceptronStudent needs labels "
                f"of exactly two classes; y has {n} class{'' if n == 1 else 'es'}."
            )
        sample_weight = check_sample_weight_nonneg(sample_weight, len(y))
        t = np.where(y == self.classes_[1], 1.0, -1.0)
        if self.loss == "logistic":
            self.C_ = 1.0 if self.C is None else float(self.C)
            inner = LogisticRegression(
                C=self.C_,
                fit_intercept=False,
                solver="newton-cholesky",
                tol=self.tol,
                max_iter=self.max_iter,
            ).fit(X, t, sample_weight=sample_weight)
            w = inner.coef_.ravel()
            self.n_iter_ = int(np.max(inner.n_iter_))
        else:
            self.n_iter_ = 1  # the hard margin is one exact (active-set) solve
            w = None
            if self.C is None:
                rows = slice(None) if sample_weight is None else sample_weight > 0
                w = max_margin_direction(X[rows], t[rows])
                self.C_ = np.inf
                if w is None:
                    warnings.warn(
                        "The training rows are not linearly separable through the origin, "
                        "so no max-margin perceptron exists; fitted a soft-margin SVM with "
                        "C=1 instead. Pass C explicitly to choose the soft margin.",
                        NotSeparableWarning,
                        stacklevel=3,
                    )
            if w is None:
                self.C_ = 1.0 if self.C is None else float(self.C)
                svm = LinearSVC(
                    C=self.C_,
                    loss="hinge",
                    fit_intercept=False,
                    dual=True,
                    tol=self.tol,
                    max_iter=max(self.max_iter, 10_000),
                    random_state=0,  # liblinear's coordinate order: same data, same fit
                )
                w = svm.fit(X, t, sample_weight=sample_weight).coef_.ravel()
                self.n_iter_ = int(svm.n_iter_)
        self.coef_ = w.reshape(1, -1)
        self.intercept_ = np.zeros(1)
        norm = np.linalg.norm(w)
        counted = slice(None) if sample_weight is None else sample_weight > 0
        margins = (t * (X @ w))[counted]
        self.margin_ = float(margins.min() / norm) if norm > 0 and margins.size else 0.0
        return self

    def decision_function(self, X):
        """Compute ``X @ coef_.T``, positive for ``classes_[1]``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Rows to score.

        Returns
        -------
        decision : ndarray of shape (n_samples,)
            ``w·x`` for each row.
        """
        check_is_fitted(self)
        X = validate_data(self, X, dtype=np.float64, reset=False)
        return X @ self.coef_.ravel()

    def predict(self, X):
        """Predict the class of each row: ``classes_[1]`` where the decision function is > 0.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Rows to classify.

        Returns
        -------
        y_pred : ndarray of shape (n_samples,)
            Predicted labels, from ``classes_``.
        """
        positive = self.decision_function(X) > 0
        return self.classes_[positive.astype(int)]

    @available_if(_is_logistic)
    def predict_proba(self, X):
        """Logistic probabilities (``loss="logistic"`` only), shape (n_samples, 2)."""
        p = expit(self.decision_function(X))
        return np.column_stack([1.0 - p, p])

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_class = False
        return tags


class PerceptronStudentAdapter(LogisticRegressionAdapter):
    """Exact adapter of ``PerceptronStudent(loss="logistic")``: the binary logistic GLM.

    Objective in sum form ``Σ_i w_i log(1 + e^{−y_i η_i}) + ‖w‖²/(2C)``, η = w·x, no
    intercept: the binary case of :class:`~skinfluence.models.LogisticRegressionAdapter`,
    whose loss, gradients, Hessian and Newton-step factors it reuses.

    Parameters
    ----------
    estimator : PerceptronStudent
        A fitted ``PerceptronStudent(loss="logistic")``; the hinge loss has no Hessian and
        raises ``TypeError``.

    See Also
    --------
    PerceptronStudent : The estimator it describes.
    skinfluence.models.adapter_for : Finds this adapter for a fitted student.

    Examples
    --------
    >>> from skinfluence.models import adapter_for
    >>> from skinfluence.toy import PerceptronStudent, make_teacher_student
    >>> X, y, _ = make_teacher_student(200, 10, random_state=0)
    >>> adapter = adapter_for(PerceptronStudent(loss="logistic", C=1.0).fit(X, y))
    >>> type(adapter).__name__, adapter.n_params
    ('PerceptronStudentAdapter', 10)
    """

    def __init__(self, estimator):
        if getattr(estimator, "loss", None) != "logistic":
            raise TypeError(
                f"PerceptronStudent(loss={getattr(estimator, 'loss', None)!r}) is not twice "
                "differentiable, so it has no influence adapter; use "
                "PerceptronStudent(loss='logistic') (its smooth surrogate) or "
                "LeaveOneOutScorer, which only retrains."
            )
        LinearModelAdapter.__init__(self, estimator)
        self.classes_ = estimator.classes_
        self.binary = True
        self.penalty_ = "l2"

    def penalty_strength(self):
        """Return ``1 / C``, the l2 penalty on w in sum form.

        Returns
        -------
        strength : float
            The coefficient of ``‖w‖²/2``.
        """
        return 1.0 / self.estimator.C_

    def intercept_penalty_strength(self):
        """Return 0: the student has no intercept.

        Returns
        -------
        strength : float
            Always 0.0.
        """
        return 0.0

    def row_weights(self, y, sample_weight=None):
        """Return the weight of each row in the objective: ``sample_weight``, or 1.

        Parameters
        ----------
        y : array-like of shape (n_samples,)
            Labels (the student has no class weights).
        sample_weight : array-like of shape (n_samples,), default=None
            Weights given to ``fit``.

        Returns
        -------
        weights : ndarray of shape (n_samples,)
            ``w_i`` of the sum form.
        """
        return LinearModelAdapter.row_weights(self, y, sample_weight)


def _example():
    """A fitted ``PerceptronStudent(loss="logistic")`` for the common adapter tests."""
    from ..models import AdapterExample
    from ..models._registry import log_loss_per_sample

    rng = np.random.RandomState(0)
    X = rng.randn(60, 5)
    y = np.where(X @ rng.randn(5) + 0.5 * rng.randn(60) > 0, 1, -1)
    model = PerceptronStudent(loss="logistic", C=2.0, tol=1e-12).fit(X, y)
    return AdapterExample(
        model,
        X,
        y,
        penalty=lambda w: float(w @ w) / (2 * model.C_),  # ‖w‖²/(2C)
        reference_loss=log_loss_per_sample,
        invalid_y=np.array([0]),
        id="perceptron-student",
    )


register_adapter(
    PerceptronStudent,
    PerceptronStudentAdapter,
    name="PerceptronStudent(loss='logistic')",
    examples=[_example],
)
