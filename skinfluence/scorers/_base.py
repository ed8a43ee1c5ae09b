"""What every scorer shares: the transformer contract, input checks and fitting a clone."""

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin, clone
from sklearn.pipeline import Pipeline
from sklearn.utils._param_validation import InvalidParameterError
from sklearn.utils.validation import check_is_fitted
from sklearn_compat.utils.validation import validate_data

from .._validation import check_sample_weight_nonneg, check_target


class BaseTrainingScorer(TransformerMixin, BaseEstimator):
    """Base class of the scorers: one score per training row, higher = harder / more suspect.

    Subclasses implement ``fit(X, y)`` (setting ``scores_``) and ``score_samples(X, y=None)``
    (with ``y=None`` the score under the fitted model's own predicted label, as
    :meth:`predicted_labels` gives it). ``transform(X)`` is ``score_samples(X)`` as a column,
    which makes a scorer usable inside a ``Pipeline`` or ``FeatureUnion``.
    """

    #: Name of the single output column of ``transform``.
    score_name = "score"

    def transform(self, X):
        """Label-free score of each row of X, shape (n_samples, 1).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        scores : ndarray of shape (n_samples, 1)
        """
        return np.asarray(self.score_samples(X)).reshape(-1, 1)

    def predicted_labels(self, X):
        """The fitted model's predicted labels for X (the label used when y is not given)."""
        check_is_fitted(self)
        return self.estimator_.predict(X)

    def get_feature_names_out(self, input_features=None):
        """The single output column's name, e.g. ``["self_influence"]``."""
        check_is_fitted(self)
        return np.asarray([self.score_name], dtype=object)

    # -- shared helpers ------------------------------------------------------------------
    def _validate_params(self):
        super()._validate_params()
        params = self.get_params(deep=False)
        est = params.get("estimator")
        none_allowed = est is None and None in self._parameter_constraints.get("estimator", ())
        is_estimator = hasattr(est, "fit") and hasattr(est, "get_params")
        if "estimator" in params and not (is_estimator or none_allowed):
            raise InvalidParameterError(
                f"The 'estimator' parameter of {type(self).__name__} must be a scikit-learn "
                f"estimator (with fit and get_params); got {est!r} of type "
                f"{type(est).__name__}. Pass an instance, e.g. LogisticRegression()."
            )

    def _accepts_raw_X(self):
        """Pipelines validate their own input (categorical columns, NaN for imputers)."""
        est = getattr(self, "estimator", None)
        if type(est).__name__ == "FrozenEstimator":
            est = est.estimator
        return isinstance(est, Pipeline)

    def _input_dtype(self):
        """float64, except that torch nets keep float32 input: a skorch module is float32 by
        default and refuses float64 batches. Gradient adapters compute in float64 anyway."""
        est = getattr(self, "estimator", None)
        while type(est).__name__ in ("FrozenEstimator", "ParameterSubset"):
            est = est.estimator
        if type(est).__module__.startswith("skorch"):
            return [np.float64, np.float32]
        return np.float64

    def _validate_X(self, X, *, reset):
        if self._accepts_raw_X():
            return validate_data(self, X, reset=reset, skip_check_array=True)
        return validate_data(
            self,
            X,
            reset=reset,
            accept_sparse=["csr", "csc"],
            dtype=self._input_dtype(),
            ensure_all_finite=True,
        )

    def _validate_Xy(self, X, y, *, reset, predict_missing=False):
        """Validate a labelled set; returns (X, y) with y as an array of the same length.

        With ``predict_missing``, a missing ``y`` is replaced by the fitted model's prediction.
        """
        if y is None and predict_missing:
            X = self._validate_X(X, reset=reset)
            return X, np.asarray(self.predicted_labels(X))
        if y is None:
            raise ValueError(
                f"{type(self).__name__} requires y to be passed, but the target y is None: "
                "scores depend on each row's label."
            )
        X = self._validate_X(X, reset=reset)
        return X, check_target(y, _n_rows(X))


def _n_rows(X):
    return X.shape[0] if hasattr(X, "shape") else len(X)


def fit_clone(estimator, X, y, sample_weight=None):
    """Fit a clone of ``estimator`` (a ``FrozenEstimator`` is used as it is, already fitted)."""
    if type(estimator).__name__ == "FrozenEstimator":
        return estimator
    est = clone(estimator)
    if sample_weight is None:
        return est.fit(X, y)
    return est.fit(X, y, **sample_weight_param(est, sample_weight))


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
    import inspect

    inner = estimator
    while type(inner).__name__ == "ParameterSubset":
        inner = inner.estimator
    if isinstance(inner, Pipeline):
        inner = inner.steps[-1][1]
    is_skorch = any(c.__module__.split(".")[0] == "skorch" for c in type(inner).__mro__)
    if is_skorch and "sample_weight" not in inspect.signature(type(inner).fit).parameters:
        raise ValueError(
            f"sample_weight was passed, but {type(inner).__name__}.fit cannot weight its loss "
            "per row (skorch passes fit parameters whole to module.forward). Fit without "
            "sample_weight; or train the net on the weighted loss yourself and pass it "
            "wrapped in sklearn.frozen.FrozenEstimator; or use a subclass whose "
            "fit(X, y, sample_weight=None) weights the loss (e.g. a criterion with "
            "reduction='none' and get_loss overridden)."
        )


def validated_sample_weight(sample_weight, n_samples):
    return check_sample_weight_nonneg(sample_weight, n_samples)
