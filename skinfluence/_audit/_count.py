"""How many labels are wrong, and which: the estimated count, the flags and their reasons.

Continuous targets (regression): the out-of-sample residuals ``r`` of the families kept are
put on a robust scale (median and 1.4826 MAD); the estimate is the number of rows beyond
:data:`RESIDUAL_Z` robust standard deviations, less the number a Gaussian residual would put
there (``n · P(|Z| > RESIDUAL_Z)``), with the same bootstrap interval.

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
#: Robust z beyond which a residual counts as a corrupted target (Iglewicz & Hoaglin's 3.5).
RESIDUAL_Z = 3.5


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


def _residual_excess(residuals):
    from scipy.stats import norm

    centre = np.median(residuals)
    mad = 1.4826 * np.median(np.abs(residuals - centre))
    if mad == 0:
        return float(np.sum(residuals != centre))
    beyond = np.sum(np.abs(residuals - centre) > RESIDUAL_Z * mad)
    expected = 2 * norm.sf(RESIDUAL_Z) * len(residuals)
    return float(max(0.0, beyond - expected))


def estimate_corrupted_targets(y, prediction, random_state=0):
    """Estimated number of corrupted continuous targets: Bunch(n_issues, low, high, method)."""
    residuals = np.asarray(y, dtype=np.float64) - np.asarray(prediction, dtype=np.float64)
    estimate = _residual_excess(residuals)
    rng = check_random_state(random_state)
    n = len(residuals)
    draws = [_residual_excess(residuals[rows]) for rows in rng.randint(0, n, (N_BOOTSTRAP, n))]
    low, high = np.percentile(draws, INTERVAL)
    return Bunch(
        n_issues=round(estimate),
        low=round(float(low)),
        high=round(float(high)),
        method=f"out-of-sample residuals beyond {RESIDUAL_Z:g} robust standard deviations, "
        "less the Gaussian expectation",
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
    codes = encode_labels(classes, y) if proba is not None else None
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


def residual_reasons(scores, family_of, weights, prediction, y, flagged):
    """Regression's one-line reasons: the score that ranks the row highest and the
    out-of-sample prediction beside the given target."""
    reasons = row_reasons(scores, family_of, weights, None, None, y, None, flagged)
    for i in np.flatnonzero(flagged):
        reasons[i] += f"; target {y[i]:.4g}, predicted out of sample {prediction[i]:.4g}"
    return reasons
