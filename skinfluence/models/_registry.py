"""The registry of model families: ``adapter_for``, ``register_adapter`` and their examples.

A family is one entry: the estimator class (a class object, or a ``"module:qualname"`` string
for classes of optional libraries, compared by name so that nothing is imported until such an
estimator is met), the adapter factory, the name shown in the ``TypeError`` of
:func:`adapter_for` (generated from the entries, so it cannot go stale), and small fitted
:class:`AdapterExample` factories on which ``tests/models/test_adapter_common.py`` checks the
adapter contract of :mod:`skinfluence.models._base`. A family without examples fails the tests.
"""

import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from sklearn.frozen import FrozenEstimator
from sklearn.pipeline import Pipeline
from sklearn.utils.validation import check_is_fitted

from .._utils._labels import encode_labels, label_log_loss
from ._pipeline import PipelineAdapter


@dataclass(frozen=True)
class AdapterExample:
    """A small fitted estimator of a family and the data it was fitted on (for the tests).

    Parameters
    ----------
    estimator : object
        Fitted; what :func:`adapter_for` receives.
    X, y : arrays
        The training data.
    penalty : callable
        ``theta ↦ R(θ)``, the penalty of the sum-form objective in the adapter's ``params()``
        layout, a quadratic form ``θᵀAθ/2`` (every l2 penalty), written from the
        *estimator's* documented objective (not from the adapter), so that the tests check the
        adapter's Hessian and stationarity against it.
    reference_loss : callable or None
        ``(estimator, X, y) ↦`` per-sample loss from the estimator's own predictions (e.g.
        :func:`log_loss_per_sample`), or None when it has no such output.
    invalid_y : array or None
        Targets that ``encode_target`` must reject with ``ValueError`` (an unseen label, or the
        wrong number of targets); None where every target is valid (torch regressors).
    sample_weight : array or None
        The weights passed to ``fit`` (None: unweighted).
    exact_optimum : bool
        Whether θ̂ minimises J to solver precision (stationarity and minimality are checked
        only then; a briefly trained net is not at an optimum).
    penalty_share : callable or None
        ``theta ↦ q(θ)``, the penalty each unit of row share carries (families whose estimator
        minimises a mean loss plus a penalty, see "Penalty shares" in
        :mod:`skinfluence.models._base`), a quadratic form, from the estimator's documented
        objective; ``penalty`` is then the fixed part ``R₀`` (often ``lambda theta: 0.0``).
        None: no share.
    penalty_shares : array or None
        The shares ``c_i`` of the training rows, from the documentation; None means the
        sample weights (ones without them).
    refit : callable or None
        ``(X, y, sample_weight=None) ↦`` the estimator fitted on other rows the way the
        example was (the leave-one-out check of the common tests); None: ``clone`` and
        ``fit``. SGD examples polish their fit to the documented optimum here.
    id : str
        Test id.
    loss_tolerance : tuple of float, default=(1e-7, 1e-10)
        ``(rtol, atol)`` of the adapter's loss against ``reference_loss`` (models that
        predict in float32, as XGBoost, need more).

    See Also
    --------
    register_adapter : registers a family with factories of these examples.
    AdapterFamily : the registry entry that holds them.

    Examples
    --------
    Ridge's penalty ``α‖w‖²`` at α = 1, the intercept (θ's last entry) unpenalised:

    >>> from sklearn.datasets import load_diabetes
    >>> from sklearn.linear_model import Ridge
    >>> from skinfluence.models import AdapterExample
    >>> X, y = load_diabetes(return_X_y=True)
    >>> example = AdapterExample(
    ...     Ridge(alpha=1.0).fit(X, y), X, y, penalty=lambda theta: theta[:-1] @ theta[:-1]
    ... )
    >>> example.exact_optimum, example.id
    (True, 'example')
    """

    estimator: object
    X: np.ndarray
    y: np.ndarray
    penalty: Callable
    invalid_y: np.ndarray | None = None
    sample_weight: np.ndarray | None = None
    reference_loss: Callable | None = None
    exact_optimum: bool = True
    penalty_share: Callable | None = None
    penalty_shares: np.ndarray | None = None
    refit: Callable | None = None
    id: str = "example"
    loss_tolerance: tuple = (1e-7, 1e-10)

    def shares(self):
        """Return the documented shares ``c_i`` of the training rows (see ``penalty_shares``).

        Returns
        -------
        shares : ndarray of shape (n_samples,)
            ``penalty_shares``, else the sample weights, else ones.
        """
        if self.penalty_shares is not None:
            return np.asarray(self.penalty_shares, dtype=np.float64)
        if self.sample_weight is not None:
            return np.asarray(self.sample_weight, dtype=np.float64)
        return np.ones(len(self.y))

    def total_penalty(self, theta):
        """Return ``R(θ) = R₀(θ) + Σ_i c_i q(θ)`` on the training rows.

        Parameters
        ----------
        theta : ndarray of shape (n_params,)
            Parameters in the adapter's layout.

        Returns
        -------
        penalty : float
            The whole penalty of the sum-form objective.
        """
        R = self.penalty(theta)
        if self.penalty_share is not None:
            R = R + self.shares().sum() * self.penalty_share(theta)
        return R


def log_loss_per_sample(estimator, X, y):
    """``−log p(y_i | x_i)`` from ``estimator.predict_proba`` (reference for classifiers)."""
    return label_log_loss(estimator.predict_proba(X), encode_labels(estimator.classes_, y))


def squared_error_per_sample(estimator, X, y):
    """``Σ_k (y_ik − ŷ_ik)²`` from ``estimator.predict`` (reference for least squares)."""
    pred = np.asarray(estimator.predict(X), dtype=np.float64)
    return ((np.asarray(y, dtype=np.float64) - pred) ** 2).reshape(len(pred), -1).sum(axis=1)


@dataclass(frozen=True)
class AdapterFamily:
    """One registry entry: a model family and how to adapt it (see :func:`register_adapter`).

    Parameters
    ----------
    key : str
        ``"module:qualname"`` of the estimator class.
    factory : callable
        ``factory(estimator)`` returns the adapter.
    name : str
        Shown in the ``TypeError`` of :func:`adapter_for`.
    accepts_subclasses : bool, default=False
        Whether subclasses of the class are adapted too.
    requires : tuple of str, default=()
        Optional libraries the family needs.
    examples : tuple of callables, default=()
        Each ``() -> AdapterExample``, for the common adapter tests.

    See Also
    --------
    register_adapter : creates the entries.
    registered_families : lists them.

    Examples
    --------
    >>> from skinfluence.models import registered_families
    >>> skorch = next(f for f in registered_families() if f.name == "skorch NeuralNetRegressor")
    >>> skorch.key, skorch.accepts_subclasses, skorch.label
    ('skorch.regressor:NeuralNetRegressor', True, 'skorch NeuralNetRegressor (needs torch, skorch)')
    """

    key: str
    factory: Callable
    name: str
    accepts_subclasses: bool = False
    requires: tuple = ()
    examples: tuple = field(default=(), repr=False)

    @property
    def label(self):
        """The name as the ``TypeError`` of :func:`adapter_for` prints it."""
        return self.name + (f" (needs {', '.join(self.requires)})" if self.requires else "")


_FAMILIES = {}  # key "module:qualname" -> AdapterFamily, in registration order


def _key(cls_or_path):
    if isinstance(cls_or_path, type):
        return f"{cls_or_path.__module__}:{cls_or_path.__qualname__}"
    if isinstance(cls_or_path, str) and cls_or_path.count(":") == 1:
        return cls_or_path
    raise TypeError(
        f"Register a class or a 'module:qualname' string; got {cls_or_path!r} (e.g. "
        "'skorch.classifier:NeuralNetClassifier')."
    )


def register_adapter(
    cls_or_path,
    factory,
    *,
    name=None,
    accepts_subclasses=False,
    requires=(),
    examples=(),
):
    """Register ``factory(estimator) -> ModelAdapter`` for a fitted estimator class.

    Parameters
    ----------
    cls_or_path : type or str
        The estimator class, or ``"module:qualname"`` for a class of an optional library
        (matched by name: its module is never imported by the registry).
    factory : callable
        ``factory(estimator)`` returns the adapter (usually the adapter class itself).
    name : str, default=None
        Shown in :func:`adapter_for`'s ``TypeError``; default the class name.
    accepts_subclasses : bool, default=False
        Also adapt subclasses (e.g. users' own skorch nets). False: exact class only, since a
        subclass may change the objective.
    requires : tuple of str, default=()
        Optional libraries the family needs (printed in the error, skipped by the tests when
        absent).
    examples : sequence of callables, default=()
        Each ``() -> AdapterExample``; the common adapter tests run on all of them and fail
        for a family that has none.

    Returns
    -------
    family : AdapterFamily
        The entry (replacing any entry of the same class).

    See Also
    --------
    adapter_for : looks families up.
    unregister_adapter : removes one.
    registered_adapter : registers one for a ``with`` block.

    Examples
    --------
    >>> from sklearn.linear_model import Ridge
    >>> from skinfluence.models import RidgeAdapter, register_adapter, unregister_adapter
    >>> class MyRidge(Ridge):
    ...     pass
    >>> family = register_adapter(MyRidge, RidgeAdapter, name="MyRidge")
    >>> family.key.endswith(":MyRidge")
    True
    >>> unregister_adapter(MyRidge) is family
    True
    """
    key = _key(cls_or_path)
    family = AdapterFamily(
        key=key,
        factory=factory,
        name=name or key.rsplit(":", 1)[1].rsplit(".", 1)[-1],
        accepts_subclasses=bool(accepts_subclasses),
        requires=tuple(requires),
        examples=tuple(examples),
    )
    _FAMILIES[key] = family
    return family


def unregister_adapter(cls_or_path):
    """Remove and return the registry entry of a class.

    Parameters
    ----------
    cls_or_path : type or str
        The estimator class, or its ``"module:qualname"``, as registered.

    Returns
    -------
    family : AdapterFamily
        The entry removed.

    Raises
    ------
    KeyError
        The class has no entry.

    See Also
    --------
    register_adapter : adds an entry.

    Examples
    --------
    The example of :func:`register_adapter` removes the entry it adds; a class without an
    entry raises:

    >>> from skinfluence.models import unregister_adapter
    >>> unregister_adapter("mypackage.models:MyNet")
    Traceback (most recent call last):
    ...
    KeyError: 'mypackage.models:MyNet'
    """
    return _FAMILIES.pop(_key(cls_or_path))


@contextlib.contextmanager
def registered_adapter(cls_or_path, factory, **kwargs):
    """Register an adapter for the duration of a ``with`` block (a context manager).

    On exit the registry is restored as it was, including an entry of the same class that the
    block shadowed (for tests).

    Parameters
    ----------
    cls_or_path : type or str
        The estimator class, or ``"module:qualname"``.
    factory : callable
        ``factory(estimator)`` returns the adapter.
    **kwargs : dict
        The other parameters of :func:`register_adapter`.

    Yields
    ------
    family : AdapterFamily
        The entry, registered.

    See Also
    --------
    register_adapter : registers for good.

    Examples
    --------
    Inside the ``with`` block the subclass has an adapter; after it, none:

    >>> from sklearn.linear_model import Ridge
    >>> from skinfluence.models import RidgeAdapter, registered_adapter, supported_families
    >>> class MyRidge(Ridge):
    ...     pass
    >>> with registered_adapter(MyRidge, RidgeAdapter, name="MyRidge"):
    ...     "MyRidge" in supported_families()
    True
    >>> "MyRidge" in supported_families()
    False
    """
    key = _key(cls_or_path)
    previous = _FAMILIES.get(key)
    family = register_adapter(cls_or_path, factory, **kwargs)
    try:
        yield family
    finally:
        if previous is None:
            _FAMILIES.pop(key, None)
        else:
            _FAMILIES[key] = previous


def registered_families():
    """Return the registered families.

    Returns
    -------
    families : tuple of AdapterFamily
        In registration order.

    See Also
    --------
    supported_families : the same as one sentence.

    Examples
    --------
    >>> from skinfluence.models import registered_families
    >>> "Ridge" in [family.name for family in registered_families()]
    True
    """
    return tuple(_FAMILIES.values())


def supported_families():
    """Return the families :func:`adapter_for` accepts, as one sentence.

    The sentence is generated from the registry, so the ``TypeError`` of
    :func:`adapter_for` that prints it cannot go stale.

    Returns
    -------
    sentence : str
        The families' names, each with the optional libraries it needs.

    See Also
    --------
    registered_families : the entries themselves.

    Examples
    --------
    The sentence starts with the linear families, registered first:

    >>> from skinfluence.models import supported_families
    >>> supported_families().startswith("LogisticRegression (l2 or no penalty), Ridge")
    True
    """
    labels = list(dict.fromkeys(f.label for f in _FAMILIES.values()))
    return ", ".join([*labels, "or a Pipeline ending in one of these"])


# Models whose training objective has no gradient at its minimiser (matched by class name, so
# nothing is imported): influence functions do not apply, and the TypeError says why.
_HINGE = "the hinge loss has no derivative at margin 1, where the support vectors sit"
_NON_SMOOTH = {
    "sklearn.linear_model._quantile:QuantileRegressor": (
        "the pinball loss has no derivative at residual 0, where a quantile fit puts rows"
    ),
    "sklearn.svm._classes:SVC": _HINGE,
    "sklearn.svm._classes:NuSVC": _HINGE,
    "sklearn.svm._classes:SVR": "the epsilon-insensitive loss has no derivative at |r| = ε",
    "sklearn.svm._classes:NuSVR": "the epsilon-insensitive loss has no derivative at |r| = ε",
}
# Linear SVMs are non-smooth with their first-order losses only; the squared ones are smooth.
_NON_SMOOTH_LOSS = {
    "sklearn.svm._classes:LinearSVC": {"hinge": _HINGE},
    "sklearn.svm._classes:LinearSVR": {
        "epsilon_insensitive": "the epsilon-insensitive loss has no derivative at |r| = ε"
    },
}


def _non_smooth_reason(estimator):
    """Why the estimator's objective is not differentiable at its minimiser, or None."""
    key = _key(type(estimator))
    by_loss = _NON_SMOOTH_LOSS.get(key, {})
    return _NON_SMOOTH.get(key) or by_loss.get(getattr(estimator, "loss", None))


def _find_family(estimator):
    mro = type(estimator).__mro__
    family = _FAMILIES.get(_key(mro[0]))
    if family is not None:
        return family
    for cls in mro[1:]:  # registered families that accept their subclasses
        family = _FAMILIES.get(_key(cls))
        if family is not None and family.accepts_subclasses:
            return family
    return None


def adapter_for(estimator):
    """Return the :class:`~skinfluence.models.ModelAdapter` of a fitted estimator.

    Parameters
    ----------
    estimator : object
        A fitted estimator of a registered family (:func:`supported_families`), possibly
        wrapped in ``sklearn.frozen.FrozenEstimator`` or at the end of a ``Pipeline``.

    Returns
    -------
    adapter : ModelAdapter

    Raises
    ------
    TypeError
        The estimator has no gradient adapter; the message names the supported families and
        the scorers that need no gradients.
    sklearn.exceptions.NotFittedError
        The estimator is not fitted.

    See Also
    --------
    supported_families : the families it accepts.
    register_adapter : add a family.
    ModelAdapter : what the adapter provides.

    Examples
    --------
    A model in a ``FrozenEstimator`` is unwrapped (a ``Pipeline`` is adapted through its
    final step: :class:`PipelineAdapter`):

    >>> from sklearn.datasets import load_iris
    >>> from sklearn.frozen import FrozenEstimator
    >>> from sklearn.linear_model import LogisticRegression
    >>> from skinfluence.models import adapter_for
    >>> X, y = load_iris(return_X_y=True)
    >>> model = LogisticRegression(max_iter=1000).fit(X, y)
    >>> adapter_for(FrozenEstimator(model)).n_params  # (4 features + intercept) × 3 classes
    15
    """
    if isinstance(estimator, FrozenEstimator):
        return adapter_for(estimator.estimator)
    if isinstance(estimator, Pipeline):
        check_is_fitted(estimator)
        return PipelineAdapter.of(estimator, adapter_for(estimator.steps[-1][1]))
    family = _find_family(estimator)
    reason = _non_smooth_reason(estimator)  # before the family: LinearSVC(loss="hinge")
    if reason is not None:
        raise TypeError(
            f"{type(estimator).__name__} has a non-smooth training objective ({reason}), so "
            "influence functions, which differentiate it, do not apply. Use "
            "MemorizationScorer or LeaveOneOutScorer, which only retrain. Influence supports: "
            f"{supported_families()}."
        )
    if family is None:
        raise TypeError(
            f"{type(estimator).__name__} has no gradient adapter: influence needs a model with "
            f"gradients. Supported: {supported_families()}. For any other estimator use "
            "MemorizationScorer or LeaveOneOutScorer, which only retrain."
        )
    return family.factory(estimator)
