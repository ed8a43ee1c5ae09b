"""``KNNShapleyScorer``: exact Shapley values of a K-nearest-neighbour classifier (Jia 2019)."""

import numbers

import numpy as np
from sklearn.neighbors import KNeighborsClassifier, NearestNeighbors
from sklearn.utils import gen_batches
from sklearn.utils._param_validation import Interval
from sklearn.utils.multiclass import check_classification_targets

from .._utils._docstring import inject_docs
from .._utils._labels import encode_labels
from .._utils._progress import progress
from .._validation import shared_constraints
from ._base import BaseInfluenceScorer
from ._subsets import check_two_classes

# Default bound on the (rows × n_train) blocks of neighbour indices and values held at once.
_BLOCK_ENTRIES = 2**22


def knn_shapley_sorted(match, n_neighbors):
    """Shapley values of rows sorted by distance to a test row, shape (m, N).

    ``match[t, j]`` is 1 when the j-th nearest row of test row t has t's label. Theorem 1 of
    Jia et al. (2019), for the utility ``U(S) = (1/K) Σ_{k ≤ min(K, |S|)} match(α_k(S))``:
    ``s_N = match_N min(K, N) / (K N)`` (``match_N / N`` when N ≥ K, as the paper states it)
    and ``s_j = s_{j+1} + (match_j − match_{j+1}) min(K, j) / (K j)``
    (1-based j), a reversed cumulative sum: O(m N).
    """
    match = np.asarray(match, dtype=np.float64)
    m, n = match.shape
    values = np.empty((m, n))
    values[:, -1] = match[:, -1] * min(n_neighbors, n) / (n_neighbors * n)
    if n > 1:
        j = np.arange(1, n)
        steps = (match[:, :-1] - match[:, 1:]) * (np.minimum(n_neighbors, j) / (n_neighbors * j))
        values[:, :-1] = values[:, -1:] + np.cumsum(steps[:, ::-1], axis=1)[:, ::-1]
    return values


@inject_docs
class KNNShapleyScorer(BaseInfluenceScorer):
    """Exact data Shapley values of a K-nearest-neighbour classifier.

    For a test row, the utility of a training set S is the K-nearest-neighbour likelihood
    of its label: the fraction of its K nearest rows in S that carry it. Jia et al. (2019)
    give the Shapley value of every training row for that utility in closed form, a
    recursion over the rows sorted by distance: exact, no sampling, O(n log n) per test row.
    Positive = the row helps (it is near and shares the label).

    ``influence(X_test, y_test)[t, i]`` is row i's Shapley value for test row t, so
    ``influence(X_val, y_val, aggregate="mean")`` is its value for the validation
    accuracy of the classifier, the paper's. ``scores_`` needs no validation set: minus
    row i's mean value for the other training rows, each taken as a test row against the
    rest (its own row left out); a mislabelled row sits among rows of another label and
    lowers their utility, so higher = more suspect.

    Read more in the :ref:`User Guide <data_valuation>`.

    Parameters
    ----------
    n_neighbors : int, default=5
        K of the classifier whose utility is valued.
    metric : str or callable, default="minkowski"
        Any metric :class:`sklearn.neighbors.NearestNeighbors` takes.
    p : float, default=2
        Power of the Minkowski metric.
    metric_params : dict, default=None
        Further arguments of the metric.
    %(chunk_size)s
        Default: as many as keep the (rows × n_train) blocks of neighbour indices and
        values below 4 M entries each.
    %(n_jobs)s
        Passed to the neighbour search.
    %(verbose)s

    Attributes
    ----------
    estimator_ : KNeighborsClassifier
        The classifier valued, fitted on all rows (labels for ``y=None``).
    values_ : ndarray of shape (n_train,)
        Each row's mean Shapley value for the other training rows.
    scores_ : ndarray of shape (n_train,)
        ``-values_``: higher = more suspect.
    classes_ : ndarray
        Class labels.

    See Also
    --------
    BanzhafScorer : Banzhaf values of any model, by retraining on random subsets.
    DataOOBScorer : out-of-bag accuracy of a bagging model.
    InfluenceScorer : leave-one-out influence of models with gradients.

    Notes
    -----
    Rows at equal distance are ordered as the neighbour search returns them (a Shapley
    value of the classifier that breaks ties that way). Regression (the paper's KNN
    regressor utility) is not implemented.

    ``score_samples`` on new rows is ``1 − U``: the fraction of their K nearest training
    rows that do not share their label (the only part of the value that exists without
    adding the row to the data).

    Cost: a full neighbour ordering per test row, O(m n (d + log n)) time for m test rows
    (``scores_``: m = n, O(n² (d + log n))), memory O(chunk · n) plus the (m, n) result.

    References
    ----------
    Jia, R., Dao, D., Wang, B., Hubis, F. A., Gurel, N. M., Li, B., Zhang, C., Spanos, C.
    J. & Song, D. (2019). Efficient task-specific data valuation for nearest neighbor
    algorithms. Proceedings of the VLDB Endowment 12(11).

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from skinfluence import KNNShapleyScorer
    >>> X, y = load_iris(return_X_y=True)
    >>> knn = KNNShapleyScorer(n_neighbors=5).fit(X[::2], y[::2])
    >>> values = knn.influence(X[1::2], y[1::2], aggregate="mean")
    >>> values.shape, bool(values.sum() <= 1)
    ((75,), True)
    """

    score_name = "knn_shapley"

    _parameter_constraints = {  # noqa: RUF012
        **shared_constraints("n_jobs", "verbose", "chunk_size"),
        "n_neighbors": [Interval(numbers.Integral, 1, None, closed="left")],
        "metric": [str, callable],
        "p": [Interval(numbers.Real, 0, None, closed="right")],
        "metric_params": [dict, None],
    }

    def __init__(
        self,
        n_neighbors=5,
        *,
        metric="minkowski",
        p=2,
        metric_params=None,
        chunk_size=None,
        n_jobs=None,
        verbose=0,
    ):
        self.n_neighbors = n_neighbors
        self.metric = metric
        self.p = p
        self.metric_params = metric_params
        self.chunk_size = chunk_size
        self.n_jobs = n_jobs
        self.verbose = verbose

    def fit(self, X, y):
        """Fit the neighbour search on the training rows and compute ``scores_``.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Training rows.
        y : array-like of shape (n_samples,)
            Their class labels.

        Returns
        -------
        self : object
            The fitted scorer.
        """
        return super().fit(X, y)

    def _fit(self, X, y, sample_weight):
        check_classification_targets(y)
        n = len(y)
        if n < 2:
            raise ValueError(f"KNNShapleyScorer needs at least 2 training rows; got n_samples={n}.")
        search = {"metric": self.metric, "p": self.p, "metric_params": self.metric_params}
        self.classes_, self._codes = np.unique(y, return_inverse=True)
        check_two_classes(self, self.classes_)
        self._search = NearestNeighbors(**search, n_jobs=self.n_jobs).fit(X)
        self.estimator_ = KNeighborsClassifier(
            n_neighbors=min(self.n_neighbors, n), **search, n_jobs=self.n_jobs
        ).fit(X, y)
        totals = np.zeros(n)
        chunks = list(gen_batches(n, self._chunk(n)))
        for rows in progress(chunks, verbose=self.verbose, desc="KNNShapleyScorer", unit="chunk"):
            order = self._search.kneighbors(X[rows], n_neighbors=n, return_distance=False)
            # Each training row against the others: drop the row itself from its ordering.
            own = np.arange(n)[rows]
            order = order[order != own[:, None]].reshape(len(own), n - 1)
            match = self._codes[order] == self._codes[own][:, None]
            values = knn_shapley_sorted(match, self.n_neighbors)
            totals += np.bincount(order.ravel(), weights=values.ravel(), minlength=n)
        self.values_ = totals / (n - 1)
        self.scores_ = -self.values_

    def _chunk(self, n):
        if self.chunk_size is not None:
            return self.chunk_size
        return max(1, _BLOCK_ENTRIES // n)

    def _influence(self, X_test, y_test):
        codes = encode_labels(self.classes_, y_test)
        n = len(self._codes)
        out = np.empty((len(codes), n))
        for rows in gen_batches(len(codes), self._chunk(n)):
            order = self._search.kneighbors(X_test[rows], n_neighbors=n, return_distance=False)
            values = knn_shapley_sorted(self._codes[order] == codes[rows, None], self.n_neighbors)
            np.put_along_axis(out[rows], order, values, axis=1)
        return out

    def _score_samples(self, X, y):
        codes = encode_labels(self.classes_, y)
        k = min(self.n_neighbors, len(self._codes))
        neighbours = self._search.kneighbors(X, n_neighbors=k, return_distance=False)
        return 1.0 - (self._codes[neighbours] == codes[:, None]).mean(axis=1)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        return tags
