"""Metrics for scores: detection of known bad rows, agreement with leave-one-out, removal curves."""

import numpy as np
from scipy import stats
from sklearn.metrics import average_precision_score, roc_auc_score
from sklearn.utils import Bunch

from ._utils._docstring import inject_docs


def detection_scores(is_bad, scores):
    """How well ``scores`` (higher = more suspect) rank the known bad rows first.

    Parameters
    ----------
    is_bad : array-like of bool, shape (n_samples,)
        Ground truth, e.g. the flipped rows from :func:`skinfluence.datasets.flip_labels`.
    scores : array-like of shape (n_samples,)
        One score per row, higher = more suspect (e.g. a scorer's ``scores_``).

    Returns
    -------
    result : Bunch
        ``auroc``, ``auprc`` (average precision), ``base_rate`` (the AUPRC of a random
        ranking) and ``precision_at_k`` (precision among the top ``is_bad.sum()`` rows).

    See Also
    --------
    agreement : Correlation of an influence estimate with a reference.
    skinfluence.plotting.DetectionCurveDisplay : The precision-recall curve behind AUPRC.

    Examples
    --------
    >>> from skinfluence.metrics import detection_scores
    >>> r = detection_scores([0, 0, 1, 1], [0.1, 0.2, 0.9, 0.3])
    >>> float(r.auroc), float(r.precision_at_k)
    (1.0, 1.0)
    """
    is_bad = np.asarray(is_bad, dtype=bool)
    scores = np.asarray(scores, dtype=np.float64)
    if is_bad.shape != scores.shape:
        raise ValueError(f"is_bad has shape {is_bad.shape} but scores {scores.shape}.")
    if is_bad.all() or not is_bad.any():
        raise ValueError("is_bad must contain both bad and good rows.")
    k = int(is_bad.sum())
    top = np.argsort(-scores, kind="stable")[:k]
    return Bunch(
        auroc=roc_auc_score(is_bad, scores),
        auprc=average_precision_score(is_bad, scores),
        base_rate=is_bad.mean(),
        precision_at_k=is_bad[top].mean(),
    )


def agreement(estimate, reference):
    """Pearson and Spearman correlation between two influence arrays (flattened).

    Parameters
    ----------
    estimate : array-like
        Influence (or any scores) from the method under test.
    reference : array-like of the same shape
        The ground truth, e.g. :class:`~skinfluence.LeaveOneOutScorer`'s influence.

    Returns
    -------
    result : Bunch
        ``pearson`` and ``spearman``, each in [-1, 1].

    See Also
    --------
    detection_scores : How well scores rank known bad rows first.

    Examples
    --------
    >>> from skinfluence.metrics import agreement
    >>> float(round(agreement([1, 2, 3], [2, 4, 7]).spearman, 3))
    1.0
    """
    a = np.asarray(estimate, dtype=np.float64).ravel()
    b = np.asarray(reference, dtype=np.float64).ravel()
    if a.shape != b.shape:
        raise ValueError(f"shapes differ: {a.shape} vs {b.shape}.")
    return Bunch(pearson=stats.pearsonr(a, b)[0], spearman=stats.spearmanr(a, b)[0])


@inject_docs
def removal_curve(
    scorer,
    estimator,
    X,
    y,
    X_eval,
    y_eval,
    *,
    fractions=(0.0, 0.05, 0.1, 0.2, 0.3),
    order="high",
    n_repeats=5,
    scoring=None,
    confidence=0.95,
    random_state=None,
    n_jobs=None,
):
    """Held-out score after removing the top-ranked training rows, next to random removal.

    The field's standard evaluation of a data-valuation or mislabel score (Ghorbani & Zou
    2019; Kwon & Zou 2023): rank the training rows by the scorer, remove each fraction of
    them from the top, retrain ``estimator`` on the rest and score it on ``(X_eval,
    y_eval)``; the same with rows removed at random, ``n_repeats`` times per fraction, gives
    the baseline and its band. With ``order="high"`` (the most suspect rows first) a good
    score's curve rises above the band; with ``order="low"`` (the most valuable rows first)
    it falls below it.

    Parameters
    ----------
    %(removal_curve_parameters)s

    Returns
    -------
    result : Bunch
        ``fractions`` and ``n_removed`` (n_fractions,); ``scores``: the held-out score after
        removing by the scorer's order; ``random_scores`` (n_fractions, n_repeats);
        ``random_mean``, ``random_low``, ``random_high`` (the band); ``order``,
        ``scoring`` (its name) and ``row_scores`` (the ranking used).

    See Also
    --------
    skinfluence.plotting.RemovalCurveDisplay : Draws this curve.
    detection_scores : How well scores rank known bad rows first.

    Notes
    -----
    Cost: ``len(fractions) × (1 + n_repeats)`` fits of ``estimator`` on at most n rows
    (``n_jobs`` in parallel), plus one fit of the scorer. Rows with a NaN score are removed
    last.

    Examples
    --------
    >>> from sklearn.datasets import make_moons
    >>> from sklearn.neighbors import KNeighborsClassifier
    >>> from skinfluence import KNNShapleyScorer
    >>> from skinfluence.datasets import flip_labels
    >>> from skinfluence.metrics import removal_curve
    >>> X, y = make_moons(300, noise=0.2, random_state=0)
    >>> y_noisy, _ = flip_labels(y[:200], 0.1, random_state=0)
    >>> result = removal_curve(KNNShapleyScorer(10), KNeighborsClassifier(15), X[:200],
    ...                        y_noisy, X[200:], y[200:], fractions=[0.0, 0.1],
    ...                        n_repeats=3, random_state=0)
    >>> result.scores.shape, result.random_scores.shape
    ((2,), (2, 3))
    """
    from sklearn.base import clone
    from sklearn.metrics import check_scoring
    from sklearn.utils import _safe_indexing, check_random_state
    from sklearn.utils.parallel import Parallel, delayed

    if order not in ("high", "low"):
        raise ValueError(f"order must be 'high' or 'low'; got {order!r}.")
    if not isinstance(n_repeats, int | np.integer) or n_repeats < 1:
        raise ValueError(f"n_repeats must be a positive integer; got {n_repeats!r}.")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1); got {confidence!r}.")
    rng = check_random_state(random_state)
    n = len(y)
    if hasattr(scorer, "fit"):
        scorer = clone(scorer)
        if "random_state" in scorer.get_params() and scorer.get_params()["random_state"] is None:
            scorer.set_params(random_state=rng.randint(np.iinfo(np.int32).max))
        row_scores = np.asarray(scorer.fit(X, y).scores_, dtype=np.float64)
    else:
        row_scores = np.asarray(scorer, dtype=np.float64)
    if row_scores.shape != (n,):
        raise ValueError(
            f"scorer must be a scorer estimator or one score per training row ({n}); got "
            f"scores of shape {row_scores.shape}."
        )
    fractions = np.asarray(fractions, dtype=np.float64)
    if fractions.ndim != 1 or np.any((fractions < 0) | (fractions >= 1)):
        raise ValueError(f"fractions must be a sequence of floats in [0, 1); got {fractions}.")
    n_removed = np.floor(fractions * n + 0.5).astype(int)
    key = -row_scores if order == "high" else row_scores
    ranking = np.argsort(np.where(np.isnan(key), np.inf, key), kind="stable")
    removals = [ranking[:k] for k in n_removed]
    removals += [rng.permutation(n)[:k] for k in n_removed for _ in range(n_repeats)]

    def fit_and_score(removed):
        keep = np.setdiff1d(np.arange(n), removed)
        model = clone(estimator).fit(_safe_indexing(X, keep), _safe_indexing(y, keep))
        return check_scoring(model, scoring=scoring)(model, X_eval, y_eval)

    values = np.asarray(Parallel(n_jobs=n_jobs)(delayed(fit_and_score)(r) for r in removals))
    curve = values[: len(n_removed)]
    random_scores = values[len(n_removed) :].reshape(len(n_removed), n_repeats)
    mean = random_scores.mean(axis=1)
    spread = random_scores.std(axis=1, ddof=1) if n_repeats > 1 else np.zeros(len(mean))
    z = stats.norm.ppf(0.5 + confidence / 2)
    return Bunch(
        fractions=fractions,
        n_removed=n_removed,
        scores=curve,
        random_scores=random_scores,
        random_mean=mean,
        random_low=mean - z * spread,
        random_high=mean + z * spread,
        order=order,
        scoring=_scoring_name(scoring, estimator),
        row_scores=row_scores,
    )


def _scoring_name(scoring, estimator):
    from sklearn.base import is_classifier, is_regressor

    if isinstance(scoring, str):
        return scoring
    if scoring is None and is_classifier(estimator):
        return "accuracy"
    if scoring is None and is_regressor(estimator):
        return "r2"
    return "score"


@inject_docs
def pruning_curve(
    estimator,
    X,
    y,
    scores,
    X_test,
    y_test,
    *,
    fractions=(0.1, 0.2, 0.3, 0.5, 0.7, 1.0),
    keep=("easy", "hard", "moderate", "coverage"),
    class_balance=True,
    scoring=None,
    n_repeats=5,
    hard_cutoff=None,
    n_strata=50,
    confidence=0.95,
    random_state=None,
    n_jobs=None,
):
    """Held-out score after keeping each fraction of the rows by each rule, next to random.

    The evaluation of a pruning score (Sorscher et al. 2022; Zheng et al. 2023): for each
    rule of :class:`~skinfluence.PruningSelector` and each fraction, train ``estimator`` on
    the rows the rule keeps (class-balanced) and score it on ``(X_test, y_test)``; random
    subsets of the same sizes, ``n_repeats`` per fraction, give the chance baseline and its
    band. :class:`~skinfluence.plotting.PruningCurveDisplay` draws the same curves.

    Parameters
    ----------
    %(curve_parameters)s
    confidence : float in (0, 1), default=0.95
        Coverage of the random band, ``mean ± z · sd`` over the draws.

    Returns
    -------
    result : Bunch
        ``fractions`` (kept, a count converted) and ``n_kept`` (n_fractions,);
        ``test_scores``: dict of rule to (n_fractions,), "random" the mean of the draws;
        ``random_scores`` (n_repeats, n_fractions); ``random_low``, ``random_high`` (the
        band); ``scoring`` (its name).

    See Also
    --------
    skinfluence.plotting.PruningCurveDisplay : Draws these curves.
    removal_curve : Held-out score after removing the top-ranked rows.

    Notes
    -----
    Cost: ``(len(keep) + n_repeats) × len(fractions)`` fits of ``estimator`` (``n_jobs`` in
    parallel).

    Examples
    --------
    >>> from sklearn.datasets import load_breast_cancer
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sklearn.model_selection import train_test_split
    >>> from sklearn.preprocessing import scale
    >>> from skinfluence import EL2NScorer
    >>> from skinfluence.metrics import pruning_curve
    >>> X, y = load_breast_cancer(return_X_y=True)
    >>> X_train, X_test, y_train, y_test = train_test_split(scale(X), y, random_state=0)
    >>> scores = EL2NScorer(LogisticRegression(), n_repeats=1).fit(X_train, y_train).scores_
    >>> result = pruning_curve(LogisticRegression(), X_train, y_train, scores, X_test, y_test,
    ...                        fractions=[0.1, 0.5], n_repeats=3, random_state=0)
    >>> sorted(result.test_scores), result.random_scores.shape
    (['coverage', 'easy', 'hard', 'moderate', 'random'], (3, 2))
    """
    from .plotting._pruning_curve import pruning_curve as _pruning_curve

    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1); got {confidence!r}.")
    fracs, test_scores, random_scores = _pruning_curve(
        estimator, X, y, scores, X_test, y_test, fractions=fractions, keep=keep,
        class_balance=class_balance, scoring=scoring, n_repeats=n_repeats,
        hard_cutoff=hard_cutoff, n_strata=n_strata, random_state=random_state, n_jobs=n_jobs,
    )  # fmt: skip
    mean = random_scores.mean(axis=0)
    spread = random_scores.std(axis=0, ddof=1) if n_repeats > 1 else np.zeros(len(mean))
    z = stats.norm.ppf(0.5 + confidence / 2)
    return Bunch(
        fractions=fracs,
        n_kept=np.rint(fracs * len(scores)).astype(int),
        test_scores=test_scores,
        random_scores=random_scores,
        random_low=mean - z * spread,
        random_high=mean + z * spread,
        scoring=_scoring_name(scoring, estimator),
    )
