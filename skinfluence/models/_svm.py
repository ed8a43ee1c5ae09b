"""Adapters of the linear SVMs with squared losses: ``LinearSVC`` and ``LinearSVR``.

liblinear minimises, for ``LinearSVC(loss="squared_hinge", penalty="l2")``,
``C Σ_i w_i max(0, 1 − t_i η_i)² + ½‖w‖²`` (one such problem per class, one-vs-rest, for more
than two classes) and, for ``LinearSVR(loss="squared_epsilon_insensitive")``,
``C Σ_i w_i max(0, |y_i − η_i| − ε)² + ½‖w‖²``. With ``fit_intercept`` liblinear appends a
constant feature of value ``s = intercept_scaling`` whose weight ``w_b`` is penalised like
the others, and reports ``intercept_ = s w_b``: the penalty on the intercept is ``b²/(2 s²)``.
In sum form (divided by C) both are ``Σ_i w_i ℓ_i + ‖W‖²/(2C) + ‖b‖²/(2C s²)``.

Both losses are piecewise quadratic: once differentiable, with a second derivative that jumps
where a row reaches the margin (``t η = 1``, ``|r| = ε``). The adapters use the *generalised
Hessian* (Mangasarian 2002), ``∂²ℓ/∂η² = 2`` on rows inside the loss's active region and 0
elsewhere, which is the Hessian wherever it exists (every row not exactly at the margin) and
what liblinear's own trust-region Newton solver uses. Influence is then exact to first order as
long as removing a row moves no other row across the margin.
"""

import numpy as np
from sklearn.svm import LinearSVC, LinearSVR

from .._utils._docstring import inherit_docstrings
from .._utils._labels import encode_labels
from ._linear import LinearModelAdapter
from ._linear_examples import _classification, _l2_penalty
from ._registry import AdapterExample, register_adapter


def _check_liblinear(estimator, loss, penalty_name="penalty"):
    """TypeError unless the estimator minimises the smooth l2 objective this module adapts."""
    name = type(estimator).__name__
    if estimator.loss != loss:
        raise TypeError(
            f"{name}(loss={estimator.loss!r}) is not supported; influence needs "
            f"loss={loss!r}. Use LeaveOneOutScorer or MemorizationScorer otherwise."
        )
    if getattr(estimator, penalty_name, "l2") != "l2":
        raise TypeError(
            f"{name}(penalty={estimator.penalty!r}): the l1 penalty is not differentiable at "
            "the zero coefficients it produces; influence needs penalty='l2'. Use "
            "LeaveOneOutScorer or MemorizationScorer for l1."
        )


@inherit_docstrings
class _LiblinearAdapter(LinearModelAdapter):
    """liblinear's l2 penalty in sum form: ``‖W‖²/(2C)``, and ``b²/(2C s²)`` on the intercept."""

    def penalty_strength(self):
        return 1.0 / self.estimator.C

    def intercept_penalty_strength(self):
        return 1.0 / (self.estimator.C * self.estimator.intercept_scaling**2)


@inherit_docstrings
class LinearSVCAdapter(_LiblinearAdapter):
    """Adapter of scikit-learn's ``LinearSVC`` with the squared hinge loss and l2 penalty.

    Objective in sum form ``Σ_i w_i ℓ_i + ‖W‖²/(2C) + ‖b‖²/(2C s²)``, with
    ``ℓ_i = Σ_k c_ik max(0, 1 − t_ik η_ik)²``: one output (``t = +1`` for ``classes_[1]``,
    −1 otherwise) for two classes, one per class for more (one-vs-rest: the K binary problems
    liblinear solves are independent, so their sum is one objective). ``s`` is
    ``intercept_scaling`` (liblinear penalises the intercept, see
    :mod:`skinfluence.models._svm`), ``w_i`` the sample weight and ``c_ik`` the class weight
    liblinear applies to row i in problem k: ``class_weight[y_i]`` for two classes; for more,
    ``class_weight[k]`` on the rows of class k and 1 on the others (liblinear weights the
    positive class of each one-vs-rest problem only). ``class_weight="balanced"`` is resolved
    as scikit-learn does, from the training labels, which the adapter does not have: it is
    refused (pass the weights as a dict).

    The squared hinge is piecewise quadratic; ``hessian`` is its generalised Hessian
    (curvature 2 on rows with ``t η < 1``, 0 on the others).

    Parameters
    ----------
    estimator : LinearSVC
        Fitted with ``loss="squared_hinge"``, ``penalty="l2"`` and
        ``multi_class="ovr"``.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        The estimator's classes.

    Raises
    ------
    TypeError
        ``loss="hinge"`` (not differentiable at the margin), ``penalty="l1"``,
        ``multi_class="crammer_singer"`` (a max over classes, not differentiable where two
        classes tie) or ``class_weight="balanced"``.

    See Also
    --------
    LinearSVRAdapter : the regression counterpart.
    LogisticRegressionAdapter : the smooth classifier (liblinear penalises its intercept alike).

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from sklearn.svm import LinearSVC
    >>> from skinfluence.models import adapter_for
    >>> X, y = load_iris(return_X_y=True)
    >>> adapter = adapter_for(LinearSVC(C=0.1).fit(X, y))
    >>> adapter.n_outputs, adapter.n_params  # one-vs-rest: 3 × (4 coefficients + intercept)
    (3, 15)
    """

    output_link = "scores"

    def __init__(self, estimator):
        _check_liblinear(estimator, "squared_hinge")
        if estimator.multi_class != "ovr":
            raise TypeError(
                "LinearSVC(multi_class='crammer_singer') minimises a max over classes, which "
                "is not differentiable where two classes tie; influence needs "
                "multi_class='ovr'. Use LeaveOneOutScorer or MemorizationScorer otherwise."
            )
        if isinstance(estimator.class_weight, str):
            raise TypeError(
                "LinearSVC(class_weight='balanced') takes its weights from the training labels "
                "at fit time and does not store them; pass them as a dict "
                "(sklearn.utils.class_weight.compute_class_weight gives the same values)."
            )
        super().__init__(estimator)
        self.classes_ = estimator.classes_
        cw = estimator.class_weight or {}
        self._class_weights = np.array([float(cw.get(c, 1.0)) for c in self.classes_])

    def encode_target(self, y):
        """Return the class index of each row.

        Parameters
        ----------
        y : array-like of shape (n_samples,)
            Class labels.

        Returns
        -------
        codes : ndarray of shape (n_samples,)
            Indices into ``classes_``.

        Raises
        ------
        ValueError
            A label the model never saw.
        """
        y = np.asarray(y)
        if y.ndim != 1:
            raise ValueError(f"y must be 1-D class labels; got shape {y.shape}.")
        return encode_labels(self.classes_, y)

    def _signs_and_weights(self, codes):
        """±1 targets t (n, K) and class weights c (n, K) of each row in each problem."""
        n, K = len(codes), self.n_outputs
        cw = self._class_weights
        if K == 1:
            return (2.0 * codes - 1.0)[:, None], cw[codes][:, None]
        t = -np.ones((n, K))
        t[np.arange(n), codes] = 1.0
        c = np.where(t > 0, cw[None, :], 1.0)
        return t, c

    def _loss_from_outputs(self, eta, t):
        t, c = self._signs_and_weights(t)
        return (c * np.maximum(0.0, 1.0 - t * eta) ** 2).sum(axis=1)

    def output_gradients(self, eta, t):
        t, c = self._signs_and_weights(t)
        return -2.0 * c * t * np.maximum(0.0, 1.0 - t * eta)

    def output_derivatives(self, eta, t):
        t, c = self._signs_and_weights(t)
        margin = 1.0 - t * eta
        R = -2.0 * c * t * np.maximum(0.0, margin)
        n, K = eta.shape
        S = np.zeros((n, K, K))
        S[:, np.arange(K), np.arange(K)] = 2.0 * c * (margin > 0)  # the generalised Hessian
        return R, S


@inherit_docstrings
class LinearSVRAdapter(_LiblinearAdapter):
    """Adapter of ``LinearSVR(loss="squared_epsilon_insensitive")``.

    Objective in sum form ``Σ_i w_i max(0, |y_i − η_i| − ε)² + ‖w‖²/(2C) + b²/(2C s²)``,
    ``s`` = ``intercept_scaling`` (liblinear penalises the intercept). The loss is piecewise
    quadratic; ``hessian`` is its generalised Hessian (curvature 2 on rows outside the tube
    ``|r| > ε``, 0 inside).

    Parameters
    ----------
    estimator : LinearSVR
        Fitted with ``loss="squared_epsilon_insensitive"``.

    Raises
    ------
    TypeError
        ``loss="epsilon_insensitive"`` (not differentiable at ``|r| = ε``).

    See Also
    --------
    LinearSVCAdapter : the classifier.
    RidgeAdapter : ``ε = 0`` with an unpenalised intercept.

    Examples
    --------
    >>> from sklearn.datasets import load_diabetes
    >>> from sklearn.svm import LinearSVR
    >>> from skinfluence.models import adapter_for
    >>> X, y = load_diabetes(return_X_y=True)
    >>> model = LinearSVR(loss="squared_epsilon_insensitive", epsilon=5.0).fit(X, y)
    >>> adapter_for(model).n_params
    11
    """

    output_link = "identity"

    def __init__(self, estimator):
        _check_liblinear(estimator, "squared_epsilon_insensitive")
        super().__init__(estimator)

    def encode_target(self, y):
        y = np.asarray(y, dtype=np.float64)
        if y.ndim != 1:
            raise ValueError(f"y must be 1-D targets; got shape {y.shape}.")
        return y[:, None]

    def _excess(self, eta, t):
        r = t - eta
        return r, np.maximum(0.0, np.abs(r) - self.estimator.epsilon)

    def _loss_from_outputs(self, eta, t):
        return (self._excess(eta, t)[1] ** 2).sum(axis=1)

    def output_gradients(self, eta, t):
        r, excess = self._excess(eta, t)
        return -2.0 * np.sign(r) * excess

    def output_derivatives(self, eta, t):
        r, excess = self._excess(eta, t)
        S = (2.0 * (excess > 0))[:, :, None]  # the generalised Hessian
        return -2.0 * np.sign(r) * excess, S


# -- examples for the common adapter tests ---------------------------------------------------
def squared_hinge_per_sample(estimator, X, y):
    """``Σ_k c_ik max(0, 1 − t_ik f_k(x_i))²`` from ``decision_function`` (reference loss)."""
    codes = encode_labels(estimator.classes_, np.asarray(y))
    f = np.asarray(estimator.decision_function(X), dtype=np.float64).reshape(len(codes), -1)
    cw = estimator.class_weight or {}
    weights = np.array([float(cw.get(c, 1.0)) for c in estimator.classes_])
    if f.shape[1] == 1:
        t, c = (2.0 * codes - 1.0)[:, None], weights[codes][:, None]
    else:
        t = np.where(np.arange(f.shape[1])[None] == codes[:, None], 1.0, -1.0)
        c = np.where(t > 0, weights[None], 1.0)  # liblinear weights each problem's positives
    return (c * np.maximum(0.0, 1.0 - t * f) ** 2).sum(axis=1)


def squared_epsilon_per_sample(estimator, X, y):
    """``max(0, |y_i − f(x_i)| − ε)²`` from ``predict`` (reference loss of ``LinearSVR``)."""
    r = np.asarray(y, dtype=np.float64) - estimator.predict(X)
    return np.maximum(0.0, np.abs(r) - estimator.epsilon) ** 2


def linear_svc_example(n_classes=2, C=1.0, weighted=False, **params):
    """``LinearSVC(C=C, **params)`` on 90 rows, 4 features, to liblinear's tightest tolerance."""
    X, y, sw = _classification(90, n_classes, weighted, weight_seed=3)
    params = {"dual": False, "tol": 1e-12, "max_iter": 100_000, **params}
    model = LinearSVC(C=C, **params).fit(X, y, sample_weight=sw)
    K = 1 if n_classes == 2 else n_classes
    s = params.get("intercept_scaling", 1.0)
    # liblinear: C Σ w_i c_ik max(0, 1 − t η)² + ½‖W‖² + ½‖b/s‖² (b is s times the weight of a
    # constant feature s), i.e. ‖W‖²/(2C) + ‖b‖²/(2C s²) in sum form.
    icpt = 1.0 / (C * s**2) if params.get("fit_intercept", True) else 0.0
    return AdapterExample(
        model,
        X,
        y,
        penalty=_l2_penalty(1.0 / C, X.shape[1], K, icpt),
        sample_weight=sw,
        reference_loss=squared_hinge_per_sample,
        invalid_y=np.array([n_classes + 3]),
        id=f"LinearSVC-K{n_classes}-C{C}-" + "-".join(f"{k}={v}" for k, v in params.items()),
    )


def linear_svr_example(C=1.0, weighted=False, **params):
    """``LinearSVR(loss="squared_epsilon_insensitive", C=C, **params)`` on 60 rows."""
    rng = np.random.RandomState(5)
    X = rng.randn(60, 4)
    y = X @ np.array([1.0, -2.0, 0.5, 0.0]) + 0.5 + 0.5 * rng.randn(60)
    sw = rng.uniform(0.5, 2.0, 60) if weighted else None
    params = {"dual": False, "tol": 1e-12, "max_iter": 100_000, "epsilon": 0.3, **params}
    model = LinearSVR(loss="squared_epsilon_insensitive", C=C, **params).fit(X, y, sw)
    s = params.get("intercept_scaling", 1.0)
    icpt = 1.0 / (C * s**2) if params.get("fit_intercept", True) else 0.0
    return AdapterExample(
        model,
        X,
        y,
        penalty=_l2_penalty(1.0 / C, X.shape[1], 1, icpt),
        sample_weight=sw,
        reference_loss=squared_epsilon_per_sample,
        invalid_y=np.zeros((2, 2)),
        id=f"LinearSVR-C{C}-weighted{weighted}-" + "-".join(f"{k}={v}" for k, v in params.items()),
    )


register_adapter(
    LinearSVC,
    LinearSVCAdapter,
    name="LinearSVC (squared hinge, l2, one-vs-rest)",
    examples=[
        linear_svc_example,
        lambda: linear_svc_example(C=0.5, intercept_scaling=3.0, weighted=True),
        lambda: linear_svc_example(n_classes=3, class_weight={0: 2.0}, weighted=True),
        lambda: linear_svc_example(n_classes=3, fit_intercept=False, C=0.3),
    ],
)
register_adapter(
    LinearSVR,
    LinearSVRAdapter,
    name="LinearSVR (squared epsilon-insensitive)",
    examples=[
        linear_svr_example,
        lambda: linear_svr_example(C=0.2, weighted=True, intercept_scaling=2.0),
        lambda: linear_svr_example(fit_intercept=False),
    ],
)
