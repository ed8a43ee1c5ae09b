"""``adapter_for``: find the adapter of a fitted estimator."""

from sklearn.pipeline import Pipeline
from sklearn.utils.validation import check_is_fitted

from ._linear import LinearRegressionAdapter, LogisticRegressionAdapter, RidgeAdapter
from ._pipeline import PipelineAdapter

# (class path, adapter factory). Resolved by name so that optional families (torch, the toy)
# register without importing their dependencies here. Exact class match, not isinstance:
# subclasses may change the objective.
_ADAPTERS = {
    "sklearn.linear_model._logistic.LogisticRegression": LogisticRegressionAdapter,
    "sklearn.linear_model._ridge.Ridge": RidgeAdapter,
    "sklearn.linear_model._base.LinearRegression": LinearRegressionAdapter,
}
# Families whose adapter lives in a module with optional dependencies: module prefix -> loader.
_LAZY_FAMILIES = {}

SUPPORTED_FAMILIES = (
    "LogisticRegression (l2 or no penalty), Ridge, LinearRegression, a Pipeline ending in one "
    "of these, skorch NeuralNet* (with the 'torch' extra)"
)


def register_adapter(class_path, factory):
    """Register ``factory(estimator) -> ModelAdapter`` for the class at ``class_path``."""
    _ADAPTERS[class_path] = factory


def register_lazy_family(module_prefix, loader):
    """``loader()`` imports a module that registers adapters for classes under the prefix."""
    _LAZY_FAMILIES[module_prefix] = loader


def _class_path(obj):
    cls = type(obj)
    return f"{cls.__module__}.{cls.__qualname__}"


def adapter_for(estimator):
    """Return the :class:`~skinfluence.models.ModelAdapter` of a fitted estimator.

    Parameters
    ----------
    estimator : object
        A fitted supported estimator (see ``SUPPORTED_FAMILIES``), possibly wrapped in
        ``sklearn.frozen.FrozenEstimator`` or at the end of a ``Pipeline``.

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

    Examples
    --------
    >>> from sklearn.datasets import load_breast_cancer
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sklearn.preprocessing import scale
    >>> from skinfluence.models import adapter_for
    >>> X, y = load_breast_cancer(return_X_y=True)
    >>> adapter = adapter_for(LogisticRegression().fit(scale(X), y))
    >>> adapter.n_params
    31
    """
    if type(estimator).__name__ == "FrozenEstimator":
        return adapter_for(estimator.estimator)
    if isinstance(estimator, Pipeline):
        check_is_fitted(estimator)
        inner = adapter_for(estimator.steps[-1][1])
        return PipelineAdapter(estimator, inner)
    path = _class_path(estimator)
    if path not in _ADAPTERS:
        for prefix, loader in _LAZY_FAMILIES.items():
            if path.startswith(prefix):
                loader()
                break
    factory = _ADAPTERS.get(path)
    if factory is None:
        for cls in type(estimator).__mro__[1:]:  # registered families' own subclasses
            factory = _ADAPTERS.get(f"{cls.__module__}.{cls.__qualname__}")
            if factory is not None and getattr(factory, "accepts_subclasses", False):
                break
            factory = None
    if factory is None:
        raise TypeError(
            f"{type(estimator).__name__} has no gradient adapter: influence needs a model with "
            f"gradients. Supported: {SUPPORTED_FAMILIES}. For any other estimator use "
            "MemorizationScorer or LeaveOneOutScorer, which only retrain."
        )
    return factory(estimator)
