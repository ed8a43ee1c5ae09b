"""The scorer template: the base classes own the public methods, scorers write the private ones.

As in imbalanced-learn (``fit_resample`` → ``_fit_resample``), :class:`BaseTrainingScorer`
owns ``fit`` (parameter validation under scikit-learn's ``_fit_context``, input validation,
sample weights), ``score_samples``, ``transform``, ``predicted_labels`` and the tags; a scorer
implements

- ``_fit(X, y, sample_weight)``: set ``scores_`` (and its fitted state) on validated input;
- ``_score_samples(X, y)``: the score of labelled rows (``y`` is the fitted model's
  prediction when the caller gave none, see ``_predicted_labels``).

:class:`BaseInfluenceScorer` adds ``influence(X_test, y_test, aggregate=...)`` and
``explain``: a scorer implements ``_influence(X_test, y_test)`` (the (n_test, n_train)
matrix) and may override ``_total_influence`` when the sum over test rows has a cheaper path.
"""

import functools
import inspect
import numbers

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin, clone
from sklearn.pipeline import Pipeline
from sklearn.utils import Bunch, _safe_indexing
from sklearn.utils._param_validation import HasMethods
from sklearn.utils.validation import check_is_fitted
from sklearn_compat.base import _fit_context
from sklearn_compat.utils.validation import _check_n_features, validate_data

from .._utils._docstring import inject_docs
from .._utils._estimators import final_estimator, is_frozen, is_skorch_net
from .._validation import check_sample_weight_nonneg, check_target, params_satisfy_constraints


@functools.cache
def _param_names(cls):
    return tuple(BaseEstimator._get_param_names.__func__(cls))


def _valid_float_array(X):
    """Whether X is an array ``check_array`` would return unchanged and accept: a finite,
    non-empty 2-D float64 ndarray (the finite check as scikit-learn's first pass, a sum; an
    overflowing sum or a non-finite entry takes the full validation and its error). The sum
    is einsum's, 30% faster than ``np.sum``'s pairwise one at 10⁴ × 20; only its finiteness
    is used."""
    if type(X) is not np.ndarray or X.dtype != np.float64 or X.ndim != 2 or X.size == 0:
        return False
    with np.errstate(over="ignore", invalid="ignore"):
        return bool(np.isfinite(np.einsum("ij->", X)))


@inject_docs
class BaseTrainingScorer(TransformerMixin, BaseEstimator):
    """Base class of the scorers: one score per training row, higher = harder / more suspect.

    Subclasses take the model as ``estimator`` (their ``__init__`` stores it with their own
    parameters), write ``_fit`` and ``_score_samples`` (see the module docstring) and merge
    their constraints into the base ones:
    ``_parameter_constraints = {**BaseTrainingScorer._parameter_constraints, ...}``.
    ``transform(X)`` is ``score_samples(X)`` as a column, so a scorer works inside a
    ``Pipeline`` or ``FeatureUnion``.

    Read more in the :ref:`User Guide <scorer_template>`.

    Attributes
    ----------
    scores_ : ndarray of shape (n_train,)
        Set by the subclass's ``_fit``: one score per training row, higher = more suspect.

    See Also
    --------
    BaseInfluenceScorer : the base of the scorers that also estimate influence.
    EL2NScorer : a scorer written on this template.

    Examples
    --------
    A scorer of each row's in-sample loss, in a dozen lines:

    >>> from sklearn.base import clone
    >>> from sklearn.datasets import load_iris
    >>> from sklearn.tree import DecisionTreeClassifier
    >>> from skinfluence.scorers import BaseTrainingScorer, per_sample_loss
    >>> class LossScorer(BaseTrainingScorer):
    ...     score_name = "loss"
    ...     def __init__(self, estimator):
    ...         self.estimator = estimator
    ...     def _fit(self, X, y, sample_weight):
    ...         self.estimator_ = clone(self.estimator).fit(X, y)
    ...         self.scores_ = self._score_samples(X, y)
    ...     def _score_samples(self, X, y):
    ...         return per_sample_loss(self.estimator_, X, y)
    >>> X, y = load_iris(return_X_y=True)
    >>> scorer = LossScorer(DecisionTreeClassifier(max_depth=2)).fit(X, y)
    >>> scorer.transform(X[:2]).shape, scorer.get_feature_names_out()
    ((2, 1), array(['loss'], dtype=object))
    """

    #: Name of the single output column of ``transform``.
    score_name = "score"

    _parameter_constraints: dict = {  # noqa: RUF012
        "estimator": [HasMethods(["fit", "get_params"])],
    }

    @classmethod
    def _get_param_names(cls):
        # scikit-learn reads them from the signature of __init__ on every get_params (each
        # fit's parameter validation, clone, repr): ~30 µs a call, once per class here.
        return list(_param_names(cls))

    def _validate_params(self):
        # scikit-learn's check, with the constraint objects made once per class; a value
        # that fails runs scikit-learn's own, which raises its InvalidParameterError.
        if not params_satisfy_constraints(self):
            super()._validate_params()

    # -- the public template ------------------------------------------------------------
    @_fit_context(prefer_skip_nested_validation=False)  # the estimator validates its own
    def fit(self, X, y=None, sample_weight=None):
        """Fit the scorer on the training rows and compute ``scores_``.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Training rows (sparse where the model takes it).
        y : array-like of shape (n_samples,)
            Their labels (targets for regressors).
        sample_weight : array-like of shape (n_samples,), default=None
            Weights of the rows in the model's objective, passed to the model's ``fit``.

        Returns
        -------
        self : object
            The fitted scorer.
        """
        if self.__sklearn_tags__().target_tags.required:
            X, y = self._validate_Xy(X, y, reset=True)
        else:
            X = self._validate_X(X, reset=True)
            y = None if y is None else check_target(y, _n_rows(X))
        sample_weight = check_sample_weight_nonneg(sample_weight, _n_rows(X))
        self._fit(X, y, sample_weight)
        return self

    def score_samples(self, X, y=None):
        """The score of labelled rows, as if each were a training row; higher = more suspect.

        Parameters
        ----------
        %(X_rows)s
        y : array-like of shape (n_samples,), default=None
            Their labels; None scores each row under the fitted model's own prediction
            (:meth:`predicted_labels`), a label-free score.

        Returns
        -------
        scores : ndarray of shape (n_samples,)
            One score per row, in the units of ``scores_``.
        """
        check_is_fitted(self)
        X = self._validate_X(X, reset=False)
        y = self._predicted_labels(X) if y is None else check_target(y, _n_rows(X))
        return self._score_samples(X, y)

    def transform(self, X):
        """Label-free score of each row of X, shape (n_samples, 1).

        %(params_X_rows)s

        Returns
        -------
        scores : ndarray of shape (n_samples, 1)
            ``score_samples(X)`` as a column.
        """
        return np.asarray(self.score_samples(X)).reshape(-1, 1)

    def predicted_labels(self, X):
        """The label used for rows given without one: the fitted model's prediction.

        %(params_X_rows)s

        Returns
        -------
        y : ndarray of shape (n_samples,) or None
            The predicted labels (None for a label-free scorer).
        """
        check_is_fitted(self)
        return self._predicted_labels(self._validate_X(X, reset=False))

    def get_feature_names_out(self, input_features=None):
        """The single output column's name, e.g. ``["self_influence"]``.

        Parameters
        ----------
        input_features : array-like of str or None, default=None
            Ignored (the output does not depend on the input's names).

        Returns
        -------
        feature_names_out : ndarray of str objects
            One name, the scorer's ``score_name``.
        """
        check_is_fitted(self)
        return np.asarray([self.score_name], dtype=object)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.required = True
        tags.input_tags.sparse = not self._accepts_raw_X()
        return tags

    # -- what subclasses write -----------------------------------------------------------
    def _fit(self, X, y, sample_weight):
        raise NotImplementedError

    def _score_samples(self, X, y):
        raise NotImplementedError

    def _predicted_labels(self, X):
        return np.asarray(self.estimator_.predict(X))

    # -- input validation ----------------------------------------------------------------
    def _accepts_raw_X(self):
        """Pipelines validate their own input (categorical columns, NaN for imputers)."""
        est = getattr(self, "estimator", None)
        return isinstance(est.estimator if is_frozen(est) else est, Pipeline)

    def _input_dtype(self):
        """float64, except that torch nets keep float32 input: a skorch module is float32 by
        default and refuses float64 batches. Gradient adapters compute in float64 anyway."""
        if is_skorch_net(getattr(self, "estimator", None)):
            return [np.float64, np.float32]
        return np.float64

    def _validate_X(self, X, *, reset):
        if self._accepts_raw_X():
            return validate_data(self, X, reset=reset, skip_check_array=True)
        if _valid_float_array(X) and (reset or getattr(self, "feature_names_in_", None) is None):
            # What validate_data concludes for a finite float64 array, without its dataframe
            # detection and conversions (70 µs of a 10⁴ × 20 fit, 55 µs of a 100-row call):
            # no feature names (forget those of a previous fit), the feature count.
            if reset:
                self.__dict__.pop("feature_names_in_", None)
            _check_n_features(self, X, reset=reset)
            return X
        return validate_data(
            self,
            X,
            reset=reset,
            accept_sparse=["csr", "csc"] if self.__sklearn_tags__().input_tags.sparse else False,
            dtype=self._input_dtype(),
            ensure_all_finite=True,
        )

    def _validate_Xy(self, X, y, *, reset):
        """Validate a labelled set; returns (X, y) with y as an array of the same length."""
        if y is None:
            raise ValueError(
                f"{type(self).__name__} requires y to be passed, but the target y is None: "
                "scores depend on each row's label."
            )
        X = self._validate_X(X, reset=reset)
        return X, check_target(y, _n_rows(X))


@inject_docs
class BaseInfluenceScorer(BaseTrainingScorer):
    """Base class of the scorers that also estimate influence on test rows.

    ``influence(X_test, y_test)[t, i]`` estimates ``L(z_t; θ without row i) − L(z_t; θ)``:
    positive when training row i helps test row t. Subclasses write ``_influence`` (the
    (n_test, n_train) matrix on validated input) and may override ``_total_influence``.

    Read more in the :ref:`User Guide <scorer_template>`.

    Attributes
    ----------
    scores_ : ndarray of shape (n_train,)
        Set by the subclass's ``_fit``, usually each row's self-influence.

    See Also
    --------
    BaseTrainingScorer : the template's public methods.
    InfluenceScorer : first-order influence, written on this template.
    LeaveOneOutScorer : actual leave-one-out, written on this template.

    Examples
    --------
    A scorer that says no row matters, to show the methods the base class adds:

    >>> import numpy as np
    >>> from sklearn.base import clone
    >>> from sklearn.datasets import load_iris
    >>> from sklearn.tree import DecisionTreeClassifier
    >>> from skinfluence.scorers import BaseInfluenceScorer
    >>> class NoInfluence(BaseInfluenceScorer):
    ...     def __init__(self, estimator):
    ...         self.estimator = estimator
    ...     def _fit(self, X, y, sample_weight):
    ...         self.estimator_ = clone(self.estimator).fit(X, y)
    ...         self.scores_ = np.zeros(len(y))
    ...     def _influence(self, X_test, y_test):
    ...         return np.zeros((len(y_test), len(self.scores_)))
    >>> X, y = load_iris(return_X_y=True)
    >>> scorer = NoInfluence(DecisionTreeClassifier(max_depth=2)).fit(X, y)
    >>> scorer.influence(X[:3], y[:3], aggregate="mean").shape
    (150,)
    """

    def influence(self, X_test, y_test, *, aggregate=None, **options):
        """Influence of every training row on the loss of each test row.

        Parameters
        ----------
        %(X_test)s
        %(y_test)s
        %(aggregate)s
        **options : dict
            Options of the scorer's ``influence`` (e.g. ``dtype``), documented there.

        Returns
        -------
        %(influence_returns)s
        """
        check_is_fitted(self)
        _check_aggregate(aggregate)
        X_test, y_test = self._validate_Xy(X_test, y_test, reset=False)
        if aggregate is None:
            return self._influence(X_test, y_test, **options)
        total = self._total_influence(X_test, y_test, **options)
        return total / len(y_test) if aggregate == "mean" else total

    def explain(self, X_test, y_test, k=5):
        """The ``k`` most helpful and ``k`` most harmful training rows for each test row.

        Parameters
        ----------
        %(X_test)s
        %(y_test)s
        k : int, default=5
            Number of rows of each kind.

        Returns
        -------
        result : Bunch
            ``helpful_indices``, ``helpful_influence``, ``harmful_indices``,
            ``harmful_influence``: arrays of shape (n_test, k), most extreme first
            (indices into the training set). Scorers that keep their training set
            (``train_X_``, e.g. :class:`InfluenceScorer`) add ``helpful_rows`` and
            ``harmful_rows``, those training rows themselves: for raw inputs such as the
            documents of a text Pipeline an object array of shape (n_test, k), else one
            selection of X (array, sparse matrix or DataFrame rows) per test row.
        """
        check_is_fitted(self)
        n = len(self.scores_)
        if not isinstance(k, numbers.Integral) or not 1 <= k <= n:
            raise ValueError(f"k must be an integer in [1, {n}]; got {k!r}.")
        infl = self.influence(X_test, y_test)
        order = np.argsort(-infl, axis=1, kind="stable")
        helpful = order[:, :k]
        harmful = order[:, ::-1][:, :k]
        result = Bunch(
            helpful_indices=helpful,
            helpful_influence=np.take_along_axis(infl, helpful, axis=1),
            harmful_indices=harmful,
            harmful_influence=np.take_along_axis(infl, harmful, axis=1),
        )
        train_X = getattr(self, "train_X_", None)
        if train_X is not None:
            result.helpful_rows = _rows_of(train_X, helpful)
            result.harmful_rows = _rows_of(train_X, harmful)
        return result

    def _influence(self, X_test, y_test, **options):
        raise NotImplementedError

    def _total_influence(self, X_test, y_test, **options):
        """Influence on the summed loss of the test rows, shape (n_train,)."""
        return self._influence(X_test, y_test, **options).sum(axis=0)


def _rows_of(X, indices):
    """The training rows at ``indices`` (n_test, k): an object array for 1-D raw inputs
    (documents), else a list of one selection of X per test row."""
    if not hasattr(X, "shape") or len(X.shape) == 1:
        values = np.empty(len(X), dtype=object)
        values[:] = list(X)
        return values[indices]
    return [_safe_indexing(X, row) for row in indices]


def _check_aggregate(aggregate):
    """The ``aggregate`` argument of ``influence``, checked in one place."""
    if not (aggregate is None or (isinstance(aggregate, str) and aggregate in ("sum", "mean"))):
        raise ValueError(f"aggregate must be None, 'sum' or 'mean'; got {aggregate!r}.")


def _n_rows(X):
    return X.shape[0] if hasattr(X, "shape") else len(X)


def fit_clone(estimator, X, y, sample_weight=None):
    """Fit a clone of ``estimator`` (a ``FrozenEstimator`` is used as it is, already fitted)."""
    if is_frozen(estimator):
        return estimator
    est = clone(estimator)
    if sample_weight is None:
        return est.fit(X, y)
    return est.fit(X, y, **sample_weight_param(est, sample_weight))


def refuse_frozen(scorer):
    """A retraining scorer cannot use a model fitted once: say so (TypeError)."""
    if is_frozen(scorer.estimator):
        raise TypeError(
            f"{type(scorer).__name__} retrains the model; pass the unfitted estimator, not a "
            "FrozenEstimator."
        )


def sample_weight_param(estimator, sample_weight):
    """``{"sample_weight": w}``, or ``{"laststep__sample_weight": w}`` for a Pipeline.

    Refuses a skorch net whose ``fit`` has no ``sample_weight`` parameter: skorch hands extra
    fit parameters whole to ``module.forward`` (not per batch), so it cannot weight its loss.
    """
    _check_fit_takes_sample_weight(estimator)
    if isinstance(estimator, Pipeline):
        return {f"{estimator.steps[-1][0]}__sample_weight": sample_weight}
    return {"sample_weight": sample_weight}


def _check_fit_takes_sample_weight(estimator):
    if not is_skorch_net(estimator):
        return
    net = final_estimator(estimator)
    if "sample_weight" not in inspect.signature(type(net).fit).parameters:
        raise ValueError(
            f"sample_weight was passed, but {type(net).__name__}.fit cannot weight its loss "
            "per row (skorch passes fit parameters whole to module.forward). Fit without "
            "sample_weight; or train the net on the weighted loss yourself and pass it "
            "wrapped in sklearn.frozen.FrozenEstimator; or use a subclass whose "
            "fit(X, y, sample_weight=None) weights the loss (e.g. a criterion with "
            "reduction='none' and get_loss overridden)."
        )
