"""Quadratic forms of sparse linear-model gradients against an explicit inverse.

A linear model's gradient is ``g_i = x̃_i ⊗ r_i`` (see :mod:`skinfluence.models._linear`).
With the explicit ``A⁻¹`` at hand, the quadratic form
``g_iᵀ A⁻¹ g_i = Σ_{a,b ∈ nz(x̃_i)} x̃_ia x̃_ib r_iᵀ A⁻¹[a, :, b, :] r_i``
touches only the entries of A⁻¹ on row i's non-zeros: O(nnz(x̃_i)² K²) per row, against
O(nnz(x̃_i) p K) for a sparse-times-dense product and O(p²) for a dense row. All pairs of a
chunk of rows are gathered at once (vectorised; no Python loop per row), in chunks of at most
``pair_budget`` pairs (O(pair_budget · K²) memory).
"""

import itertools
import warnings

import numpy as np
import scipy.sparse as sp

from ..exceptions import ApproximationWarning
from ._linear import LinearGradientMatrix, reads_rows_unchanged

#: Pairs (a, b) gathered per chunk: about 40 bytes each (two int64 indices, values, row ids).
PAIR_BUDGET = 2**21


def _with_intercept(X, fit_intercept):
    X = sp.csr_matrix(X, dtype=np.float64)
    if fit_intercept:
        X = sp.hstack([X, np.ones((X.shape[0], 1))], format="csr")
    X.sum_duplicates()
    return X


def sparse_row_quadratic(G, inverse, *, pair_budget=PAIR_BUDGET):
    """``g_iᵀ A⁻¹ g_i`` of every row of a LinearGradientMatrix on sparse features.

    Parameters
    ----------
    G : LinearGradientMatrix
        Gradients ``x̃_i ⊗ r_i`` with ``G.X`` sparse.
    inverse : ndarray of shape (p, p)
        The explicit ``A⁻¹`` in θ's (d, K) layout.
    pair_budget : int, default=2**21
        Pairs of non-zeros gathered at once (memory about 40 bytes × K² each).

    Returns
    -------
    q : ndarray of shape (n,)
        The quadratic forms. O(Σ_i nnz(x̃_i)² K²) time.

    Examples
    --------
    >>> import numpy as np
    >>> import scipy.sparse as sp
    >>> from skinfluence.models import LinearGradientMatrix
    >>> from skinfluence.models._sparse_rows import sparse_row_quadratic
    >>> X = sp.random(5, 4, density=0.5, format="csr", random_state=0)
    >>> G = LinearGradientMatrix(X, np.ones((5, 1)), True)
    >>> A_inv = np.diag(np.arange(1.0, 6.0))
    >>> dense = G.dense_rows(slice(None))
    >>> exact = np.einsum("ia,ab,ib->i", dense, A_inv, dense)
    >>> bool(np.allclose(sparse_row_quadratic(G, A_inv), exact))
    True
    """
    X = _with_intercept(G.X, G.fit_intercept)
    R = np.asarray(G.R, dtype=np.float64)
    n, K = R.shape
    d = X.shape[1]
    A4 = inverse.reshape(d, K, d, K) if K > 1 else inverse
    lengths = np.diff(X.indptr)
    pairs = lengths.astype(np.int64) ** 2
    out = np.zeros(n)
    budget = max(1, pair_budget // (K * K))
    # Consecutive row chunks whose pairs fit the budget (a single longer row is its own chunk)
    bounds = [0]
    cum = np.cumsum(pairs)
    while bounds[-1] < n:
        start = bounds[-1]
        base = cum[start - 1] if start else 0
        stop = int(np.searchsorted(cum, base + budget, side="right"))
        bounds.append(max(stop, start + 1))
    for start, stop in itertools.pairwise(bounds):
        if pairs[start:stop].sum() > budget:  # one very long row: blocks of its pairs
            out[start] = _long_row(X, R, A4, start, K, budget)
            continue
        out[start:stop] = _chunk_quadratic(X, R, A4, start, stop, K)
    return out


def _chunk_quadratic(X, R, A4, start, stop, K):
    lo, hi = X.indptr[start], X.indptr[stop]
    idx = X.indices[lo:hi]
    val = X.data[lo:hi]
    L = np.diff(X.indptr[start : stop + 1])
    row_of_entry = np.repeat(np.arange(stop - start), L)
    count = L[row_of_entry]  # pairs each entry starts
    first = np.repeat(np.arange(hi - lo), count)
    # second: every entry of the same row, for each first entry
    row_start = (X.indptr[start:stop] - lo)[row_of_entry]
    offsets = np.arange(first.size) - np.repeat(np.cumsum(count) - count, count)
    second = np.repeat(row_start, count) + offsets
    row_of_pair = row_of_entry[first]
    xx = val[first] * val[second]
    if K == 1:
        vals = xx * A4[idx[first], idx[second]]
        q = np.bincount(row_of_pair, weights=vals, minlength=stop - start)
        return q * R[start:stop, 0] ** 2
    blocks = A4[idx[first], :, idx[second], :]  # (pairs, K, K)
    r = R[start:stop][row_of_pair]
    vals = xx * np.einsum("pc,pce,pe->p", r, blocks, r)
    return np.bincount(row_of_pair, weights=vals, minlength=stop - start)


def _long_row(X, R, A4, i, K, budget):
    idx = X.indices[X.indptr[i] : X.indptr[i + 1]]
    val = X.data[X.indptr[i] : X.indptr[i + 1]]
    r = R[i]
    step = max(1, budget // max(1, len(idx)))
    total = 0.0
    for s in range(0, len(idx), step):
        a = slice(s, s + step)
        if K == 1:
            total += val[a] @ (A4[np.ix_(idx[a], idx)] @ val) * r[0] ** 2
        else:
            sub = A4[idx[a]][:, :, idx, :]  # (a, K, L, K)
            total += np.einsum("a,c,acbe,b,e->", val[a], r, sub, val, r)
    return total


def sparse_self_quadratic(scorer, X, y):
    """``g_iᵀ A⁻¹ g_i`` of the rows (X, y) by the fastest exact or estimated path, or None.

    For :class:`~skinfluence.InfluenceScorer` on a linear model whose mapped features are
    sparse: with ``method="direct"`` (and the explicit inverse worth forming: as many rows as
    parameters, or already formed), :func:`sparse_row_quadratic` against it; with
    ``method="pcg"``, the solver's probed estimate. None: not applicable (the caller's dense
    path runs).

    Parameters
    ----------
    scorer : InfluenceScorer
        Fitted (``adapter_``, ``solver_``, ``method_``).
    X, y : array-like
        The rows.

    Returns
    -------
    result : tuple (q, stderr) or None
        ``q`` of shape (n,); ``stderr`` the estimate's standard error per row, None if exact.
    """
    n = len(y)
    method = scorer.method_
    if n == 0 or method not in ("direct", "pcg"):
        return None
    if isinstance(X, np.ndarray) and reads_rows_unchanged(scorer.adapter_, X):
        return None  # dense rows a linear model reads as they are: no probe
    probe = scorer._gradient_matrix(X, y, slice(0, 1))
    if not (isinstance(probe, LinearGradientMatrix) and sp.issparse(probe.X)):
        return None
    if method == "pcg":
        G = scorer.adapter_.gradients(X, y)
        values, stderr = scorer.solver_.self_influence(G)
        return _checked_estimate(scorer, X, y, values, stderr)
    if scorer._inverse_cache is None and n < scorer.adapter_.n_params:
        return None
    inverse = scorer._inverse_hessian()
    out = np.empty(n)
    # Rows as the scorer chunks them: a Pipeline maps only a chunk of raw rows at a time.
    step = max(scorer._chunk, 4096)
    for start in range(0, n, step):
        rows = slice(start, min(n, start + step))
        out[rows] = sparse_row_quadratic(scorer._gradient_matrix(X, y, rows), inverse)
    return out, None


def _checked_estimate(scorer, X, y, values, stderr):
    """pcg's estimate if its stated correlation reaches the solver's target; else the exact
    quadratic forms from the factorisation where ``method="auto"`` planned that fallback
    (training rows only), else the estimate with an ApproximationWarning."""
    solver = scorer.solver_
    corr = getattr(solver, "estimated_correlation_", None)
    target = getattr(solver, "target_correlation", None)
    if stderr is None or corr is None or target is None or corr >= target:
        return values, stderr
    fallback = getattr(scorer, "_fallback_weight", None)
    if fallback is not None and X is scorer.train_X_:
        from ..inverse import DirectSolver
        from ..inverse._explicit import explicit_inverse
        from ._curvature import with_curvature

        direct = DirectSolver(damping=solver.damping_)
        direct.fit(with_curvature(scorer.adapter_, scorer.curvature_), X, y, fallback[0])
        inverse = explicit_inverse(direct)
        out = np.empty(len(y))
        step = max(scorer._chunk, 4096)
        for start in range(0, len(y), step):
            rows = slice(start, min(len(y), start + step))
            out[rows] = sparse_row_quadratic(scorer._gradient_matrix(X, y, rows), inverse)
        scorer.method_reason_ = (
            f"{scorer.method_reason_}; the probes ({solver.n_probes_}) reached a stated "
            f"correlation of {corr:.3f} < {target}, so scores_ are exact, from the "
            "factorisation"
        )
        return out, None
    warnings.warn(
        f"pcg's self-influence estimate (scores_) states a correlation of {corr:.3f} with "
        f"the exact scores after {solver.n_probes_} probes, below target_correlation="
        f"{target}: its per-row standard errors are in scores_error_. Raise "
        "solver_params={'max_probes': ...} or memory_budget for the exact 'direct' route.",
        ApproximationWarning,
        stacklevel=4,
    )
    return values, stderr
