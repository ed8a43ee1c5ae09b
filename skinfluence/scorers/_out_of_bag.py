"""``OutOfBagScorer``: the loss of each row's label under a forest's out-of-bag votes."""

from numbers import Integral

import numpy as np
from scipy.stats import rankdata
from sklearn.base import clone, is_regressor
from sklearn.ensemble import ExtraTreesClassifier, ExtraTreesRegressor
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions
from sklearn.utils.multiclass import check_classification_targets, type_of_target

from .._utils._docstring import inject_docs
from .._utils._labels import align_proba, encode_labels, label_log_loss
from .._validation import shared_constraints
from ._base import BaseTrainingScorer, sample_weight_param
from ._data_oob import out_of_bag
from ._losses import per_sample_loss
from ._subsets import check_two_classes

#: Trees of the default forest: each leaves out 37% of the rows, so every row is out of ~110
#: of them and its out-of-bag vote has a standard error below 0.05. Fewer trees cost detection
#: (mislabel benchmark, AUPRC on synthetic-linear: 0.78 with 100 trees, 0.81 with 200, 0.83
#: with 300).
DEFAULT_TREES = 300
#: With ``n_estimators="auto"`` the default forest grows by this many trees at a time ...
CHUNK_TREES = 25
#: ... until its scores' ranks move less than this between chunks (mean absolute change of
#: the rows' ranks, as fractions of n): see :func:`_rank_change`.
STABLE_RANK_CHANGE = 0.01


def _rank_change(before, after):
    """Mean absolute change of the rows' ranks (in [0, 1]) between two score vectors."""
    n = len(before)
    return float(np.mean(np.abs(rankdata(before) - rankdata(after))) / n)


def _n_rows(X):
    return X.shape[0]


@inject_docs
class OutOfBagScorer(BaseTrainingScorer):
    """Loss of each row's given label under the votes of the trees that did not see it.

    A bagged forest is fitted once; ``scores_[i]`` is ``−log p(y_i | x_i)`` where ``p`` is
    the mean vote of the trees whose bootstrap sample left row i out (~37% of them): an
    out-of-sample loss without folds, from a nonlinear model family (cf. Data-OOB, Kwon &
    Zou 2023). **Higher = more suspect**.

    Read more in the :ref:`User Guide <audit_api>`.

    Parameters
    ----------
    estimator : bagging classifier or regressor, or None, default=None
        A forest with ``bootstrap`` and ``oob_score`` parameters that records its draws
        (``estimators_samples_``) after fit (``RandomForestClassifier``,
        ``ExtraTreesRegressor``, ``BaggingClassifier``, ...); a clone is fitted with
        ``bootstrap=True, oob_score=False``: the out-of-bag votes are computed once, by the
        pass of :class:`DataOOBScorer` over the trees that left each row out, equal to
        sklearn's ``oob_decision_function_`` (``oob_prediction_``). None: 300 fully
        grown extremely randomised trees, an ``ExtraTreesRegressor`` when ``y`` is
        continuous, else an ``ExtraTreesClassifier``, with ``n_estimators`` trees.
    n_estimators : int, "auto" or None, default=None
        Trees of the default forest (``estimator=None``; an ``estimator`` brings its own).
        None: 300. ``"auto"``: grown 25 at a time, up to 300, and stopped once the
        out-of-bag scores are stable (the rows' ranks move by less than 1% of n on average
        between two chunks). On the mislabel benchmark fewer trees cost AUPRC on four of
        five data sets (synthetic-linear: 0.788 with 100 trees, 0.849 with 300) and the rule
        stopped before 300 on none of them, so it is not the default.
    %(random_state)s
        Seeds the forest (set on the clone when not None).
    %(n_jobs)s
        Set on the forest's clone when not None.

    Attributes
    ----------
    scores_ : ndarray of shape (n_train,)
        The out-of-bag loss of each training row's label.
    out_of_sample_proba_ : ndarray of shape (n_train, n_classes)
        The out-of-bag class probabilities (columns: ``classes_``); uniform for a row that
        every tree saw (probability ~0.63^300 with the default). Classifiers only.
    out_of_sample_prediction_ : ndarray of shape (n_train,)
        The out-of-bag predictions (the mean target for a row every tree saw).
        Regressors only.
    estimator_ : estimator
        The fitted forest.
    n_estimators_ : int
        Trees of the fitted forest.
    rank_changes_ : ndarray of shape (n_chunks - 1,)
        Default forest: the mean absolute change of the rows' ranks (fractions of n) after
        each chunk of trees; the last one is below 0.01 when it stopped early.
    classes_ : ndarray of shape (n_classes,)
        Classifiers only.
    n_features_in_ : int
    feature_names_in_ : ndarray of str
        Defined when X has string column names.

    See Also
    --------
    LossScorer : the same loss under out-of-fold predictions of any model.
    DataOOBScorer : the members' out-of-bag accuracy, from the same out-of-bag pass.
    MemorizationScorer : Feldman & Zhang's in-minus-out accuracy over random subsets.
    CombinedScorer : combines it with other scores, by model family.

    Notes
    -----
    For rows not seen in fit, ``score_samples`` uses the whole forest.

    Cost: one forest fit, O(T n log n p') for T trees of ``max_features`` p' features, then
    each tree predicts its out-of-bag rows (as ``oob_score``); memory that of the trees,
    plus O(T n) bytes for the draws and O(n K).

    References
    ----------
    Kwon, Y. & Zou, J. (2023). Data-OOB: out-of-bag estimate as a simple and efficient data
    value. ICML.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from sklearn.ensemble import RandomForestClassifier
    >>> from skinfluence import OutOfBagScorer
    >>> X, y = load_iris(return_X_y=True)
    >>> scorer = OutOfBagScorer(RandomForestClassifier(50), random_state=0).fit(X, y)
    >>> scorer.scores_.shape, scorer.out_of_sample_proba_.shape
    ((150,), (150, 3))
    """

    score_name = "out_of_bag"

    _parameter_constraints = {  # noqa: RUF012
        **shared_constraints("random_state", "n_jobs"),
        "estimator": [HasMethods(["fit", "predict_proba", "get_params"]), None],
        "n_estimators": [StrOptions({"auto"}), Interval(Integral, 1, None, closed="left"), None],
    }

    def __init__(self, estimator=None, *, n_estimators=None, random_state=None, n_jobs=None):
        self.estimator = estimator
        self.n_estimators = n_estimators
        self.random_state = random_state
        self.n_jobs = n_jobs

    def _forest(self, y):
        forest = clone(self.estimator)
        names = forest.get_params(deep=False)
        if "oob_score" not in names or "bootstrap" not in names:
            raise TypeError(
                f"OutOfBagScorer needs a bagging classifier with bootstrap and oob_score "
                f"parameters (RandomForestClassifier, ExtraTreesClassifier, "
                f"BaggingClassifier); got {type(self.estimator).__name__}."
            )
        # oob_score=False: the out-of-bag votes are computed once, by out_of_bag.
        forest.set_params(bootstrap=True, oob_score=False)
        for name in ("random_state", "n_jobs"):
            if getattr(self, name) is not None and name in names:
                forest.set_params(**{name: getattr(self, name)})
        return forest

    def _fit(self, X, y, sample_weight):
        if self.estimator is None:
            self._fit_default(X, y, sample_weight)
            return
        if self.n_estimators is not None:
            raise ValueError(
                f"n_estimators={self.n_estimators!r} sets the trees of the default forest; "
                "set them on your estimator instead (or leave estimator=None)."
            )
        forest = self._forest(y)
        regressor = is_regressor(forest)
        if not regressor:
            check_classification_targets(y)
            self.classes_ = np.unique(y)
            check_two_classes(self, self.classes_)
        params = {} if sample_weight is None else sample_weight_param(forest, sample_weight)
        self.estimator_ = forest.fit(X, y, **params)
        if regressor:
            y = np.asarray(y, dtype=np.float64)
            codes, n_classes = y, None
        else:
            codes, n_classes = encode_labels(forest.classes_, y), len(forest.classes_)
        # The out-of-bag votes: Data-OOB's pass over the forest's own bootstrap draws.
        mean = out_of_bag(forest, X, codes, n_classes, n_jobs=self.n_jobs)["mean"]
        if regressor:
            predicted = mean.reshape(len(y))
            predicted[~np.isfinite(predicted)] = y.mean()
            self.out_of_sample_prediction_ = predicted
            self.scores_ = np.abs(y - predicted)
            return
        proba = align_proba(mean, forest.classes_, self.classes_)
        unseen = ~np.isfinite(proba).all(axis=1)
        proba[unseen] = 1.0 / proba.shape[1]
        self.out_of_sample_proba_ = proba
        self.scores_ = label_log_loss(proba, encode_labels(self.classes_, y))

    def _fit_default(self, X, y, sample_weight):
        """The default forest, grown in chunks until its out-of-bag scores are stable."""
        regressor = type_of_target(y) == "continuous"
        if not regressor:
            check_classification_targets(y)
            self.classes_ = np.unique(y)
            check_two_classes(self, self.classes_)
        auto = self.n_estimators == "auto"
        n_max = DEFAULT_TREES if self.n_estimators in (None, "auto") else self.n_estimators
        forest = (ExtraTreesRegressor if regressor else ExtraTreesClassifier)(
            0, bootstrap=True, warm_start=True, random_state=self.random_state, n_jobs=self.n_jobs
        )
        params = {} if sample_weight is None else sample_weight_param(forest, sample_weight)
        n = _n_rows(X)
        X_trees = sums = counts = previous = None
        changes, start = [], 0
        while start < n_max:
            size = min(n_max, start + CHUNK_TREES) if auto else n_max
            forest.set_params(n_estimators=size).fit(X, y, **params)
            if X_trees is None:  # the trees' own input: float32, validated once
                X_trees = forest.estimators_[0]._validate_X_predict(X, check_input=True)
                sums = np.zeros((n, 1 if regressor else len(forest.classes_)))
                counts = np.zeros(n)
            drawn = forest.estimators_samples_[start:]
            for tree, rows in zip(forest.estimators_[start:], drawn, strict=True):
                out = np.ones(n, dtype=bool)
                out[rows] = False
                if regressor:
                    sums[out, 0] += tree.predict(X_trees[out], check_input=False)
                else:
                    sums[out] += tree.predict_proba(X_trees[out], check_input=False)
                counts[out] += 1
            start = size
            scores = self._scores_from(forest, sums, counts, y, regressor)
            if previous is not None:
                changes.append(_rank_change(previous, scores))
                if changes[-1] < STABLE_RANK_CHANGE:
                    break
            previous = scores
        self.estimator_ = forest.set_params(warm_start=False)
        self.n_estimators_ = len(forest.estimators_)
        self.rank_changes_ = np.asarray(changes)

    def _scores_from(self, forest, sums, counts, y, regressor):
        """Set the out-of-sample attributes and return the scores from the vote sums."""
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = sums / counts[:, None]
        if regressor:
            y = np.asarray(y, dtype=np.float64)
            predicted = mean[:, 0]
            predicted[counts == 0] = y.mean()
            self.out_of_sample_prediction_ = predicted
            self.scores_ = np.abs(y - predicted)
            return self.scores_
        proba = align_proba(mean, forest.classes_, self.classes_)
        proba[counts == 0] = 1.0 / proba.shape[1]
        self.out_of_sample_proba_ = proba
        self.scores_ = label_log_loss(proba, encode_labels(self.classes_, y))
        return self.scores_

    def _score_samples(self, X, y):
        if is_regressor(self.estimator_):
            return np.abs(np.asarray(y, dtype=np.float64) - self.estimator_.predict(X))
        return per_sample_loss(self.estimator_, X, y, classes=self.classes_)
