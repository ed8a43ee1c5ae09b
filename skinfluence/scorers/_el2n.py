"""``EL2NScorer``: error L2-norm of briefly trained probes (Paul et al. 2021)."""

import numbers

import numpy as np
from sklearn.model_selection import StratifiedKFold, check_cv
from sklearn.utils import _safe_indexing
from sklearn.utils._param_validation import HasMethods, Interval
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.parallel import Parallel, delayed

from .._utils._docstring import inject_docs
from .._utils._labels import encode_labels
from .._utils._progress import progress
from .._utils._random import draw_seeds
from .._validation import shared_constraints
from ._base import BaseTrainingScorer
from ._probes import consensus_labels, fit_probe, probe_proba


def _el2n(proba, codes):
    """‖p − onehot(y)‖₂ per row."""
    err = proba.copy()
    err[np.arange(len(codes)), codes] -= 1.0
    return np.sqrt(np.einsum("ij,ij->i", err, err))


def _fit_and_score(estimator, probe_params, seed, X, y, codes, sample_weight, classes, train, test):
    sw = sample_weight if sample_weight is None or train is None else sample_weight[train]
    Xtr = X if train is None else _safe_indexing(X, train)
    ytr = y if train is None else y[train]
    probe = fit_probe(estimator, probe_params, seed, Xtr, ytr, sw, classes)
    Xte = X if test is None else _safe_indexing(X, test)
    cte = codes if test is None else codes[test]
    return probe, _el2n(probe_proba(probe, Xte, classes), cte)


@inject_docs
class EL2NScorer(BaseTrainingScorer):
    """EL2N: how far briefly trained probes' predicted probabilities are from each row's label.

    ``scores_[i]`` is the mean over ``n_repeats`` probes of ``‖p(x_i) − onehot(y_i)‖₂``,
    between 0 (every probe confidently right) and √2 (confidently wrong). **Higher = harder**:
    mislabelled, ambiguous and atypical rows score high, redundant easy rows low. Pruning the
    lowest scores (keeping the hard rows) is Paul et al.'s data-diet recipe.

    Read more in the :ref:`User Guide <el2n>`.

    Parameters
    ----------
    %(estimator_retrained)s
        The probe model: a classifier with ``predict_proba``, scikit-learn or skorch (or a
        Pipeline ending in one).
    %(n_repeats_probes)s
        With ``cv`` the folds are reshuffled for every repeat, so the repeats differ even
        for a deterministic model.
    %(probe_params)s
    cv : int, cross-validation generator, iterable or None, default=None
        None: probes are trained on all rows and score their own training rows (in-sample).
        Otherwise each probe scores only rows outside its training fold (out-of-fold); an
        int k means stratified k-fold, reshuffled for every repeat. See Notes.
    %(random_state)s
        Draws the probes' seeds (and the fold shuffles).
    %(n_jobs)s
    %(verbose)s

    Attributes
    ----------
    estimators_ : list of estimators
        The fitted probes (``n_repeats``, or ``n_repeats × n_splits`` with ``cv``).
    repeat_scores_ : ndarray of shape (n_repeats, n_train)
        EL2N under each repeat (with ``cv``: each row's out-of-fold score in that repeat;
        NaN where a splitter left a row out of every test fold).
    scores_ : ndarray of shape (n_train,)
        Mean of ``repeat_scores_`` over the repeats.
    classes_ : ndarray of shape (n_classes,)
    n_features_in_ : int
    feature_names_in_ : ndarray of str
        Defined when X has string column names.

    See Also
    --------
    GraNdScorer : per-sample gradient norm, EL2N's gradient-based sibling.
    PrototypeScorer : label-free distance to k-means prototypes.
    skinfluence.PruningSelector : keeps a fraction of rows by any of these scores.

    Notes
    -----
    In-sample (``cv=None``) is Paul et al.'s setting: probes trained for a few epochs (or
    iterations) on all rows, when the error still separates hard rows from easy ones. A
    probe trained to convergence by a flexible model memorises its training rows, so its
    in-sample error goes to 0 everywhere; then use ``cv``: the out-of-fold error of a fully
    trained probe is the standard mislabel detector (cf. cleanlab, imbalanced-learn's
    ``InstanceHardnessThreshold``). Out-of-fold scores are the better label-noise detector,
    in-sample ones are closer to what the paper prunes by; ``cv`` costs k times more.

    For rows not seen in fit, ``score_samples`` averages over all probes, fold probes
    included; with ``y=None`` the label is the class of highest mean probability, so the
    score measures the probes' uncertainty.

    Cost: ``n_repeats`` probe fits on n rows (× k folds with ``cv``, each on (k−1)/k of the
    rows), plus one ``predict_proba`` per probe; memory O(n K) besides the probes.

    References
    ----------
    Paul, M., Ganguli, S. & Dziugaite, G. K. (2021). Deep learning on a data diet: finding
    important examples early in training. NeurIPS.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from sklearn.linear_model import LogisticRegression
    >>> from skinfluence import EL2NScorer
    >>> X, y = load_iris(return_X_y=True)
    >>> scorer = EL2NScorer(LogisticRegression(), n_repeats=1, probe_params={"max_iter": 5})
    >>> scorer.fit(X, y).scores_.shape
    (150,)
    """

    score_name = "el2n"

    _parameter_constraints = {  # noqa: RUF012
        **BaseTrainingScorer._parameter_constraints,
        **shared_constraints("random_state", "n_jobs", "verbose"),
        "estimator": [HasMethods(["fit", "predict_proba", "get_params"])],
        "n_repeats": [Interval(numbers.Integral, 1, None, closed="left")],
        "probe_params": [dict, None],
        "cv": ["cv_object", None],
    }

    def __init__(
        self,
        estimator,
        *,
        n_repeats=5,
        probe_params=None,
        cv=None,
        random_state=None,
        n_jobs=None,
        verbose=0,
    ):
        self.estimator = estimator
        self.n_repeats = n_repeats
        self.probe_params = probe_params
        self.cv = cv
        self.random_state = random_state
        self.n_jobs = n_jobs
        self.verbose = verbose

    def _fit(self, X, y, sample_weight):
        check_classification_targets(y)
        self.classes_ = np.unique(y)
        codes = encode_labels(self.classes_, y)
        seeds = draw_seeds(self.random_state, self.n_repeats)
        tasks = [(r, None, None) for r in range(self.n_repeats)]
        if self.cv is not None:
            tasks = [
                (r, train, test)
                for r in range(self.n_repeats)
                for train, test in self._splitter(seeds[r]).split(X, y)
            ]
        jobs = Parallel(n_jobs=self.n_jobs, return_as="generator")(
            delayed(_fit_and_score)(
                self.estimator,
                self.probe_params,
                seeds[r],
                X,
                y,
                codes,
                sample_weight,
                self.classes_,
                train,
                test,
            )
            for r, train, test in tasks
        )
        sums = np.zeros((self.n_repeats, len(y)))
        counts = np.zeros((self.n_repeats, len(y)))
        self.estimators_ = []
        for (r, _, test), (probe, err) in zip(
            tasks,
            progress(
                jobs, verbose=self.verbose, total=len(tasks), desc=type(self).__name__, unit="probe"
            ),
            strict=True,
        ):
            self.estimators_.append(probe)
            rows = slice(None) if test is None else test
            np.add.at(sums[r], np.arange(len(y))[rows], err)
            np.add.at(counts[r], np.arange(len(y))[rows], 1)
        with np.errstate(invalid="ignore", divide="ignore"):
            self.repeat_scores_ = np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)
        never = np.all(counts == 0, axis=0)
        if np.any(never):
            raise ValueError(
                f"cv={self.cv!r} left {int(never.sum())} rows out of every test fold, so they "
                "have no out-of-fold score; use a splitter that partitions the rows (KFold, "
                "StratifiedKFold) or more repeats."
            )
        self.scores_ = np.nanmean(self.repeat_scores_, axis=0)

    def _splitter(self, seed):
        if isinstance(self.cv, numbers.Integral):
            return StratifiedKFold(n_splits=self.cv, shuffle=True, random_state=seed)
        return check_cv(self.cv, classifier=True)

    def _score_samples(self, X, y):
        codes = encode_labels(self.classes_, y)
        return np.mean(
            [_el2n(probe_proba(p, X, self.classes_), codes) for p in self.estimators_], axis=0
        )

    def _predicted_labels(self, X):
        return consensus_labels(self.estimators_, X, self.classes_)
