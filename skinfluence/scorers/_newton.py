"""The Newton-step correction of influence for linear models (``newton_step=True``).

First-order influence takes θ₋ᵢ − θ ≈ w_i H⁻¹ ∇ℓ_i. One Newton step on the objective without
row i also removes that row's own curvature::

    θ₋ᵢ − θ ≈ (H − w_i ∇²ℓ_i)⁻¹ w_i ∇ℓ_i.

For a linear model ∇ℓ_i = U_i r_i and ∇²ℓ_i = U_i S_i U_iᵀ with U_i = x̃_i ⊗ I_K (p × K), so
by the push-through (Woodbury) identity::

    θ₋ᵢ − θ ≈ H⁻¹ U_i ρ_i,     ρ_i = (I_K − w_i S_i M_i)⁻¹ w_i r_i,     M_i = U_iᵀ H⁻¹ U_i,

a K × K solve per row (for a binary model ρ_i = w_i r_i / (1 − h_i), h_i = w_i s_i m_i its
leverage). The step is exact for least squares (Ridge's closed-form leave-one-out). The test
loss is then evaluated exactly at the stepped outputs ``η_t + U_tᵀ (θ₋ᵢ − θ)``.
"""

import numpy as np
import scipy.sparse as sp

from .._utils._batches import gen_batches

# Rows of dense X per quadratic-form block: the block and its product with H⁻¹ stay in L2
# (measured at n = 10⁴–10⁵, d = 10–50: 15–25% faster than 1 MiB blocks; flat at d ≥ 100).
_QUADRATIC_BLOCK_BYTES = 384 * 1024


def output_blocks(H_inv, n_outputs):
    """The (d × d) blocks ``H⁻¹[:, c, :, e]``, c ≤ e, of H⁻¹ in θ's (d, K) layout, contiguous
    (H⁻¹ itself for K = 1; one copy of its upper blocks otherwise). Compute them once per H⁻¹
    and pass them to :func:`leverage_blocks` when it is called chunk by chunk."""
    K = n_outputs
    if K == 1:
        return {(0, 0): H_inv}
    d = H_inv.shape[0] // K
    H4 = H_inv.reshape(d, K, d, K)
    return {(c, e): np.ascontiguousarray(H4[:, c, :, e]) for c in range(K) for e in range(c, K)}


def leverage_blocks(features, H_inv, n_outputs, fit_intercept, chunk_size, *, blocks=None):
    """M_i = U_iᵀ H⁻¹ U_i for every row, shape (n, K, K).

    ``features`` is a LinearGradientMatrix (only its features are used); ``blocks`` are
    :func:`output_blocks` of ``H_inv`` when the caller has them. Dense features: O(n d² K²)
    time. Sparse features stay sparse: O(nnz(X) · d · K²) time, since a row's quadratic form
    only touches its non-zeros. O(chunk · d) extra memory (plus the blocks for K > 1); dense
    rows go in blocks of at most ~384 KiB, whatever ``chunk_size``.
    """
    n = features.shape[0]
    H_blocks = output_blocks(H_inv, n_outputs) if blocks is None else blocks
    M = np.empty((n, n_outputs, n_outputs))
    dense = not sp.issparse(features.X)
    if dense:
        width = features.X.shape[1] + features.fit_intercept
        chunk_size = min(chunk_size, max(64, _QUADRATIC_BLOCK_BYTES // (8 * width)))
    for rows in gen_batches(n, chunk_size):
        if dense:  # x̃ᵀ H x̃ from x itself: no copy of the rows with a column of ones
            X = np.asarray(features.X[rows])
            for c, e in H_blocks:
                M[rows, c, e] = M[rows, e, c] = _dense_quadratic(
                    X, H_blocks[c, e], features.fit_intercept
                )
            continue
        Xc = _feature_rows(features, rows)
        for c, e in H_blocks:
            m = np.asarray(Xc.multiply(Xc @ H_blocks[c, e]).sum(axis=1)).ravel()
            M[rows, c, e] = m
            M[rows, e, c] = m
    return M


def _dense_quadratic(X, B, fit_intercept):
    """``x̃_iᵀ B x̃_i`` for every row of dense X, x̃_i = [x_i, 1] with an intercept."""
    if not fit_intercept:
        return np.einsum("na,na->n", X @ B, X)
    # xᵀ A x + (b + b')ᵀ x + c with B = [[A, b], [b'ᵀ, c]]
    d = X.shape[1]
    quadratic = np.einsum("na,na->n", X @ np.ascontiguousarray(B[:d, :d]), X)
    quadratic += X @ (B[:d, d] + B[d, :d])
    quadratic += B[d, d]
    return quadratic


def _feature_rows(features, rows):
    """``x̃_i = [x_i, 1]`` of the rows of sparse features, as CSR."""
    X = sp.csr_matrix(features.X[rows])
    if features.fit_intercept:
        X = sp.hstack([X, np.ones((X.shape[0], 1))], format="csr")
    return X


def newton_residuals(R, S, M, weights, *, adding=False, shares=None, share_outputs=None):
    """ρ_i = (I − w_i S_i M_i)⁻¹ w_i r_i, shape (n, K).

    With ``adding=True``, the step that adds a row the model has not seen:
    θ₊ − θ ≈ −(H + w ∇²ℓ)⁻¹ w ∇ℓ = −H⁻¹ U ρ with ρ = (I + w S M)⁻¹ w r.

    With a penalty share (``shares`` c_i and ``share_outputs`` u_i = U_iᵀ H⁻¹ ∇q), the
    gradient removed is ``w_i ∇ℓ_i + c_i ∇q`` and the step is ``H⁻¹ U_i ρ_i + c_i H⁻¹ ∇q`` with
    ρ_i = (I − w_i S_i M_i)⁻¹ (w_i r_i + c_i w_i S_i u_i) (Woodbury on the second term; signs
    flipped when adding). The share's own curvature ``c_i ∇²q`` is taken out of H by the
    caller, which passes M and u computed with ``(H − c̄ ∇²q)⁻¹`` (c̄ the mean share: exact for
    equal shares; see docs/design.rst).
    """
    K = R.shape[1]
    sign = 1.0 if adding else -1.0
    wr = weights[:, None] * R
    if shares is not None:
        WSu = np.einsum("nce,ne->nc", S, share_outputs) * (weights * shares)[:, None]
        wr = wr - sign * WSu
    if K == 1:
        leverage = weights * S[:, 0, 0] * M[:, 0, 0]
        return wr / (1.0 + sign * leverage)[:, None]
    A = np.eye(K)[None] + sign * weights[:, None, None] * (S @ M)
    return np.linalg.solve(A, wr[:, :, None])[:, :, 0]
