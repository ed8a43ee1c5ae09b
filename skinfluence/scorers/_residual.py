"""``ResidualScorer``: out-of-fold residuals of a regressor, raw or on a local scale."""

import numbers

import numpy as np
from sklearn.model_selection import KFold, check_cv, cross_val_predict
from sklearn.neighbors import NearestNeighbors
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions

from .._utils._docstring import inject_docs
from .._validation import shared_constraints
from ._base import BaseTrainingScorer, fit_clone, sample_weight_param


def local_scale(X, residuals, n_neighbors):
    """Median absolute residual of each row's ``n_neighbors`` nearest rows (itself excluded),
    in column-standardised feature space; floored at 1e-12 times the global one."""
    X = np.asarray(X, dtype=np.float64)
    scale = X.std(axis=0)
    scale[scale == 0] = 1.0
    S = (X - X.mean(axis=0)) / scale
    k = min(n_neighbors + 1, len(S))
    algorithm = "brute" if S.shape[1] > 15 else "auto"
    _, neighbours = NearestNeighbors(n_neighbors=k, algorithm=algorithm).fit(S).kneighbors(S)
    others = neighbours[:, 1:] if k > 1 else neighbours
    local = np.median(np.abs(residuals)[others], axis=1)
    floor = 1e-12 * max(float(np.median(np.abs(residuals))), 1e-300)
    return np.maximum(local, floor)


@inject_docs
class ResidualScorer(BaseTrainingScorer):
    """Out-of-fold residual of each row's target, raw or standardised by a local scale.

    ``scores_[i]`` is ``|y_i − ŷ_i|`` where ``ŷ_i`` is predicted by the clone fitted on the
    folds that left row i out; with ``scale="local"`` it is divided by the median absolute
    residual of the row's ``n_neighbors`` nearest rows in feature space, so that a row is
    judged against the noise where it lies (heteroscedastic targets). **Higher = more
    suspect**: a target the other rows do not support (a typo, a unit error, a shift).

    Read more in the :ref:`User Guide <audit_regression>`.

    Parameters
    ----------
    %(estimator_retrained)s
        A regressor (or a Pipeline ending in one).
    cv : int, cross-validation generator or iterable, default=5
        Folds of the out-of-fold predictions; an int k means ``KFold(k, shuffle=True)``
        seeded by ``random_state``.
    scale : {"local", "none"}, default="local"
        ``"local"``: divide by the local scale (see above); ``"none"``: the absolute
        residual.
    n_neighbors : int, default=20
        Neighbours of the local scale.
    %(random_state)s
        Shuffles the folds when ``cv`` is an int.
    %(n_jobs)s

    Attributes
    ----------
    scores_ : ndarray of shape (n_train,)
        The (scaled) absolute out-of-fold residual of each training row.
    residuals_ : ndarray of shape (n_train,)
        The signed out-of-fold residuals ``y − ŷ``.
    out_of_sample_prediction_ : ndarray of shape (n_train,)
        The out-of-fold predictions ``ŷ``.
    estimator_ : estimator
        The model fitted on all rows (for ``score_samples`` of new rows).
    n_features_in_ : int
    feature_names_in_ : ndarray of str
        Defined when X has string column names.

    See Also
    --------
    LossScorer : the classification counterpart (out-of-fold log-loss).
    OutOfBagScorer : a forest's out-of-bag residual (regressors too).
    CombinedScorer : combines it with other scores, by model family.

    Notes
    -----
    For rows not seen in fit, ``score_samples`` is the absolute residual under
    ``estimator_`` (unscaled: the local scale is a training-set quantity).

    Cost: k model fits on (k−1)/k of the rows plus one on all rows; the local scale one
    nearest-neighbour query (O(n log n p) with a tree, O(n² p) brute force at worst).

    Examples
    --------
    >>> from sklearn.datasets import load_diabetes
    >>> from sklearn.linear_model import Ridge
    >>> from skinfluence import ResidualScorer
    >>> X, y = load_diabetes(return_X_y=True)
    >>> scorer = ResidualScorer(Ridge(), random_state=0).fit(X, y)
    >>> scorer.scores_.shape, scorer.out_of_sample_prediction_.shape
    ((442,), (442,))
    """

    score_name = "residual"

    _parameter_constraints = {  # noqa: RUF012
        **BaseTrainingScorer._parameter_constraints,
        **shared_constraints("random_state", "n_jobs"),
        "estimator": [HasMethods(["fit", "predict", "get_params"])],
        "cv": [Interval(numbers.Integral, 2, None, closed="left"), "cv_object"],
        "scale": [StrOptions({"local", "none"})],
        "n_neighbors": [Interval(numbers.Integral, 1, None, closed="left")],
    }

    def __init__(
        self, estimator, *, cv=5, scale="local", n_neighbors=20, random_state=None, n_jobs=None
    ):
        self.estimator = estimator
        self.cv = cv
        self.scale = scale
        self.n_neighbors = n_neighbors
        self.random_state = random_state
        self.n_jobs = n_jobs

    def _fit(self, X, y, sample_weight):
        y = np.asarray(y, dtype=np.float64)
        if len(y) < 2:
            raise ValueError(
                "ResidualScorer needs at least 2 rows for out-of-fold predictions; got 1 sample."
            )
        if isinstance(self.cv, numbers.Integral):
            cv = KFold(min(int(self.cv), len(y)), shuffle=True, random_state=self.random_state)
        else:
            cv = check_cv(self.cv, y)
        params = (
            None if sample_weight is None else sample_weight_param(self.estimator, sample_weight)
        )
        predicted = cross_val_predict(
            self.estimator, X, y, cv=cv, n_jobs=self.n_jobs, params=params
        )
        self.out_of_sample_prediction_ = np.asarray(predicted, dtype=np.float64)
        self.residuals_ = y - self.out_of_sample_prediction_
        self.estimator_ = fit_clone(self.estimator, X, y, sample_weight)
        scores = np.abs(self.residuals_)
        if self.scale == "local":
            scores = scores / local_scale(X, self.residuals_, self.n_neighbors)
        self.scores_ = scores

    def _score_samples(self, X, y):
        return np.abs(np.asarray(y, dtype=np.float64) - self.estimator_.predict(X))

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = False  # the local scale's neighbours need dense rows
        return tags
