"""What every row-selecting meta-estimator shares: scores, the kept rows, the refit model.

:class:`~skinfluence.PruningSelector` and :class:`~skinfluence.CleansingSelector` both score
the training rows, keep some of them and fit a clone of ``estimator`` on those; this base
holds the checks of the scores, the bookkeeping of the kept rows (``support_``,
``sample_indices_``), the refit and the delegation of ``predict`` & co to the fitted model.
"""

import numpy as np
from sklearn.base import BaseEstimator, MetaEstimatorMixin, clone
from sklearn.utils import _safe_indexing, get_tags
from sklearn.utils.metaestimators import available_if
from sklearn.utils.validation import check_is_fitted


def _estimator_has(attr):
    def check(self):
        if self.estimator is None:
            return False
        target = self.estimator_ if hasattr(self, "estimator_") else self.estimator
        return hasattr(target, attr)

    return check


def checked_scores(fitted_scorer, n_samples, owner):
    """``fitted_scorer.scores_`` as float64, checked to be one finite number per row."""
    scores = getattr(fitted_scorer, "scores_", None)
    name = type(fitted_scorer).__name__
    if scores is None:
        raise TypeError(
            f"The scorer {name} has no scores_ after fit: {owner} needs one score per "
            "training row (higher = harder), as every skinfluence scorer sets in scores_."
        )
    scores = np.asarray(scores, dtype=np.float64)
    if scores.shape != (n_samples,) or not np.all(np.isfinite(scores)):
        raise ValueError(
            f"{name}.scores_ must be {n_samples} finite numbers, one per training row; got "
            f"shape {scores.shape}."
        )
    return scores


def restrict_fit_params(fit_params, indices, n_samples):
    """``fit_params`` with every array of length ``n_samples`` restricted to ``indices``."""
    return {
        key: _safe_indexing(value, indices)
        if hasattr(value, "__len__") and len(value) == n_samples and not isinstance(value, str)
        else value
        for key, value in fit_params.items()
    }


class BaseRowSelector(MetaEstimatorMixin, BaseEstimator):
    """Base of the selectors: kept rows, refit on them, and the fitted model's methods.

    Subclasses set ``estimator`` (or None for a sampler) and, in ``fit``, call
    :meth:`_keep_rows` with the indices they keep, then :meth:`_fit_estimator`.
    """

    def _keep_rows(self, indices, n_samples):
        """Record the kept rows: ``sample_indices_`` (sorted) and ``support_``."""
        self.sample_indices_ = np.sort(np.asarray(indices, dtype=np.intp))
        self.support_ = np.zeros(n_samples, dtype=bool)
        self.support_[self.sample_indices_] = True

    @staticmethod
    def _kept_data(X_in, y_in, X, y, indices):
        """The rows ``indices`` of X and y: pandas in, pandas out (with the kept rows' index);
        anything else as validated."""
        X_out = X_in if hasattr(X_in, "iloc") else X
        y_out = y_in if hasattr(y_in, "iloc") else y
        return _safe_indexing(X_out, indices), _safe_indexing(y_out, indices)

    def _fit_estimator(self, X_kept, y_kept, fit_params, n_samples):
        """Fit ``estimator_``, a clone of ``estimator``, on the kept rows (arrays of length
        ``n_samples`` in ``fit_params`` restricted to them)."""
        params = restrict_fit_params(fit_params, self.sample_indices_, n_samples)
        self.estimator_ = clone(self.estimator).fit(X_kept, y_kept, **params)

    # -- delegation to the fitted model ----------------------------------------------------
    @property
    def classes_(self):
        """The fitted model's classes."""
        check_is_fitted(self, "estimator_")
        return self.estimator_.classes_

    @available_if(_estimator_has("predict"))
    def predict(self, X):
        """The fitted model's ``predict``."""
        check_is_fitted(self, "estimator_")
        return self.estimator_.predict(X)

    @available_if(_estimator_has("predict_proba"))
    def predict_proba(self, X):
        """The fitted model's ``predict_proba``."""
        check_is_fitted(self, "estimator_")
        return self.estimator_.predict_proba(X)

    @available_if(_estimator_has("predict_log_proba"))
    def predict_log_proba(self, X):
        """The fitted model's ``predict_log_proba``."""
        check_is_fitted(self, "estimator_")
        return self.estimator_.predict_log_proba(X)

    @available_if(_estimator_has("decision_function"))
    def decision_function(self, X):
        """The fitted model's ``decision_function``."""
        check_is_fitted(self, "estimator_")
        return self.estimator_.decision_function(X)

    @available_if(_estimator_has("score"))
    def score(self, X, y, **params):
        """The fitted model's ``score`` (accuracy for classifiers, R² for regressors)."""
        check_is_fitted(self, "estimator_")
        return self.estimator_.score(X, y, **params)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.required = True
        sparse = True
        if getattr(self, "scorer", None) is not None:
            sparse = get_tags(self.scorer).input_tags.sparse
        if self.estimator is not None:
            est_tags = get_tags(self.estimator)
            tags.estimator_type = est_tags.estimator_type
            tags.classifier_tags = est_tags.classifier_tags
            tags.regressor_tags = est_tags.regressor_tags
            sparse = sparse and est_tags.input_tags.sparse
        tags.input_tags.sparse = sparse
        return tags
