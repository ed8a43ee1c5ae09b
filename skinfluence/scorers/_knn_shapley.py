"""``KNNShapleyScorer``: exact Shapley values of K-nearest-neighbour models (Jia 2019)."""

import numbers

import numpy as np
from sklearn.neighbors import KNeighborsClassifier, KNeighborsRegressor, NearestNeighbors
from sklearn.utils import gen_batches
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.multiclass import check_classification_targets, type_of_target

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


def knn_shapley_regression_sorted(y_sorted, y_test, n_neighbors):
    """Shapley values of rows sorted by distance for the KNN regressor's utility, (m, N).

    ``y_sorted[t, j]`` is the target of the j-th nearest row of test row t. The utility is
    Jia et al.'s (2019) for unweighted KNN regression, minus the squared error of the mean
    of the K nearest targets, ``U(S) = −((1/K) Σ_{k ≤ min(K, |S|)} y_{α_k(S)} − y_t)²``
    (divided by K also when |S| < K; ``U(∅) = −y_t²``). With rows 1-based by distance and
    ``M_i = min(K, i)``:

    * ``s_N = −(y_N/K) [(M_N/N)(y_N/K − 2y_t) + (2/K) Σ_{j<N} y_j · M_N(M_N − 1) / (2N(N−1))]``;
    * ``s_i − s_{i+1} = ((y_{i+1} − y_i)/K) [(M_i/i)((y_i + y_{i+1})/K − 2y_t) + (2/K)
      (Σ_{j<i} y_j · M_i(M_i − 1)/(2i(i−1)) + Σ_{j>i+1} y_j · P_j)]`` with
      ``P_j = M'_j(M'_j + 1)/(2(j−1)(j−2))``, ``M'_j = min(K − 1, j − 2)``: the probability,
      over Shapley's random orderings, that row j is among the K − 1 nearest rows that
      precede i (i + 1) while i (i + 1) is among the K nearest.

    Prefix and suffix sums make it O(m N); the tests check it against brute-force Shapley
    over all orderings.
    """
    Y = np.asarray(y_sorted, dtype=np.float64)
    yt = np.asarray(y_test, dtype=np.float64).reshape(-1, 1)
    m, n = Y.shape
    K = n_neighbors
    values = np.empty((m, n))
    M_n = min(K, n)
    rest = Y[:, :-1].sum(axis=1, keepdims=True)
    pair_n = M_n * (M_n - 1) / (2 * n * (n - 1)) if n > 1 else 0.0
    values[:, -1:] = -(Y[:, -1:] / K) * (
        (M_n / n) * (Y[:, -1:] / K - 2 * yt) + (2 / K) * rest * pair_n
    )
    if n > 1:
        i = np.arange(1, n)  # 1-based positions of the differences s_i − s_{i+1}
        M = np.minimum(K, i)
        closer_weight = np.where(i > 1, M * (M - 1) / (2 * i * np.maximum(i - 1, 1)), 0.0)
        prefix = np.cumsum(Y, axis=1) - Y  # Σ_{j<i} y_j at column i − 1
        j = np.arange(1, n + 1)
        Mp = np.minimum(K - 1, j - 2)
        P = np.where(j > 2, Mp * (Mp + 1) / (2 * np.maximum(j - 1, 1) * np.maximum(j - 2, 1)), 0.0)
        weighted = Y * P
        # Σ_{j>i+1} y_j P_j for i = 1..N−1: suffix sums starting at column i + 1 (0-based)
        suffix = np.concatenate(
            [np.cumsum(weighted[:, ::-1], axis=1)[:, ::-1], np.zeros((m, 1))], axis=1
        )
        far = suffix[:, i + 1]
        near = prefix[:, i - 1] * closer_weight
        y_i, y_next = Y[:, :-1], Y[:, 1:]
        steps = ((y_next - y_i) / K) * (
            (M / i) * ((y_i + y_next) / K - 2 * yt) + (2 / K) * (near + far)
        )
        values[:, :-1] = values[:, -1:] + np.cumsum(steps[:, ::-1], axis=1)[:, ::-1]
    return values


@inject_docs
class KNNShapleyScorer(BaseInfluenceScorer):
    """Exact data Shapley values of a K-nearest-neighbour classifier or regressor.

    For a test row, the utility of a training set S is the K-nearest-neighbour likelihood
    of its label: the fraction of its K nearest rows in S that carry it. Jia et al. (2019)
    give the Shapley value of every training row for that utility in closed form, a
    recursion over the rows sorted by distance: exact, no sampling, O(n log n) per test row.
    Positive = the row helps (it is near and shares the label). For regression
    (``task="regression"``, or "auto" with continuous targets) the utility is minus the
    squared error of the mean of the K nearest targets, the paper's KNN-regression utility,
    with its own exact O(n) recursion after the sort
    (:func:`knn_shapley_regression_sorted`): positive = the row pulls the prediction towards
    the test target.

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
    task : {"auto", "classification", "regression"}, default="auto"
        The KNN model valued. "auto": regression when ``y`` is continuous
        (``type_of_target(y) == "continuous"``), else classification.
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
    estimator_ : KNeighborsClassifier or KNeighborsRegressor
        The model valued, fitted on all rows.
    task_ : {"classification", "regression"}
        The task ``"auto"`` resolved to.
    values_ : ndarray of shape (n_train,)
        Each row's mean Shapley value for the other training rows.
    scores_ : ndarray of shape (n_train,)
        ``-values_``: higher = more suspect.
    classes_ : ndarray
        Class labels (classification only).

    See Also
    --------
    BanzhafScorer : Banzhaf values of any model, by retraining on random subsets.
    DataOOBScorer : out-of-bag accuracy of a bagging model.
    InfluenceScorer : leave-one-out influence of models with gradients.

    Notes
    -----
    Rows at equal distance are ordered as the neighbour search returns them (a Shapley
    value of the classifier that breaks ties that way).

    ``score_samples`` on new rows is ``1 − U``: the fraction of their K nearest training
    rows that do not share their label (the only part of the value that exists without
    adding the row to the data); for regression ``−U``, the squared error of the KNN
    prediction.

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

    Regression, valued by minus the squared error of the KNN mean prediction:

    >>> from sklearn.datasets import load_diabetes
    >>> Xr, yr = load_diabetes(return_X_y=True)
    >>> knn_r = KNNShapleyScorer(n_neighbors=5).fit(Xr[:200], yr[:200] / 100)
    >>> knn_r.task_, knn_r.influence(Xr[200:203], yr[200:203] / 100).shape
    ('regression', (3, 200))
    """

    score_name = "knn_shapley"

    _parameter_constraints = {  # noqa: RUF012
        **shared_constraints("n_jobs", "verbose", "chunk_size"),
        "n_neighbors": [Interval(numbers.Integral, 1, None, closed="left")],
        "metric": [str, callable],
        "p": [Interval(numbers.Real, 0, None, closed="right")],
        "metric_params": [dict, None],
        "task": [StrOptions({"auto", "classification", "regression"})],
    }

    def __init__(
        self,
        n_neighbors=5,
        *,
        metric="minkowski",
        p=2,
        metric_params=None,
        task="auto",
        chunk_size=None,
        n_jobs=None,
        verbose=0,
    ):
        self.n_neighbors = n_neighbors
        self.metric = metric
        self.p = p
        self.metric_params = metric_params
        self.task = task
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
            Their class labels (targets for regression).

        Returns
        -------
        self : object
            The fitted scorer.
        """
        return super().fit(X, y)

    def _fit(self, X, y, sample_weight):
        n = len(y)
        regression = self.task == "regression" or (
            self.task == "auto" and type_of_target(y) == "continuous"
        )
        self.task_ = "regression" if regression else "classification"
        if regression:
            y = np.asarray(y, dtype=np.float64)
            if y.ndim != 1:
                raise ValueError(f"KNN-Shapley regression takes 1-D targets; got shape {y.shape}.")
        else:
            check_classification_targets(y)
        if n < 2:
            raise ValueError(f"KNNShapleyScorer needs at least 2 training rows; got n_samples={n}.")
        search = {"metric": self.metric, "p": self.p, "metric_params": self.metric_params}
        k = min(self.n_neighbors, n)
        if regression:
            self._targets = y
            self.estimator_ = KNeighborsRegressor(n_neighbors=k, **search, n_jobs=self.n_jobs)
        else:
            self.classes_, self._codes = np.unique(y, return_inverse=True)
            check_two_classes(self, self.classes_)
            self._targets = self._codes
            self.estimator_ = KNeighborsClassifier(n_neighbors=k, **search, n_jobs=self.n_jobs)
        self.estimator_.fit(X, y)
        self._search = NearestNeighbors(**search, n_jobs=self.n_jobs).fit(X)
        totals = np.zeros(n)
        chunks = list(gen_batches(n, self._chunk(n)))
        for rows in progress(chunks, verbose=self.verbose, desc="KNNShapleyScorer", unit="chunk"):
            order = self._search.kneighbors(X[rows], n_neighbors=n, return_distance=False)
            # Each training row against the others: drop the row itself from its ordering.
            own = np.arange(n)[rows]
            order = order[order != own[:, None]].reshape(len(own), n - 1)
            values = self._sorted_values(order, self._targets[own])
            totals += np.bincount(order.ravel(), weights=values.ravel(), minlength=n)
        self.values_ = totals / (n - 1)
        self.scores_ = -self.values_

    def _sorted_values(self, order, test_targets):
        """Shapley values of the training rows in ``order`` (m, N) for the test targets."""
        if self.task_ == "regression":
            return knn_shapley_regression_sorted(
                self._targets[order], test_targets, self.n_neighbors
            )
        return knn_shapley_sorted(self._targets[order] == test_targets[:, None], self.n_neighbors)

    def _test_targets(self, y):
        if self.task_ == "regression":
            return np.asarray(y, dtype=np.float64).reshape(-1)
        return encode_labels(self.classes_, y)

    def _chunk(self, n):
        if self.chunk_size is not None:
            return self.chunk_size
        return max(1, _BLOCK_ENTRIES // n)

    def _influence(self, X_test, y_test):
        targets = self._test_targets(y_test)
        n = len(self._targets)
        out = np.empty((len(targets), n))
        for rows in gen_batches(len(targets), self._chunk(n)):
            order = self._search.kneighbors(X_test[rows], n_neighbors=n, return_distance=False)
            values = self._sorted_values(order, targets[rows])
            np.put_along_axis(out[rows], order, values, axis=1)
        return out

    def _score_samples(self, X, y):
        targets = self._test_targets(y)
        k = min(self.n_neighbors, len(self._targets))
        neighbours = self._search.kneighbors(X, n_neighbors=k, return_distance=False)
        if self.task_ == "regression":
            # −U: the squared error of the mean of the K nearest targets (divided by K)
            return (self._targets[neighbours].sum(axis=1) / self.n_neighbors - targets) ** 2
        return 1.0 - (self._targets[neighbours] == targets[:, None]).mean(axis=1)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        return tags
