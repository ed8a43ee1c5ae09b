"""How many labels are wrong, and which: the estimated count, the flags and their reasons.

The count is confident learning's (Northcutt et al. 2021): with the out-of-sample class
probabilities ``p`` of the families kept (each row predicted by models that did not see it),
the threshold of class k is the mean ``p[i, k]`` over the rows labelled k; a row labelled j
is counted as "really k" for the most probable class k whose probability reaches its
threshold. The rows of that confident joint are calibrated to the class sizes, and the
estimate is the mass off its diagonal. Its uncertainty is a bootstrap over the rows
(:data:`N_BOOTSTRAP` resamples, the 5% and 95% quantiles). The rows flagged are the
estimate's number of rows with the highest combined score.
"""

import numpy as np
from sklearn.utils import Bunch, check_random_state

from .._utils._labels import encode_labels

N_BOOTSTRAP = 200
INTERVAL = (5, 95)


def confident_joint(codes, proba):
    """(K, K) counts: rows of given class j whose confident class is k (unconfident rows
    left out), calibrated so that row j sums to the number of rows labelled j."""
    n_classes = proba.shape[1]
    counts = np.bincount(codes, minlength=n_classes)
    sums = np.bincount(codes, weights=proba[np.arange(len(codes)), codes], minlength=n_classes)
    thresholds = np.zeros(n_classes)
    np.divide(sums, counts, out=thresholds, where=counts > 0)
    above = proba >= thresholds - 1e-12  # floating error: a row at its class's mean counts
    masked = np.where(above, proba, -np.inf)
    confident = above.any(axis=1)
    guess = np.argmax(masked, axis=1)
    joint = np.zeros((n_classes, n_classes))
    np.add.at(joint, (codes[confident], guess[confident]), 1.0)
    totals = joint.sum(axis=1, keepdims=True)
    calibrated = np.where(totals > 0, joint / np.where(totals > 0, totals, 1), np.eye(n_classes))
    return calibrated * counts[:, None]


def _off_diagonal(codes, proba):
    joint = confident_joint(codes, proba)
    return float(joint.sum() - np.trace(joint))


def estimate_issues(y, proba, classes, random_state=0):
    """Estimated number of wrong labels: Bunch(n_issues, low, high, method)."""
    codes = encode_labels(classes, y)
    estimate = _off_diagonal(codes, proba)
    rng = check_random_state(random_state)
    n = len(codes)
    resamples = rng.randint(0, n, (N_BOOTSTRAP, n))
    draws = [_off_diagonal(codes[rows], proba[rows]) for rows in resamples]
    low, high = np.percentile(draws, INTERVAL)
    return Bunch(
        n_issues=round(estimate),
        low=round(float(low)),
        high=round(float(high)),
        method="confident learning on the out-of-sample probabilities of the families kept",
    )


def flag_rows(combined, n_issues):
    """The ``n_issues`` rows of highest combined score (ties broken by position)."""
    flagged = np.zeros(len(combined), dtype=bool)
    order = np.argsort(-combined, kind="stable")
    flagged[order[: max(0, min(n_issues, len(combined)))]] = True
    return flagged


def _plain(value):
    return value.item() if isinstance(value, np.generic) else value


def row_reasons(scores, family_of, weights, proba, classes, y, suggested, flagged):
    """A one-line reason for each flagged row ("" for the others).

    The score (among the families with weight > 0) that ranks the row most suspect, and the
    out-of-sample probabilities of its label and of the suggested one.
    """
    n = len(y)
    used = [name for name in scores if weights.get(family_of[name], 0) > 0] or list(scores)
    ranks = {}
    for name in used:
        values = np.nan_to_num(np.asarray(scores[name], dtype=np.float64), nan=-np.inf)
        order = np.argsort(-values, kind="stable")
        position = np.empty(n)
        position[order] = np.arange(1, n + 1)
        ranks[name] = position
    reasons = np.full(n, "", dtype=object)
    codes = encode_labels(classes, y)
    for i in np.flatnonzero(flagged):
        best = min(used, key=lambda name: ranks[name][i])
        text = f"{best} ranks it {int(ranks[best][i])} of {n}"
        if proba is not None:
            k = int(np.searchsorted(classes, suggested[i]))
            text += (
                f"; out of sample P({_plain(y[i])})={proba[i, codes[i]]:.2f}, "
                f"P({_plain(suggested[i])})={proba[i, k]:.2f}"
            )
        reasons[i] = text
    return reasons
