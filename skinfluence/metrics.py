"""Metrics for scores: detection of known bad rows, agreement with leave-one-out."""

import numpy as np
from scipy import stats
from sklearn.metrics import average_precision_score, roc_auc_score
from sklearn.utils import Bunch


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
