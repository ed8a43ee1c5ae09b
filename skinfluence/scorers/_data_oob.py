"""``DataOOBScorer``: the out-of-bag value of each row under a bagging model (Kwon & Zou 2023)."""

import warnings

import numpy as np
from sklearn.base import is_classifier
from sklearn.utils import gen_even_slices
from sklearn.utils.parallel import Parallel, delayed

from .._utils._docstring import inject_docs
from .._utils._estimators import is_frozen
from .._utils._labels import align_proba, encode_labels
from .._utils._parallel import n_parallel_batches
from .._utils._progress import progress
from .._validation import shared_constraints
from ..exceptions import ApproximationWarning
from ._base import BaseInfluenceScorer, fit_clone
from ._subsets import RowMoments, check_two_classes, in_minus_out


def bagging_members(model):
    """The members of a fitted bagging model: a list of ``(estimator, feature_indices)``
    (None where a member sees every feature), and ``in_bag`` (K, n) bool from the model's
    own draws (``estimators_samples_``).

    Raises a ``TypeError`` that names the models that have them.
    """
    samples = getattr(model, "estimators_samples_", None)
    if samples is None:
        raise TypeError(
            f"DataOOBScorer needs a bagging model that records its bootstrap draws "
            f"(estimators_samples_): BaggingClassifier/Regressor, RandomForest*, ExtraTrees* "
            f"with bootstrap=True; got {type(model).__name__}. For any other model use "
            "MemorizationScorer (random subsets) or BanzhafScorer."
        )
    features = getattr(model, "estimators_features_", None)
    members = [
        (est, None if features is None else np.asarray(features[k]))
        for k, est in enumerate(model.estimators_)
    ]
    return members, samples


def _member_performance(members, X, codes, n_classes, rows=None):
    """Per member: correctness (classification: the member's prediction, a class code, equal
    to the row's) or squared error (regression), and class probabilities (classifiers whose
    members have ``predict_proba``) or predictions (regressors).

    ``rows``: per member, a boolean mask of the rows to predict (the others are NaN).
    """
    out = []
    for k, (est, feats) in enumerate(members):
        mask = slice(None) if rows is None else rows[k]
        Xm = X[mask] if feats is None else X[mask][:, feats]
        perf = np.full(len(codes), np.nan)
        pred = np.asarray(est.predict(Xm)) if Xm.shape[0] else np.empty(0)
        if n_classes is None:
            perf[mask] = (pred.astype(np.float64) - codes[mask]) ** 2
            extra = np.full(len(codes), np.nan)
            extra[mask] = pred
            out.append((perf, extra))
            continue
        perf[mask] = pred.astype(np.int64) == codes[mask]
        extra = None
        if hasattr(est, "predict_proba"):
            # A member fitted on encoded labels may have missed a class: align on 0..K-1.
            extra = np.full((len(codes), n_classes), np.nan)
            if Xm.shape[0]:
                member_classes = np.asarray(est.classes_).astype(np.int64)
                extra[mask] = align_proba(
                    est.predict_proba(Xm), member_classes, np.arange(n_classes)
                )
        out.append((perf, extra))
    return out


@inject_docs
class DataOOBScorer(BaseInfluenceScorer):
    """Data-OOB: each row's value is the accuracy on it of the bagged models that never saw it.

    Kwon & Zou (2023): a bagging model (a random forest, extremely randomised trees with
    ``bootstrap=True``, ``BaggingClassifier``/``BaggingRegressor``) already trains each
    member on a bootstrap sample; the value of row i is the mean, over the members whose
    sample left i out, of their correctness on it, ``1[f_b(x_i) = y_i]`` (regression:
    ``−(f_b(x_i) − y_i)²``), read from the fitted model's own draws
    (``estimators_samples_``): no refit. High = the row is predictable from the others;
    ``scores_`` is the out-of-bag error, higher = more suspect.

    ``influence(X_test, y_test)[t, i]`` is the bagging estimate of row i's influence on test
    row t (Feldman & Zhang's subsampled influence, with the bootstrap as the subsets): the
    members' mean correctness on t (minus squared error) when i was in their sample minus
    when it was not; positive = row i helps.

    Read more in the :ref:`User Guide <data_valuation>`.

    Parameters
    ----------
    %(estimator_fitted)s
        A bagging classifier or regressor with bootstrap (or row subsampling).
    %(n_jobs)s
        Members predicted in parallel (threads).
    %(verbose)s

    Attributes
    ----------
    estimator_ : estimator
        The fitted bagging model.
    values_ : ndarray of shape (n_train,)
        The Data-OOB value of each row (NaN, with a warning, for a row that every
        member saw).
    scores_ : ndarray of shape (n_train,)
        ``1 − values_`` (out-of-bag error rate) for classifiers, ``−values_`` (out-of-bag
        squared error) for regressors: higher = more suspect.
    in_bag_ : ndarray of bool, shape (n_estimators, n_train)
        ``in_bag_[k, i]``: row i was drawn for member k.
    n_oob_ : ndarray of int, shape (n_train,)
        Number of members that did not see each row.
    oob_proba_ : ndarray of shape (n_train, n_classes)
        Classifiers whose members have ``predict_proba``: the members' mean out-of-bag
        probabilities (for a forest, its ``oob_decision_function_``).
    oob_prediction_ : ndarray of shape (n_train,)
        Regressors: the members' mean out-of-bag prediction.
    classes_ : ndarray
        Class labels (classifiers).

    See Also
    --------
    MemorizationScorer : the same out-of-subset statistic for any model, retrained on
        random subsets, with the in-subset half (memorisation).
    BanzhafScorer : Banzhaf values on uniformly random subsets.
    KNNShapleyScorer : exact Shapley values of a nearest-neighbour classifier.

    Notes
    -----
    A member whose sample holds a row several times counts as having seen it. With
    ``BaggingClassifier(max_features=...)`` each member predicts on its own features.

    ``score_samples`` on new rows: no member saw them, so their error under all members
    (the same scale as ``scores_``).

    Cost: one fit of the bagging model (none when frozen), then one prediction per member
    on its out-of-bag rows, O(K n) predictions in all (for a forest, as its own
    ``oob_score``); memory O(K n) bytes for ``in_bag_`` and O(n K_classes) for the sums.
    ``influence`` on m test rows: K predictions and O(K m n).

    References
    ----------
    Kwon, Y. & Zou, J. (2023). Data-OOB: out-of-bag estimate as a simple and efficient data
    value. ICML.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from sklearn.ensemble import RandomForestClassifier
    >>> from skinfluence import DataOOBScorer
    >>> X, y = load_iris(return_X_y=True)
    >>> oob = DataOOBScorer(RandomForestClassifier(50, random_state=0)).fit(X, y)
    >>> oob.values_.shape, bool(((oob.values_ >= 0) & (oob.values_ <= 1)).all())
    ((150,), True)
    """

    score_name = "data_oob"

    _parameter_constraints = {  # noqa: RUF012
        **BaseInfluenceScorer._parameter_constraints,
        **shared_constraints("n_jobs", "verbose"),
    }

    def __init__(self, estimator, *, n_jobs=None, verbose=0):
        self.estimator = estimator
        self.n_jobs = n_jobs
        self.verbose = verbose

    def _fit(self, X, y, sample_weight):
        classifier = is_classifier(self.estimator)
        if np.ndim(y) != 1:
            raise ValueError(
                f"DataOOBScorer takes one target column; got y of shape {np.shape(y)}."
            )
        if classifier:
            check_two_classes(self, np.unique(y))
        model = fit_clone(self.estimator, X, y, sample_weight)
        model = model.estimator if is_frozen(model) else model
        members, samples = bagging_members(model)
        n = len(y)
        in_bag = np.zeros((len(members), n), dtype=bool)
        for k, rows in enumerate(samples):
            in_bag[k, rows] = True
        self.estimator_, self._members, self.in_bag_ = model, members, in_bag
        self.classes_ = np.asarray(model.classes_) if classifier else None
        self.n_oob_ = (~in_bag).sum(axis=0)
        if (self.n_oob_ == 0).any():
            warnings.warn(
                f"{int((self.n_oob_ == 0).sum())} training rows were drawn for every member "
                "of the bagging model: their Data-OOB value is undefined (NaN). Use more "
                "members (n_estimators), or bootstrap=True.",
                ApproximationWarning,
                stacklevel=4,
            )

        codes = self._codes(y)
        n_classes = None if self.classes_ is None else len(self.classes_)
        moments = RowMoments(n)  # the out-of-bag half only: members predict their OOB rows
        extra_sum = None
        members = self._per_member(X, codes, n_classes, desc="fit", rows=~in_bag)
        for k, (perf, extra) in enumerate(members):
            moments.add(perf if n_classes is not None else -perf, in_bag[k])
            if extra is not None:
                extra = np.nan_to_num(extra)
                extra_sum = extra if extra_sum is None else extra_sum + extra
        self.values_ = moments.mean_out()
        self.scores_ = 1.0 - self.values_ if n_classes is not None else -self.values_
        if extra_sum is not None:
            with np.errstate(invalid="ignore", divide="ignore"):
                n_oob = self.n_oob_ if extra_sum.ndim == 1 else self.n_oob_[:, None]
                mean = np.where(n_oob > 0, extra_sum / np.maximum(n_oob, 1), np.nan)
            if n_classes is not None:
                self.oob_proba_ = mean
            else:
                self.oob_prediction_ = mean

    def _codes(self, y):
        if self.classes_ is None:
            return np.asarray(y, dtype=np.float64)
        return encode_labels(self.classes_, y)

    def _per_member(self, X, codes, n_classes, desc, rows=None):
        """(performance, probabilities or predictions) of every member on every row, in
        member order, in parallel batches of members (threads: tree predictions release
        the GIL)."""
        n_batches = n_parallel_batches(len(self._members), self.n_jobs, self.verbose)
        batches = Parallel(n_jobs=self.n_jobs, prefer="threads", return_as="generator")(
            delayed(_member_performance)(
                self._members[s], X, codes, n_classes, None if rows is None else rows[s]
            )
            for s in gen_even_slices(len(self._members), n_batches)
        )
        batches = progress(
            batches, verbose=self.verbose, total=n_batches, desc=f"DataOOBScorer {desc}"
        )
        for batch in batches:
            yield from batch

    def _performances(self, X, y):
        """(K, m): each member's correctness (minus squared error) on the rows."""
        n_classes = None if self.classes_ is None else len(self.classes_)
        perf = np.stack([p for p, _ in self._per_member(X, self._codes(y), n_classes, "rows")])
        return perf if n_classes is not None else -perf

    def _influence(self, X_test, y_test):
        return in_minus_out(self._performances(X_test, y_test), self.in_bag_)[0]

    def _score_samples(self, X, y):
        perf = self._performances(X, y).mean(axis=0)
        return 1.0 - perf if self.classes_ is not None else -perf
