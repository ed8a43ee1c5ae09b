"""``read_ensemble``: the reader registry of boosted tree models (by class path, lazily).

A reader is ``reader(estimator, X=None, y=None, sample_weight=None) -> TreeEnsemble``
(``X=None``: the structure only, no training rows and no check, which is what
:func:`~skinfluence.models.adapter_for` reads; with data: checked with
:func:`~skinfluence.trees.check_ensemble`), registered under the
``"module:qualname"`` of the estimator class, matched against the class and its bases by
name, so that a LightGBM or XGBoost reader is found without importing either library until
such a model is met. A :class:`~sklearn.pipeline.Pipeline` ending in a supported model is
read as that model on the transformed rows: its earlier steps are a fixed feature map, as
for the linear models (:mod:`skinfluence.models._pipeline`).
"""

from sklearn.frozen import FrozenEstimator
from sklearn.pipeline import Pipeline

_READERS = {}
_READER_BY_CLASS = {}  # class → its reader or None, from _READERS


def register_reader(class_path, reader, *, name=None):
    """Register ``reader`` for the estimator class at ``class_path`` and its subclasses.

    Parameters
    ----------
    class_path : str
        ``"module:qualname"`` of the class, e.g. ``"lightgbm.sklearn:LGBMModel"``.
    reader : callable
        ``reader(estimator, X=None, y=None, sample_weight=None) -> TreeEnsemble``; with
        ``X=None`` it reads the structure only (``structure_only`` training fields).
    name : str, default=None
        Shown in messages (default: the class name).

    See Also
    --------
    register_tree_model : registers a reader and its adapter family together.

    Examples
    --------
    >>> from skinfluence.trees import is_tree_ensemble, register_reader
    >>> from skinfluence.trees._sklearn import read_gradient_boosting
    >>> register_reader(
    ...     "sklearn.ensemble._gb:GradientBoostingRegressor", read_gradient_boosting
    ... )
    >>> from sklearn.ensemble import GradientBoostingRegressor
    >>> is_tree_ensemble(GradientBoostingRegressor())
    True
    """
    _READERS[class_path] = (reader, name or class_path.rsplit(":", 1)[-1])
    _READER_BY_CLASS.clear()


def _class_paths(cls):
    for klass in cls.__mro__:
        yield f"{klass.__module__}:{klass.__qualname__}"


def _final_estimator(estimator):
    while True:
        if isinstance(estimator, FrozenEstimator):
            estimator = estimator.estimator
        elif isinstance(estimator, Pipeline):
            estimator = estimator.steps[-1][1]
        else:
            return estimator


def _reader_for(estimator):
    cls = type(_final_estimator(estimator))
    # Looked up once per class (the scorers ask on every fit, influence and tags call);
    # emptied by register_reader.
    if cls not in _READER_BY_CLASS:
        _READER_BY_CLASS[cls] = next(
            (_READERS[path][0] for path in _class_paths(cls) if path in _READERS), None
        )
    return _READER_BY_CLASS[cls]


def is_tree_ensemble(estimator):
    """Whether ``estimator`` (or the last step of a Pipeline) has a boosted-tree reader.

    Parameters
    ----------
    estimator : object
        Fitted or not; nothing is read.

    Returns
    -------
    bool

    See Also
    --------
    read_ensemble : reads such a model.

    Examples
    --------
    >>> from sklearn.ensemble import HistGradientBoostingClassifier
    >>> from sklearn.linear_model import LogisticRegression
    >>> from skinfluence.trees import is_tree_ensemble
    >>> is_tree_ensemble(HistGradientBoostingClassifier()), is_tree_ensemble(LogisticRegression())
    (True, False)
    """
    return _reader_for(estimator) is not None


def supported_tree_models():
    """Names of the registered boosted-tree model classes (for messages and docs)."""
    return sorted({name for _, name in _READERS.values()})


class TransformedApply:
    """Leaf ids of rows through a fixed feature map: ``apply(transform(X))`` (picklable)."""

    def __init__(self, transform, apply):
        self.transform = transform
        self.apply = apply

    def __call__(self, X):
        return self.apply(self.transform.transform(X))


def read_ensemble(estimator, X=None, y=None, sample_weight=None):
    """Read a fitted boosted tree model into a checked :class:`TreeEnsemble`.

    Parameters
    ----------
    estimator : estimator
        A fitted HistGradientBoostingClassifier/Regressor or GradientBoostingClassifier/
        Regressor (LightGBM and XGBoost models where those readers are installed), or a
        Pipeline ending in one.
    X : {array-like, DataFrame} of shape (n_samples, n_features), default=None
        The rows it was fitted on, as the estimator takes them. None: read the structure
        only (leaf values, ``apply``, the leaf rule; no training rows, nothing checked).
    y : array-like of shape (n_samples,), default=None
        Their labels or targets (required with X).
    sample_weight : array-like of shape (n_samples,), default=None
        The weights it was fitted with.

    Returns
    -------
    TreeEnsemble
        Checked against the model: every leaf value recomputed from the data, the raw
        scores equal to the model's to the ensemble's ``tolerance``.

    Raises
    ------
    TypeError
        The model is not a supported boosted ensemble, or uses an option the leaf-value
        rule does not describe (the message names the retraining scorers).

    See Also
    --------
    check_ensemble : the check applied to what is read.
    skinfluence.InfluenceScorer : the tree methods behind the scorer API.

    Examples
    --------
    >>> from sklearn.datasets import load_diabetes
    >>> from sklearn.ensemble import GradientBoostingRegressor
    >>> from skinfluence.trees import read_ensemble
    >>> X, y = load_diabetes(return_X_y=True)
    >>> model = GradientBoostingRegressor(n_estimators=10, random_state=0).fit(X, y)
    >>> read_ensemble(model, X, y).train_leaves.shape
    (442, 10, 1)
    """
    if isinstance(estimator, FrozenEstimator):
        return read_ensemble(estimator.estimator, X, y, sample_weight)
    if X is not None and y is None:
        raise ValueError("read_ensemble needs y with X: the leaf check refits on the targets.")
    if isinstance(estimator, Pipeline):
        head, last = estimator[:-1], estimator.steps[-1][1]
        Xt = None if X is None else head.transform(X)
        ensemble = read_ensemble(last, Xt, y, sample_weight)
        ensemble.apply = TransformedApply(head, ensemble.apply)
        return ensemble
    reader = _reader_for(estimator)
    if reader is None:
        raise TypeError(
            f"{type(estimator).__name__} is not a supported boosted tree model; supported: "
            f"{', '.join(supported_tree_models())}. Use LeaveOneOutScorer or "
            "MemorizationScorer (retraining) for other models."
        )
    return reader(estimator, X, y, sample_weight)


def _register_sklearn():
    from ._adapter import register_tree_model
    from ._examples import sklearn_tree_examples
    from ._sklearn import read_gradient_boosting, read_hist_gradient_boosting

    base = "sklearn.ensemble._hist_gradient_boosting.gradient_boosting"
    for cls in ("HistGradientBoostingClassifier", "HistGradientBoostingRegressor"):
        register_tree_model(
            f"{base}:{cls}",
            read_hist_gradient_boosting,
            name=cls,
            accepts_subclasses=False,
            examples=sklearn_tree_examples(cls),
        )
    for cls in ("GradientBoostingClassifier", "GradientBoostingRegressor"):
        register_tree_model(
            f"sklearn.ensemble._gb:{cls}",
            read_gradient_boosting,
            name=cls,
            accepts_subclasses=False,
            examples=sklearn_tree_examples(cls),
        )


def _register_boosting():
    # Class paths only: neither library is imported until one of its models is read.
    from ._adapter import register_tree_model
    from ._examples import boosting_tree_examples
    from ._lightgbm import read_lightgbm
    from ._xgboost import read_xgboost

    for path, reader, name, library in (
        ("lightgbm.sklearn:LGBMModel", read_lightgbm, "LGBMModel", "lightgbm"),
        ("lightgbm.basic:Booster", read_lightgbm, "lightgbm.Booster", "lightgbm"),
        ("xgboost.sklearn:XGBModel", read_xgboost, "XGBModel", "xgboost"),
        ("xgboost.core:Booster", read_xgboost, "xgboost.Booster", "xgboost"),
    ):
        register_tree_model(
            path,
            reader,
            name=name,
            requires=(library,),
            examples=boosting_tree_examples(name),
        )
