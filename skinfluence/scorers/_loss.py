"""``LossScorer``: the loss of each row's own label, out of fold or in sample."""

import numbers

import numpy as np
from sklearn.model_selection import StratifiedKFold, check_cv, cross_val_predict
from sklearn.utils._param_validation import HasMethods, Interval
from sklearn.utils.multiclass import check_classification_targets

from .._utils._docstring import inject_docs
from .._utils._labels import align_proba, encode_labels, label_log_loss
from .._validation import shared_constraints
from ._base import BaseTrainingScorer, fit_clone, sample_weight_param
from ._losses import per_sample_loss


def out_of_fold_proba(estimator, X, y, classes, cv, sample_weight=None, n_jobs=None):
    """``predict_proba`` of each row by the clone fitted on the folds that left it out.

    Columns follow ``classes`` (a fold that missed a class gives it probability 0).
    """
    params = None if sample_weight is None else sample_weight_param(estimator, sample_weight)
    proba = cross_val_predict(
        estimator, X, y, cv=cv, method="predict_proba", n_jobs=n_jobs, params=params
    )
    return align_proba(proba, classes, classes)


@inject_docs
class LossScorer(BaseTrainingScorer):
    """Loss of each row's given label under the model, out of fold (default) or in sample.

    ``scores_[i]`` is ``−log p(y_i | x_i)`` where ``p`` is the class probability of a model
    that did **not** see row i (``cv``: the clone fitted on the other folds): the standard
    mislabel detector, rank-equivalent to cleanlab's self-confidence. **Higher = more
    suspect**: a row whose label the other rows do not support. With ``cv=None`` it is the
    in-sample loss of the model fitted on all rows (which a flexible model drives to 0).

    Read more in the :ref:`User Guide <audit_api>`.

    Parameters
    ----------
    %(estimator_retrained)s
        A classifier with ``predict_proba`` (or a Pipeline ending in one); wrap a fitted
        model in ``sklearn.frozen.FrozenEstimator`` to score in sample with ``cv=None``.
    cv : int, cross-validation generator, iterable or None, default=5
        Folds of the out-of-fold predictions. An int k means ``StratifiedKFold`` with
        ``min(k, smallest class size)`` shuffled folds (seeded by ``random_state``); None
        scores the rows in sample.
    refit : bool, default=True
        Also fit the model on all rows (``estimator_``), for ``score_samples`` of new rows
        and ``predicted_labels``; False saves that fit when only ``scores_`` is needed.
    %(random_state)s
        Shuffles the folds when ``cv`` is an int.
    %(n_jobs)s

    Attributes
    ----------
    scores_ : ndarray of shape (n_train,)
        The loss of each training row's label (out of fold unless ``cv=None``).
    out_of_sample_proba_ : ndarray of shape (n_train, n_classes)
        The out-of-fold class probabilities (columns: ``classes_``); absent with
        ``cv=None`` (in-sample probabilities are not out of sample).
    estimator_ : estimator
        The model fitted on all rows (absent with ``refit=False`` and a ``cv``).
    classes_ : ndarray of shape (n_classes,)
    n_features_in_ : int
    feature_names_in_ : ndarray of str
        Defined when X has string column names.

    See Also
    --------
    OutOfBagScorer : the same loss under a forest's out-of-bag votes (one fit, no folds).
    CombinedScorer : combines it with other scores, by model family.
    EL2NScorer : the error norm of probes instead of the log-loss.

    Notes
    -----
    For rows not seen in fit, ``score_samples`` uses ``estimator_`` (those rows are out of
    sample already); with ``y=None`` the label is its prediction.

    Cost: k model fits on (k−1)/k of the rows and their ``predict_proba`` (plus one fit on
    all rows with ``refit``); memory O(n K) besides the models.

    References
    ----------
    Northcutt, C., Jiang, L. & Chuang, I. (2021). Confident learning: estimating
    uncertainty in dataset labels. JAIR 70.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from sklearn.linear_model import LogisticRegression
    >>> from skinfluence import LossScorer
    >>> X, y = load_iris(return_X_y=True)
    >>> scorer = LossScorer(LogisticRegression(max_iter=500), random_state=0).fit(X, y)
    >>> scorer.scores_.shape, scorer.out_of_sample_proba_.shape
    ((150,), (150, 3))
    """

    score_name = "loss"

    _parameter_constraints = {  # noqa: RUF012
        **BaseTrainingScorer._parameter_constraints,
        **shared_constraints("random_state", "n_jobs"),
        "estimator": [HasMethods(["fit", "predict_proba", "get_params"])],
        "cv": [Interval(numbers.Integral, 2, None, closed="left"), "cv_object", None],
        "refit": ["boolean"],
    }

    def __init__(self, estimator, *, cv=5, refit=True, random_state=None, n_jobs=None):
        self.estimator = estimator
        self.cv = cv
        self.refit = refit
        self.random_state = random_state
        self.n_jobs = n_jobs

    def _splitter(self, y):
        if isinstance(self.cv, numbers.Integral):
            smallest = int(np.unique(y, return_counts=True)[1].min())
            if smallest < 2:
                raise ValueError(
                    "LossScorer needs at least 2 rows of every class for out-of-fold "
                    f"predictions; the smallest class has {smallest}. Drop or fix that row, "
                    "or pass cv=None for in-sample losses."
                )
            return StratifiedKFold(
                min(int(self.cv), smallest), shuffle=True, random_state=self.random_state
            )
        return check_cv(self.cv, y, classifier=True)

    def _fit(self, X, y, sample_weight):
        check_classification_targets(y)
        self.classes_ = np.unique(y)
        codes = encode_labels(self.classes_, y)
        if self.refit or self.cv is None:
            self.estimator_ = fit_clone(self.estimator, X, y, sample_weight)
        if self.cv is None:
            self.scores_ = per_sample_loss(self.estimator_, X, y, classes=self.classes_)
            return
        self.out_of_sample_proba_ = out_of_fold_proba(
            self.estimator, X, y, self.classes_, self._splitter(y), sample_weight, self.n_jobs
        )
        self.scores_ = label_log_loss(self.out_of_sample_proba_, codes)

    def _score_samples(self, X, y):
        self._check_refit()
        return per_sample_loss(self.estimator_, X, y, classes=self.classes_)

    def _predicted_labels(self, X):
        self._check_refit()
        return np.asarray(self.estimator_.predict(X))

    def _check_refit(self):
        if not hasattr(self, "estimator_"):
            raise ValueError(
                "LossScorer(refit=False) has no model fitted on all rows to score new rows "
                "with; use refit=True, or read scores_ for the training rows."
            )
