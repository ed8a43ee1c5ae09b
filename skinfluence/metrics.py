"""Metrics for scores: detection of known bad rows, agreement with leave-one-out, removal curves."""

import warnings
from collections.abc import Mapping
from functools import partial

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


_LDS_TARGETS = ("loss", "margin")


def _margin(model, X, y, classes):
    """TRAK's output of a classifier on each row: ``log p_y − log Σ_{k≠y} p_k`` (the correct
    class's logit minus the log-sum-exp of the others for a softmax model), probabilities
    clipped to ``[LOG_LOSS_EPS, 1]`` as for the log-loss."""
    from ._utils._labels import LOG_LOSS_EPS, encode_labels
    from .scorers._probes import probe_proba

    proba = probe_proba(model, X, classes)
    codes = encode_labels(classes, y)
    rows = np.arange(len(codes))
    p_y = proba[rows, codes]
    rest = proba.sum(axis=1) - p_y
    return np.log(np.clip(p_y, LOG_LOSS_EPS, 1.0)) - np.log(np.clip(rest, LOG_LOSS_EPS, 1.0))


def _lds_outputs(model, X_test, y_test, classes, target):
    """One subset model's output on every test row (the loss or the margin), shape (m,)."""
    from .scorers._subsets import _performance

    if target == "loss":
        return _performance(model, X_test, y_test, classes, "loss")
    return _margin(model, X_test, y_test, classes)


def _rowwise_spearman(a, b):
    """Spearman correlation of the columns of ``a`` and ``b`` (each (M, m)), shape (m,);
    NaN for a column where either side is constant."""
    ra = stats.rankdata(a, axis=0)
    rb = stats.rankdata(b, axis=0)
    ra -= ra.mean(axis=0)
    rb -= rb.mean(axis=0)
    num = (ra * rb).sum(axis=0)
    den = np.sqrt((ra**2).sum(axis=0) * (rb**2).sum(axis=0))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)


def _lds_attributions(attributions, X, y, X_test, y_test, rng):
    """The (m, n) attribution matrix: given, or a scorer's ``influence`` (fitting a clone
    on ``(X, y)`` when the scorer is not fitted yet)."""
    from sklearn.base import clone
    from sklearn.exceptions import NotFittedError
    from sklearn.utils.validation import check_is_fitted

    if not hasattr(attributions, "influence"):
        return np.asarray(attributions, dtype=np.float64)
    scorer = attributions
    try:
        check_is_fitted(scorer)
    except NotFittedError:
        scorer = clone(scorer)
        params = scorer.get_params()
        if "random_state" in params and params["random_state"] is None:
            scorer.set_params(random_state=rng.randint(np.iinfo(np.int32).max))
        scorer.fit(X, y)
    return np.asarray(scorer.influence(X_test, y_test), dtype=np.float64)


@inject_docs
def linear_datamodeling_score(
    attributions,
    estimator,
    X,
    y,
    X_test,
    y_test,
    *,
    alpha=0.5,
    n_subsets=50,
    target="loss",
    return_details=False,
    random_state=None,
    n_jobs=None,
    verbose=0,
):
    """Linear datamodeling score (LDS): how well attributions predict retrained outputs.

    The field's measure of attribution quality (Park et al. 2023, TRAK; Ilyas et al. 2022):
    train ``estimator`` on ``n_subsets`` random subsets S_1, ..., S_M of ``alpha · n``
    training rows, measure each subset model's output f_t(S_j) on each test row t (its
    ``target``: the loss, or the margin), and predict it as the attributions' additive
    model, the sum of the attributions of the rows in the subset. The score of test row
    t is the Spearman correlation over the M subsets between predicted and actual output;
    the LDS is its mean over the test rows. 1: the attributions rank every subset as
    retraining does; 0: no better than random attributions.

    Parameters
    ----------
    attributions : array-like of shape (n_test, n_train), scorer, or dict of them
        Attribution of training row i to test row t in skinfluence's sign (leave-one-out
        units: ``L(t, θ without i) − L(t, θ)``, positive = row i helps t), e.g.
        ``scorer.influence(X_test, y_test)``; or a scorer with an ``influence`` method,
        whose influence on ``(X_test, y_test)`` is used (a clone is fitted on ``(X, y)``
        first if it is not fitted). A dict ``{name: attributions}`` scores several on
        the same subset models (one retraining for all: the fair comparison) and
        returns a dict of results.
    %(estimator_retrained)s
        Retrained on each subset.
    X : array-like of shape (n_train, n_features)
        Training rows (the columns of ``attributions``).
    y : array-like of shape (n_train,)
        Their labels or targets.
    X_test : array-like of shape (n_test, n_features)
        Test rows (the rows of ``attributions``).
    y_test : array-like of shape (n_test,)
        Their labels or targets.
    alpha : float in (0, 1), default=0.5
        Fraction of the training rows in each subset (Park et al. use 0.5). Smaller
        subsets move the outputs further from the full model, where a first-order
        attribution is least linear.
    n_subsets : int, default=50
        Number M of subsets, hence of fits; at least 3. The per-test-row correlation is
        over M points: its standard error is about ``1/√M``, the LDS's much smaller
        (averaged over the test rows).
    target : {"loss", "margin"}, default="loss"
        The output compared: the per-sample loss (the model's own loss where skinfluence
        has an adapter, else log-loss or squared error: as :class:`~skinfluence.LeaveOneOutScorer`
        measures influence), or, for classifiers, TRAK's margin ``log p_y − log Σ_{k≠y} p_k``
        (the logit of the correct class against the others). For a classifier whose loss
        is the log-loss both are monotone in ``p_y``, so the LDS, a rank correlation, is
        the same (``actual`` in the details differs).
    return_details : bool, default=False
        Return a Bunch with the per-test-row scores, the subsets and the actual and
        predicted outputs instead of the score alone.
    %(random_state)s
        Draws the subsets and one seed per subset model (every ``random_state`` parameter
        of the estimator, nested ones included, is set to it, and a skorch net is seeded
        through ``torch.manual_seed``: independent, reproducible runs).
    %(n_jobs)s
    %(verbose)s

    Returns
    -------
    score : float, Bunch, or dict of them
        The LDS (a dict by name for a dict of attributions): the mean over test rows of
        the Spearman correlations (NaN rows, where the actual outputs or the predictions
        do not vary over the subsets, left out).
        With ``return_details=True``, a Bunch with ``score``; ``per_test`` (n_test,);
        ``in_subset`` (n_subsets, n_train) bool, ``in_subset[j, i]``: row i in subset j;
        ``actual`` and ``predicted`` (n_subsets, n_test), the subset models' outputs and
        the attributions' predictions of them; ``target`` and ``alpha``.

    Raises
    ------
    ValueError
        ``alpha`` outside (0, 1) or giving an empty or full subset, ``n_subsets`` < 3,
        ``target="margin"`` for a regressor, attributions of the wrong shape or not
        finite.

    See Also
    --------
    agreement : Correlation with a reference influence (e.g. leave-one-out).
    removal_curve : Held-out score after removing the top-ranked rows.
    skinfluence.MemorizationScorer : the same retraining on random subsets.

    Notes
    -----
    **Sign.** Attributions are in skinfluence's sign: including row i lowers test row t's
    loss by about ``A[t, i]``. The additive prediction of a subset model's output is
    therefore ``−Σ_{i∈S} A[t, i]`` for ``target="loss"`` and ``+Σ_{i∈S} A[t, i]`` for the
    margin (which rises when the loss falls), up to a constant per test row that a rank
    correlation ignores. Attributions exact for an additive model give LDS = 1, their
    negation −1, unrelated ones about 0. TRAK's scores (effects on the margin) are in the
    same sign; the negative of a loss-gradient attribution is not.

    Leave-one-out influence measures the removal of one row from all n; the LDS removes
    ``(1 − alpha) n`` at once, so it also rewards attributions that stay additive when
    many rows go (where an influence of the full model is an approximation).

    Cost: ``n_subsets`` fits of ``estimator`` on ``alpha · n`` rows (``n_jobs`` in
    parallel, through the retraining engine of :class:`~skinfluence.MemorizationScorer`),
    and as many predictions on the n_test rows; memory O(n_subsets (n + n_test)), the
    models themselves are not kept. Plus the attributions' own cost when a scorer is
    passed.

    References
    ----------
    Park, S. M., Georgiev, K., Ilyas, A., Leclerc, G. & Madry, A. (2023). TRAK: attributing
    model behavior at scale. ICML.

    Ilyas, A., Park, S. M., Engstrom, L., Leclerc, G. & Madry, A. (2022). Datamodels:
    predicting predictions from training data. ICML.

    Examples
    --------
    >>> from sklearn.datasets import make_regression
    >>> from sklearn.linear_model import Ridge
    >>> from skinfluence import InfluenceScorer
    >>> from skinfluence.metrics import linear_datamodeling_score
    >>> X, y = make_regression(60, 3, noise=10.0, random_state=0)
    >>> ridge = Ridge(alpha=1.0)
    >>> A = InfluenceScorer(ridge).fit(X[:40], y[:40]).influence(X[40:], y[40:])
    >>> lds = linear_datamodeling_score(A, ridge, X[:40], y[:40], X[40:], y[40:],
    ...                                 n_subsets=20, random_state=0)
    >>> bool(lds > 0.5)
    True
    """
    import numbers

    from sklearn.base import is_classifier
    from sklearn.utils import check_random_state
    from sklearn.utils.validation import _num_samples

    from ._utils._random import draw_seeds
    from .scorers._subsets import fit_on_subsets

    if not isinstance(alpha, numbers.Real) or not 0 < alpha < 1:
        raise ValueError(f"alpha must be a float in (0, 1); got {alpha!r}.")
    if not isinstance(n_subsets, numbers.Integral) or n_subsets < 3:
        raise ValueError(
            f"n_subsets must be an integer >= 3 (a rank correlation over fewer subsets "
            f"means nothing); got {n_subsets!r}."
        )
    if target not in _LDS_TARGETS:
        raise ValueError(f"target must be one of {_LDS_TARGETS}; got {target!r}.")
    classifier = is_classifier(estimator)
    if target == "margin" and not classifier:
        raise ValueError(
            f"target='margin' needs a classifier; got {type(estimator).__name__}. Use "
            "target='loss' for regressors."
        )
    n, m = _num_samples(X), _num_samples(X_test)
    if len(y) != n or len(y_test) != m:
        raise ValueError(
            f"X has {n} rows and y {len(y)}; X_test has {m} rows and y_test {len(y_test)}. "
            "Each needs one label per row."
        )
    size = round(alpha * n)
    if not 1 <= size <= n - 1:
        raise ValueError(
            f"alpha={alpha} of {n} training rows gives subsets of {size} rows; use an alpha "
            "that keeps at least one row and leaves at least one out."
        )
    rng = check_random_state(random_state)
    several = isinstance(attributions, Mapping)
    if several and not attributions:
        raise ValueError("attributions is an empty dict; pass at least one attribution.")
    matrices = {
        name: _checked_attributions(
            _lds_attributions(value, X, y, X_test, y_test, rng), (m, n), name if several else None
        )
        for name, value in (attributions.items() if several else [(None, attributions)])
    }

    y = np.asarray(y)
    classes = np.unique(y) if classifier else None
    subsets = [np.sort(rng.choice(n, size=size, replace=False)) for _ in range(n_subsets)]
    seeds = draw_seeds(rng, n_subsets)
    in_subset = np.zeros((n_subsets, n), dtype=bool)
    for j, rows in enumerate(subsets):
        in_subset[j, rows] = True

    evaluate = partial(_lds_outputs, X_test=X_test, y_test=y_test, classes=classes, target=target)
    results = fit_on_subsets(
        estimator, X, y, None, subsets, seeds, evaluate, keep_models=False,
        n_jobs=n_jobs, verbose=verbose, desc="linear_datamodeling_score",
    )  # fmt: skip
    actual = np.stack([np.asarray(values, dtype=np.float64) for _, values in results])
    out = {}
    for name, A in matrices.items():  # a loop, not a comprehension: the warnings' stacklevel
        out[name] = _lds_from_outputs(A, in_subset, actual, target, alpha, return_details, name)
    return out if several else out[None]


def _checked_attributions(A, shape, name):
    what = "attributions" if name is None else f"attributions[{name!r}]"
    if A.shape != shape:
        raise ValueError(
            f"{what} must have shape (n_test, n_train) = {shape}; got {A.shape}. "
            "Pass influence(X_test, y_test) of a scorer fitted on (X, y)."
        )
    if not np.all(np.isfinite(A)):
        raise ValueError(
            f"{what} contain {int(np.sum(~np.isfinite(A)))} NaN or infinite values; "
            "an additive prediction needs a finite attribution for every (test, train) pair."
        )
    return A


def _lds_from_outputs(A, in_subset, actual, target, alpha, return_details, name):
    """The LDS of one attribution matrix against the subset models' outputs."""
    # Including row i lowers the loss (raises the margin) by A[t, i].
    sign = -1.0 if target == "loss" else 1.0
    predicted = sign * (in_subset.astype(np.float64) @ A.T)
    per_test = _rowwise_spearman(actual, predicted)
    score = float(np.nanmean(per_test)) if np.isfinite(per_test).any() else np.nan
    if np.isnan(per_test).any():
        what = "" if name is None else f" (attributions {name!r})"
        warnings.warn(
            f"{int(np.isnan(per_test).sum())} of {len(per_test)} test rows{what} have outputs "
            "or predictions that do not vary over the subsets; they are left out of the LDS.",
            UserWarning,
            stacklevel=3,
        )
    if not return_details:
        return score
    return Bunch(
        score=score,
        per_test=per_test,
        in_subset=in_subset,
        actual=actual,
        predicted=predicted,
        target=target,
        alpha=alpha,
    )
