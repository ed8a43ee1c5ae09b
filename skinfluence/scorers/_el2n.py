"""``EL2NScorer``: error L2-norm of briefly trained probes (Paul et al. 2021).

Also the probe machinery that :class:`~skinfluence.scorers.GraNdScorer` shares: cloning the
user's model with ``probe_params``, one seed per probe, and fitting it quietly.
"""

import numbers
import warnings

import numpy as np
from joblib import Parallel, delayed
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning as SklearnConvergenceWarning
from sklearn.model_selection import StratifiedKFold, check_cv
from sklearn.utils import _safe_indexing
from sklearn.utils._param_validation import HasMethods, Interval
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, check_random_state
from tqdm.auto import tqdm

from .._validation import n_jobs_constraint
from ._base import BaseTrainingScorer, sample_weight_param, validated_sample_weight
from ._loo import _final_step

# -- probes (shared with GraNdScorer) -------------------------------------------------------


def is_torch_model(estimator):
    """Whether the model (or a Pipeline's last step) is a skorch net: it needs float32 X and
    int64 class codes, and is seeded through torch."""
    return type(_final_step(estimator)).__module__.split(".")[0] == "skorch"


def make_probe(estimator, probe_params, seed):
    """An unfitted clone of ``estimator`` with ``probe_params`` and every ``random_state``
    (including nested ones, ``step__random_state``) set to ``seed``."""
    probe = clone(estimator)
    if probe_params:
        probe.set_params(**probe_params)
    seeded = {
        key: seed
        for key in probe.get_params(deep=True)
        if key == "random_state" or key.endswith("__random_state")
    }
    if seeded:
        probe.set_params(**seeded)
    return probe


def probe_inputs(estimator, X, y, classes):
    """(X, y) as the model consumes them: float32 and class codes for skorch nets."""
    if not is_torch_model(estimator):
        return X, y
    X = X.astype(np.float32) if hasattr(X, "astype") else X
    if y is not None and classes is not None:
        y = label_codes(classes, np.asarray(y)).astype(np.int64)
    return X, y


def label_codes(classes, y):
    """Positions of ``y`` in ``classes``; a ValueError names unknown labels."""
    idx = np.clip(np.searchsorted(classes, y), 0, len(classes) - 1)
    unknown = classes[idx] != y
    if np.any(unknown):
        raise ValueError(
            f"y contains labels not seen in fit: {np.unique(y[unknown])[:5].tolist()}; "
            f"known classes are {classes.tolist()}."
        )
    return idx


def fit_probe(estimator, probe_params, seed, X, y, sample_weight=None, classes=None):
    """Fit one probe. Convergence warnings are silenced when ``probe_params`` is given:
    stopping early is then what the user asked for."""
    probe = make_probe(estimator, probe_params, seed)
    Xp, yp = probe_inputs(probe, X, y, classes)
    fit_params = {} if sample_weight is None else sample_weight_param(probe, sample_weight)
    with warnings.catch_warnings():
        if probe_params:
            warnings.simplefilter("ignore", SklearnConvergenceWarning)
        if is_torch_model(probe):
            import torch  # skorch is installed, hence torch

            torch.manual_seed(seed)
        probe.fit(Xp, yp, **fit_params)
    return probe


def probe_seeds(random_state, n_repeats):
    """``n_repeats`` independent integer seeds drawn from ``random_state``."""
    rng = check_random_state(random_state)
    return rng.randint(np.iinfo(np.int32).max, size=n_repeats)


def aligned_proba(probe, X, classes):
    """``probe.predict_proba(X)`` with one column per entry of ``classes`` (0 for a class the
    probe never saw, e.g. absent from a cross-validation fold)."""
    Xp, _ = probe_inputs(probe, X, None, None)
    proba = np.asarray(probe.predict_proba(Xp), dtype=np.float64)
    if is_torch_model(probe):  # trained on codes 0..K-1
        return proba  # a net has one output per class of the whole training set
    probe_classes = np.asarray(probe.classes_)
    if np.array_equal(probe_classes, classes):
        return proba
    out = np.zeros((proba.shape[0], len(classes)))
    out[:, np.searchsorted(classes, probe_classes)] = proba
    return out


def consensus_labels(probes, X, classes):
    """Label-free stand-in for y: the class of highest mean probability over the probes
    (classifiers), or the mean prediction (regressors)."""
    if classes is not None:
        mean = np.mean([aligned_proba(p, X, classes) for p in probes], axis=0)
        return classes[np.argmax(mean, axis=1)]
    return np.mean([np.asarray(p.predict(X), dtype=np.float64) for p in probes], axis=0)


def progress(tasks, total, verbose, desc):
    return tqdm(tasks, total=total, desc=desc, unit="probe") if verbose else tasks


# -- EL2N ---------------------------------------------------------------------------------


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
    return probe, _el2n(aligned_proba(probe, Xte, classes), cte)


class EL2NScorer(BaseTrainingScorer):
    """EL2N: how far briefly trained probes' predicted probabilities are from each row's label.

    ``scores_[i]`` is the mean over ``n_repeats`` probes of ``‖p(x_i) − onehot(y_i)‖₂``,
    between 0 (every probe confidently right) and √2 (confidently wrong). **Higher = harder**:
    mislabelled, ambiguous and atypical rows score high, redundant easy rows low. Pruning the
    lowest scores (keeping the hard rows) is Paul et al.'s data-diet recipe.

    Parameters
    ----------
    estimator : classifier with ``predict_proba``
        The probe model, scikit-learn or skorch (or a Pipeline ending in one). ``fit``
        trains clones; the object passed is never modified.
    n_repeats : int, default=5
        Number of probes, each with its own seed (every ``random_state`` parameter of the
        probe, nested ones included; skorch nets are seeded through ``torch.manual_seed``).
        Deterministic models (e.g. ``LogisticRegression`` with lbfgs) give identical probes
        without ``cv``: use ``n_repeats=1`` for them.
    probe_params : dict, default=None
        Parameters set on each probe to train it briefly, e.g. ``{"max_iter": 5}`` for
        scikit-learn or ``{"max_epochs": 10}`` for skorch. When given, scikit-learn's
        ``ConvergenceWarning`` is silenced during probe fits (stopping early is the point).
    cv : int, cross-validation generator, iterable or None, default=None
        None: probes are trained on all rows and score their own training rows (in-sample).
        Otherwise each probe scores only rows outside its training fold (out-of-fold); an
        int k means stratified k-fold, reshuffled for every repeat. See Notes.
    random_state : int, RandomState instance or None, default=None
        Draws the probes' seeds (and the fold shuffles).
    n_jobs : int, default=None
        Probes are trained in parallel through joblib.
    verbose : int, default=0
        Progress bar over probes when > 0.

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
        "estimator": [HasMethods(["fit", "predict_proba"])],
        "n_repeats": [Interval(numbers.Integral, 1, None, closed="left")],
        "probe_params": [dict, None],
        "cv": ["cv_object", None],
        "random_state": ["random_state"],
        "n_jobs": n_jobs_constraint(),
        "verbose": ["verbose"],
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

    def fit(self, X, y, sample_weight=None):
        """Train the probes and compute ``scores_``.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)
            Class labels.
        sample_weight : array-like of shape (n_samples,), default=None
            Passed to every probe's ``fit``.

        Returns
        -------
        self : EL2NScorer
        """
        self._validate_params()
        X, y = self._validate_Xy(X, y, reset=True)
        check_classification_targets(y)
        sample_weight = validated_sample_weight(sample_weight, len(y))
        self.classes_ = np.unique(y)
        codes = np.searchsorted(self.classes_, y)
        seeds = probe_seeds(self.random_state, self.n_repeats)
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
            tasks, progress(jobs, len(tasks), self.verbose, type(self).__name__), strict=True
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
        return self

    def _splitter(self, seed):
        if isinstance(self.cv, numbers.Integral):
            return StratifiedKFold(n_splits=self.cv, shuffle=True, random_state=seed)
        return check_cv(self.cv, classifier=True)

    def score_samples(self, X, y=None):
        """EL2N of labelled rows under the fitted probes (mean over all probes).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,), default=None
            Labels; None uses the probes' consensus label (a label-free uncertainty score).

        Returns
        -------
        scores : ndarray of shape (n_samples,)
        """
        check_is_fitted(self)
        X = self._validate_X(X, reset=False)
        if y is None:
            y = consensus_labels(self.estimators_, X, self.classes_)
        y = np.asarray(y)
        codes = label_codes(self.classes_, y)
        return np.mean(
            [_el2n(aligned_proba(p, X, self.classes_), codes) for p in self.estimators_], axis=0
        )

    def predicted_labels(self, X):
        """The probes' consensus label (highest mean predicted probability)."""
        check_is_fitted(self)
        return consensus_labels(self.estimators_, self._validate_X(X, reset=False), self.classes_)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.required = True
        tags.input_tags.sparse = not self._accepts_raw_X()
        return tags
