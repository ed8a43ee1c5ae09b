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
        extra = np.full((len(codes), n_classes), np.nan)
        if Xm.shape[0] and hasattr(est, "predict_proba"):
            # A member fitted on encoded labels may have missed a class: align on 0..K-1.
            member_classes = np.asarray(est.classes_).astype(np.int64)
            extra[mask] = align_proba(est.predict_proba(Xm), member_classes, np.arange(n_classes))
        elif Xm.shape[0]:  # no probabilities: the member's vote (as sklearn's bagging)
            extra[mask] = np.eye(n_classes)[pred.astype(np.int64)]
        out.append((perf, extra))
    return out


def per_member(members, X, codes, n_classes, *, rows=None, n_jobs=None, verbose=0, desc=""):
    """:func:`_member_performance` of every member, in member order, in parallel batches of
    members (threads: tree predictions release the GIL)."""
    n_batches = n_parallel_batches(len(members), n_jobs, verbose)
    batches = Parallel(n_jobs=n_jobs, prefer="threads", return_as="generator")(
        delayed(_member_performance)(
            members[s], X, codes, n_classes, None if rows is None else rows[s]
        )
        for s in gen_even_slices(len(members), n_batches)
    )
    for batch in progress(batches, verbose=verbose, total=n_batches, desc=desc):
        yield from batch


def out_of_bag(model, X, codes, n_classes, *, n_jobs=None, verbose=0, desc="out of bag"):
    """The one out-of-bag pass over a fitted bagging model (:class:`DataOOBScorer`,
    :class:`OutOfBagScorer`): each member predicts the rows its sample left out.

    ``codes``: the labels as class codes 0..K-1 (``n_classes`` = K) or, with
    ``n_classes=None``, the float targets. Returns a dict: ``members`` and ``in_bag``
    (:func:`bagging_members`, ``in_bag`` as a (K, n) bool matrix), ``n_oob`` (members that
    left each row out), ``values`` (their mean correctness, minus squared error for
    regressors: Data-OOB) and ``mean``, their mean class probabilities (n, K) (votes for
    members without ``predict_proba``: for a forest, its ``oob_decision_function_``) or
    prediction (n,) (its ``oob_prediction_``); NaN for a row every member saw.

    Cost: one prediction per member on its out-of-bag rows; O(K n) memory for ``in_bag``.
    """
    members, samples = bagging_members(model)
    n = len(codes)
    in_bag = np.zeros((len(members), n), dtype=bool)
    for k, rows in enumerate(samples):
        in_bag[k, rows] = True
    n_oob = (~in_bag).sum(axis=0)
    moments = RowMoments(n)  # the out-of-bag half only: members predict their OOB rows
    extra_sum = 0.0
    for k, (perf, extra) in enumerate(
        per_member(
            members, X, codes, n_classes, rows=~in_bag, n_jobs=n_jobs, verbose=verbose, desc=desc
        )
    ):
        moments.add(perf if n_classes is not None else -perf, in_bag[k])
        extra_sum = extra_sum + np.nan_to_num(extra)
    with np.errstate(invalid="ignore", divide="ignore"):
        count = n_oob if n_classes is None else n_oob[:, None]
        mean = np.where(count > 0, extra_sum / np.maximum(count, 1), np.nan)
    return {
        "members": members,
        "in_bag": in_bag,
        "n_oob": n_oob,
        "values": moments.mean_out(),
        "mean": mean,
    }


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
        Classifiers: the members' mean out-of-bag probabilities, the votes of members
        without ``predict_proba`` (for a forest or ``BaggingClassifier``, its
        ``oob_decision_function_``); NaN for a row that every member saw.
    oob_prediction_ : ndarray of shape (n_train,)
        Regressors: the members' mean out-of-bag prediction (NaN for a row every member
        saw).
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
        self.estimator_ = model
        self.classes_ = np.asarray(model.classes_) if classifier else None
        n_classes = None if self.classes_ is None else len(self.classes_)
        oob = out_of_bag(
            model,
            X,
            self._codes(y),
            n_classes,
            n_jobs=self.n_jobs,
            verbose=self.verbose,
            desc="DataOOBScorer fit",
        )
        self._members, self.in_bag_, self.n_oob_ = oob["members"], oob["in_bag"], oob["n_oob"]
        if (self.n_oob_ == 0).any():
            warnings.warn(
                f"{int((self.n_oob_ == 0).sum())} training rows were drawn for every member "
                "of the bagging model: their Data-OOB value is undefined (NaN). Use more "
                "members (n_estimators), or bootstrap=True.",
                ApproximationWarning,
                stacklevel=4,
            )
        self.values_ = oob["values"]
        self.scores_ = 1.0 - self.values_ if n_classes is not None else -self.values_
        if n_classes is not None:
            self.oob_proba_ = oob["mean"]
        else:
            self.oob_prediction_ = oob["mean"]

    def _codes(self, y):
        if self.classes_ is None:
            return np.asarray(y, dtype=np.float64)
        return encode_labels(self.classes_, y)

    def _performances(self, X, y):
        """(K, m): each member's correctness (minus squared error) on the rows."""
        n_classes = None if self.classes_ is None else len(self.classes_)
        perf = np.stack(
            [
                p
                for p, _ in per_member(
                    self._members,
                    X,
                    self._codes(y),
                    n_classes,
                    n_jobs=self.n_jobs,
                    verbose=self.verbose,
                    desc="DataOOBScorer rows",
                )
            ]
        )
        return perf if n_classes is not None else -perf

    def _influence(self, X_test, y_test):
        return in_minus_out(self._performances(X_test, y_test), self.in_bag_)[0]

    def _score_samples(self, X, y):
        perf = self._performances(X, y).mean(axis=0)
        return 1.0 - perf if self.classes_ is not None else -perf
