"""``PruningSelector``: keep a fraction of the training rows by a score, then fit a model."""

import numbers

import numpy as np
from sklearn.base import clone
from sklearn.utils import get_tags
from sklearn.utils._param_validation import HasMethods, Interval, RealNotInt, StrOptions
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import check_classification_targets, type_of_target
from sklearn.utils.validation import check_random_state
from sklearn_compat.base import _fit_context
from sklearn_compat.utils.validation import validate_data

from ._auto_rule import auto_keep
from ._base import BaseRowSelector, checked_scores
from ._strategies import DEFAULT_N_STRATA, coverage_sample, default_hard_cutoff, moderate_key

KEEP_OPTIONS = ("easy", "hard", "random", "moderate", "coverage", "auto")


def n_rows_to_keep(fraction, n_samples):
    """Rows kept for ``fraction`` (a float in (0, 1] or an int count) out of ``n_samples``."""
    if isinstance(fraction, numbers.Integral):
        if fraction > n_samples:
            raise ValueError(
                f"fraction={fraction} asks to keep {fraction} rows but there are only "
                f"{n_samples}; pass a count <= {n_samples} or a float in (0, 1]."
            )
        return int(fraction)
    return max(1, round(fraction * n_samples))


def _class_quotas(class_sizes, n_keep):
    """Split ``n_keep`` rows over classes in proportion to their sizes (largest remainder),
    at least one row per class, never more than a class has."""
    n_classes = len(class_sizes)
    if n_keep < n_classes:
        raise ValueError(
            f"Keeping {n_keep} rows cannot keep every one of the {n_classes} classes; "
            "raise fraction."
        )
    exact = n_keep * class_sizes / class_sizes.sum()
    quotas = np.floor(exact).astype(int)
    by_remainder = np.argsort(-(exact - quotas), kind="stable")
    quotas[by_remainder[: n_keep - quotas.sum()]] += 1
    for _ in range(int(np.sum(quotas == 0))):  # a class too small for its share keeps one
        quotas[np.argmin(quotas)] = 1  # row, paid for by the class with the largest quota
        quotas[np.argmax(quotas)] -= 1
    return quotas


def select_rows(
    scores,
    y,
    n_keep,
    keep,
    *,
    class_balance=True,
    random_state=None,
    hard_cutoff=None,
    n_strata=DEFAULT_N_STRATA,
):
    """Indices (sorted) of the ``n_keep`` rows that ``keep`` selects.

    Parameters
    ----------
    scores : ndarray of shape (n_samples,)
        Higher = harder.
    y : ndarray of shape (n_samples,) or None
        Labels; with ``class_balance`` and classification targets, every class keeps the same
        fraction (at least one row each).
    n_keep : int
    keep : {"easy", "hard", "random", "moderate", "coverage"}
        Lowest scores, highest scores, uniformly at random, nearest the median score (of
        each class with ``class_balance``), or coverage-centric (CCS) stratified sampling
        (:func:`~skinfluence.selection._strategies.coverage_sample`, within each class with
        ``class_balance``). Ties are broken at random.
    class_balance : bool, default=True
    random_state : int, RandomState instance or None
    hard_cutoff : float in [0, 1) or None, default=None
        CCS's β, for "coverage": the share of each group's hardest rows dropped before
        stratifying; None follows :func:`~skinfluence.selection._strategies.default_hard_cutoff`
        of the kept fraction.
    n_strata : int, default=50
        CCS's number of strata, for "coverage".

    Returns
    -------
    indices : ndarray of int, sorted
    """
    rng = check_random_state(random_state)
    n = len(scores)
    is_classes = y is not None and type_of_target(y) in ("binary", "multiclass")
    if is_classes:
        classes, codes = np.unique(y, return_inverse=True)
    if keep == "coverage":
        beta = default_hard_cutoff(n_keep / n) if hard_cutoff is None else float(hard_cutoff)
        if is_classes and class_balance:
            quotas = _class_quotas(np.bincount(codes, minlength=len(classes)), n_keep)
            kept = []
            for c in range(len(classes)):
                rows = np.flatnonzero(codes == c)
                positions = coverage_sample(
                    scores[rows], quotas[c], rng, hard_cutoff=beta, n_strata=n_strata
                )
                kept.append(rows[positions])
            return np.sort(np.concatenate(kept))
        kept = np.sort(coverage_sample(scores, n_keep, rng, hard_cutoff=beta, n_strata=n_strata))
        return _check_classes_kept(kept, codes, classes, keep) if is_classes else kept
    shuffled = rng.permutation(n)  # random tie-breaking, and the order for "random"
    if keep == "random":
        order = shuffled
    elif keep == "moderate":
        groups = codes if is_classes and class_balance else np.zeros(n, dtype=int)
        key = moderate_key(scores, groups)
        order = shuffled[np.argsort(key[shuffled], kind="stable")]
    else:
        sign = 1.0 if keep == "easy" else -1.0
        order = shuffled[np.argsort(sign * scores[shuffled], kind="stable")]
    if not is_classes:
        return np.sort(order[:n_keep])
    if class_balance:
        quotas = _class_quotas(np.bincount(codes, minlength=len(classes)), n_keep)
        ordered_codes = codes[order]
        kept = [order[ordered_codes == c][: quotas[c]] for c in range(len(classes))]
        return np.sort(np.concatenate(kept))
    return _check_classes_kept(np.sort(order[:n_keep]), codes, classes, keep)


def _check_classes_kept(kept, codes, classes, keep):
    missing = np.setdiff1d(np.arange(len(classes)), codes[kept])
    if len(missing):
        raise ValueError(
            f"Pruning with keep={keep!r} and class_balance=False kept no row of class(es) "
            f"{classes[missing].tolist()}; use class_balance=True or a larger fraction."
        )
    return kept


class PruningSelector(BaseRowSelector):
    """Keep a fraction of the training rows, chosen by a difficulty score, and fit a model.

    With ``estimator``, a meta-estimator: ``fit`` scores the training rows with a clone of
    ``scorer``, keeps ``fraction`` of them and fits a clone of ``estimator`` on those rows;
    ``predict``, ``predict_proba``, ``decision_function``, ``score`` and ``classes_`` are the
    fitted model's. Without ``estimator``, a sampler: ``fit_resample(X, y)`` returns the kept
    rows, so that it can be a step of an ``imblearn.pipeline.Pipeline``. Everything is a
    parameter, so ``GridSearchCV`` can tune ``fraction``, ``keep`` and the scorer's own
    parameters (``scorer__n_repeats``).

    Read more in the :ref:`User Guide <pruning_selector>`.

    Parameters
    ----------
    scorer : estimator with ``scores_`` after ``fit``
        Any skinfluence scorer (higher = harder), e.g. ``EL2NScorer``, ``GraNdScorer``,
        ``PrototypeScorer``, ``InfluenceScorer``. Fitted as a clone on the training rows.
    estimator : estimator or None, default=None
        The model fitted on the kept rows; None makes the selector a sampler.
    fraction : float in (0, 1] or int, default=0.5
        Share of the rows to keep, or (an int) how many. 1.0 keeps every row.
    keep : {"easy", "hard", "random", "moderate", "coverage", "auto"}, default="auto"
        "easy": the lowest scores; "hard": the highest; "random": a uniform random subset
        (the baseline any score must beat); "moderate": the scores nearest the median (of
        each class), Xia et al. (2023); "coverage": coverage-centric coreset selection (CCS,
        Zheng et al. 2023): drop the hardest ``hard_cutoff`` share, split the remaining score
        range into ``n_strata`` equal-width strata and sample them evenly (the budget spread
        from the smallest stratum up), so that every level of difficulty stays represented;
        "auto": the rule :func:`skinfluence.selection._auto_rule.auto_keep`, chosen by
        measurement (``benchmarks/bench_pruning.py``, see the User Guide): at present
        "coverage" with the default ``hard_cutoff``, the one rule that stayed near or above
        random at every fraction measured; the teacher-student rule of Sorscher et al.
        (2022), :func:`~skinfluence.selection._auto_rule.choose_keep` ("easy" when data are
        scarce, "hard" when abundant), which "auto" followed before, lost to random by tens
        of points at small fractions on data with mislabelled rows. The choice made is in
        ``keep_``.
    class_balance : bool, default=True
        Keep the same fraction within each class (classification targets only): class c
        keeps about ``fraction × n_c`` rows (largest-remainder rounding, so that the total is
        exact) and at least one, so no class vanishes; a class smaller than its share keeps
        one row, paid for by the largest class. If fewer rows are kept than there are classes
        this raises a ValueError. With ``class_balance=False`` rows are ranked globally and a
        ValueError is raised if a class loses every row.
    random_state : int, RandomState instance or None, default=None
        Breaks ties between equal scores and draws the "random" and "coverage" subsets.
    hard_cutoff : float in [0, 1) or None, default=None
        CCS's hard cutoff rate β, for ``keep="coverage"``: the share of each class's hardest
        rows dropped before stratifying (capped so that enough rows remain). None: 0 while
        half or more of the rows are kept, rising linearly to 0.3 at 10 % kept and held
        there (the authors tune β per pruning rate; their CIFAR-10 example uses 0.3 at 90 %
        pruning). Grid-search it like ``fraction``.
    n_strata : int, default=50
        CCS's number of strata k, for ``keep="coverage"`` (50 in the authors' code).

    Attributes
    ----------
    scorer_ : estimator
        The fitted clone of ``scorer``.
    scores_ : ndarray of shape (n_samples,)
        ``scorer_.scores_``: one score per training row.
    keep_ : {"easy", "hard", "random"}
        The rule applied (``keep`` with "auto" resolved).
    sample_indices_ : ndarray of int
        Indices of the kept rows, sorted (as imbalanced-learn's samplers name them).
    support_ : ndarray of bool of shape (n_samples,)
        Mask of the kept rows.
    estimator_ : estimator
        The clone of ``estimator`` fitted on the kept rows (not set without ``estimator``).
    classes_ : ndarray
        The fitted model's classes (with a classifier).
    n_features_in_ : int
    feature_names_in_ : ndarray of str
        Defined when X has string column names.

    See Also
    --------
    skinfluence.EL2NScorer, skinfluence.GraNdScorer, skinfluence.PrototypeScorer
    skinfluence.plotting.PruningCurveDisplay : test score against the fraction kept.

    Notes
    -----
    Cost: one scorer fit on n rows, a sort O(n log n) (also for "moderate" and "coverage",
    plus O(n_strata) for the budgets), and one model fit on the kept rows.
    Memory: the scorer's, plus O(n). The user's X, y, scorer and estimator are never
    modified.

    Which rows to keep: Sorscher et al. show, in a perceptron teacher-student model, that
    with little data per parameter the easiest rows (the ones that pin down the coarse
    boundary) are worth keeping, and with abundant data the hardest ones (near the boundary);
    Paul et al. prune easy rows of large image sets. With label noise, keeping the hardest
    rows keeps the mislabelled ones too, and when the model cannot fit the data the hardest
    rows are the ones it gets wrong; at high pruning rates a single ranking also loses
    coverage of the data (Zheng et al.), which "coverage" restores by sampling every
    difficulty stratum and "moderate" sidesteps by keeping typical rows. Grid-search ``keep``
    and ``fraction`` (with "random" as the baseline) when the data are not those measured.

    References
    ----------
    Sorscher, B., Geirhos, R., Shekhar, S., Ganguli, S. & Morcos, A. S. (2022). Beyond
    neural scaling laws: beating power law scaling via data pruning. NeurIPS.

    Paul, M., Ganguli, S. & Dziugaite, G. K. (2021). Deep learning on a data diet: finding
    important examples early in training. NeurIPS.

    Xia, X., Liu, J., Yu, J., Shen, X., Han, B. & Liu, T. (2023). Moderate coreset: a
    universal method of data selection for real-world data-efficient deep learning. ICLR.

    Zheng, H., Liu, R., Lai, F. & Prakash, A. (2023). Coverage-centric coreset selection for
    high pruning rates. ICLR.

    Examples
    --------
    >>> from sklearn.datasets import load_breast_cancer
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn.preprocessing import StandardScaler
    >>> from skinfluence import EL2NScorer, PruningSelector
    >>> X, y = load_breast_cancer(return_X_y=True)
    >>> selector = PruningSelector(
    ...     EL2NScorer(LogisticRegression(), n_repeats=1), LogisticRegression(),
    ...     fraction=0.5, keep="easy", random_state=0)
    >>> model = make_pipeline(StandardScaler(), selector).fit(X, y)
    >>> int(model[-1].support_.sum())
    284

    Coverage-centric selection of 10 % of the rows, class-balanced:

    >>> _ = selector.set_params(keep="coverage", fraction=0.1)
    >>> model = make_pipeline(StandardScaler(), selector).fit(X, y)
    >>> model[-1].keep_, int(model[-1].support_.sum())
    ('coverage', 57)
    """

    _parameter_constraints = {  # noqa: RUF012
        "scorer": [HasMethods(["fit"])],
        "estimator": [HasMethods(["fit"]), None],
        "fraction": [
            Interval(RealNotInt, 0, 1, closed="right"),
            Interval(numbers.Integral, 1, None, closed="left"),
        ],
        "keep": [StrOptions(set(KEEP_OPTIONS))],
        "class_balance": ["boolean"],
        "random_state": ["random_state"],
        "hard_cutoff": [Interval(numbers.Real, 0, 1, closed="left"), None],
        "n_strata": [Interval(numbers.Integral, 1, None, closed="left")],
    }

    def __init__(
        self,
        scorer,
        estimator=None,
        *,
        fraction=0.5,
        keep="auto",
        class_balance=True,
        random_state=None,
        hard_cutoff=None,
        n_strata=DEFAULT_N_STRATA,
    ):
        self.scorer = scorer
        self.estimator = estimator
        self.fraction = fraction
        self.keep = keep
        self.class_balance = class_balance
        self.random_state = random_state
        self.hard_cutoff = hard_cutoff
        self.n_strata = n_strata

    @_fit_context(prefer_skip_nested_validation=False)  # scorer and estimator validate their own
    def fit(self, X, y, **fit_params):
        """Score the rows, keep ``fraction`` of them and fit the model on those.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)
        **fit_params : dict
            Passed to the model's ``fit`` (arrays of length n_samples are restricted to the
            kept rows).

        Returns
        -------
        self : PruningSelector
        """
        X_kept, y_kept = self._select(X, y)
        if self.estimator is not None:
            self._fit_estimator(X_kept, y_kept, fit_params, len(self.support_))
        return self

    @available_if(lambda self: self.estimator is None)
    @_fit_context(prefer_skip_nested_validation=False)
    def fit_resample(self, X, y):
        """Score the rows and return the kept ones (imbalanced-learn's sampler API).

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)

        Returns
        -------
        X_resampled : same type as X, the kept rows in their original order
        y_resampled : same type as y
        """
        return self._select(X, y)

    def _select(self, X, y):
        X_in, y_in = X, y
        X, y = validate_data(
            self,
            X,
            y,
            accept_sparse=["csr", "csc"],
            dtype=None,
            ensure_all_finite=False,
            multi_output=False,
        )
        if self.estimator is not None and get_tags(self.estimator).estimator_type == "classifier":
            check_classification_targets(y)
        n = len(y)
        n_keep = n_rows_to_keep(self.fraction, n)
        self.scorer_ = clone(self.scorer).fit(X, y)
        scores = self.scores_ = checked_scores(self.scorer_, n, "PruningSelector")
        n_features = getattr(self, "n_features_in_", X.shape[1] if X.ndim == 2 else 1)
        self.keep_ = auto_keep(n, n_features, n_keep / n) if self.keep == "auto" else self.keep
        self.sample_indices_ = select_rows(
            scores,
            y,
            n_keep,
            self.keep_,
            class_balance=self.class_balance,
            random_state=self.random_state,
            hard_cutoff=self.hard_cutoff,
            n_strata=self.n_strata,
        )
        self._keep_rows(self.sample_indices_, n)
        return self._kept_data(X_in, y_in, X, y, self.sample_indices_)
