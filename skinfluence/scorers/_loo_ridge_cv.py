"""Exact leave-one-out of ``RidgeCV`` *with its selection re-run*, from the full-data hat matrix.

``RidgeCV`` (``cv=None``) picks α by generalised cross-validation: the mean squared
leave-one-out residual ``e_j / (1 − h_jj)`` of ridge with an unpenalised intercept, for each α
of ``alphas``. Its actual leave-one-out model without row i re-runs that selection on the
other n − 1 rows. Every quantity it needs follows from the full-data fit at each α:

- the leave-one-out residual of row j ≠ i in the data without i is the leave-*two*-out
  residual of the pair (i, j)::

      e_j^{(−ij)} = ((1 − h_ii) e_j + h_ij e_i) / ((1 − h_ii)(1 − h_jj) − h_ij²),

  with ``H = X̃ (X̃ᵀX̃ + αD)⁻¹ X̃ᵀ`` (D: 1 on the coefficients, 0 on the intercept) and e the
  full-data residuals, so the selection score without row i is
  ``S_i(α) = mean_{j≠i} (e_j^{(−ij)})²``, and α_i = the first α minimising it (RidgeCV keeps
  the first best);
- the refit at α_i is the closed form ``θ₋ᵢ = θ(α_i) − (X̃ᵀX̃ + α_iD)⁻¹ x̃_i e_i / (1 − h_ii)``.

Exact (the same selection and coefficients as n refits of ``RidgeCV``, to rounding; tested
against them), for ``RidgeCV`` with ``cv=None``, ``scoring=None``, one target, no sample
weights and dense X. Cost: O(n² p) per α (the hat matrix in column blocks of 32 MiB), against
O(n² p²) for n refits.
"""

import numpy as np
from scipy import linalg
from sklearn.linear_model import RidgeCV
from sklearn.utils import gen_batches

# Column block of the hat matrix: n × block doubles.
_BLOCK_ELEMENTS = 2**22


def ridge_cv_applies(base, X, y, sample_weight):
    """Whether :func:`ridge_cv_leave_one_out` computes ``base``'s leave-one-out exactly."""
    if type(base) is not RidgeCV or sample_weight is not None:
        return False
    if base.cv is not None or base.scoring is not None or getattr(base, "store_cv_results", 0):
        return False
    if base.gcv_mode not in (None, "auto", "svd", "eigen"):
        return False
    if not isinstance(X, np.ndarray) or X.ndim != 2 or np.ndim(y) != 1 or len(y) < 3:
        return False
    alphas = np.atleast_1d(np.asarray(base.alphas, dtype=np.float64))
    return bool(np.all(alphas > 0))


def ridge_cv_leave_one_out(base, X, y):
    """θ₋ᵢ (coefficients then intercept), the selected α_i and the selection's score.

    Returns
    -------
    thetas : ndarray of shape (n, d) or None
        In the layout of :class:`~skinfluence.models.RidgeCVAdapter` (d = features + 1 with
        an intercept); None when a Gram matrix is not positive definite (the caller refits).
    alphas : ndarray of shape (n,)
        The α the refit without row i selects.
    best_scores : ndarray of shape (n,)
        Its ``best_score_``: minus the mean squared leave-one-out residual at that α.
    """
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    n, nf = X.shape
    Xt = np.hstack([X, np.ones((n, 1))]) if base.fit_intercept else X
    d = Xt.shape[1]
    alphas = [float(a) for a in np.atleast_1d(np.asarray(base.alphas, dtype=np.float64))]
    gram = Xt.T @ Xt
    penalty = np.ones(d)
    if base.fit_intercept:
        penalty[nf] = 0.0
    block = max(1, _BLOCK_ELEMENTS // n)
    scores = np.empty((len(alphas), n))
    per_alpha = []
    for a, alpha in enumerate(alphas):
        A = gram + np.diag(alpha * penalty)
        try:
            factor = linalg.cho_factor(A, check_finite=False)
        except linalg.LinAlgError:
            return None, None, None
        theta = linalg.cho_solve(factor, Xt.T @ y, check_finite=False)
        B = np.ascontiguousarray(linalg.cho_solve(factor, Xt.T, check_finite=False).T)  # X̃A⁻¹
        h = np.einsum("ij,ij->i", B, Xt)
        e = y - Xt @ theta
        one_h = 1.0 - h
        for cols in gen_batches(n, block):
            Hc = Xt @ B[cols].T  # h_ji, (n, b)
            hi, ei = one_h[cols], e[cols]
            num = hi[None, :] * e[:, None] + Hc * ei[None, :]
            den = hi[None, :] * one_h[:, None] - Hc**2
            r2 = (num / den) ** 2
            idx = np.arange(cols.start, cols.stop)
            r2[idx, np.arange(len(idx))] = 0.0  # j = i is not in the data without i
            scores[a, cols] = r2.sum(axis=0) / (n - 1)
        per_alpha.append((theta, B, e, one_h))
    chosen = np.argmin(scores, axis=0)  # the first minimum, as RidgeCV keeps the first best
    thetas = np.empty((n, d))
    for a, (theta, B, e, one_h) in enumerate(per_alpha):
        rows = np.flatnonzero(chosen == a)
        thetas[rows] = theta[None] - B[rows] * (e[rows] / one_h[rows])[:, None]
    return thetas, np.asarray(alphas)[chosen], -scores[chosen, np.arange(n)]


def estimator_at(adapter, theta, alpha, best_score):
    """The RidgeCV fitted without a row: the adapter's copy at θ with its α and score."""
    est = adapter.with_params(theta).estimator
    est.alpha_ = alpha
    est.best_score_ = best_score
    return est
