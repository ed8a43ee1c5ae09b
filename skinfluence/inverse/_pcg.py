"""Preconditioned block CG for large (sparse) linear models, and a probed self-influence.

For a generalised linear model (:class:`~skinfluence.models.GeneralizedLinear`) the Hessian
is ``H = X̃ᵀ (W S) X̃ + ∇²R``: a product with it costs two passes over the (sparse) features,
O(nnz(X) K k) for k vectors, and its diagonal is one more such pass. The solver caches the
mapped features and the row curvatures once (a Pipeline's transformers run once, not once per
product) and preconditions CG with

* binary / single-output models with an intercept: the **arrowhead** part of H, its diagonal
  plus the exact intercept row and column (``Σ_i w_i s_i x_i``; shrunk where that part alone
  would not be positive definite), inverted in O(p) by a Schur complement: the intercept
  couples every feature, and is what makes plain Jacobi slow;
* otherwise the diagonal of H (Jacobi).

Other models get unpreconditioned block CG through the adapter's HVPs.

Self-influence ``g_iᵀ (H + λI)⁻¹ g_i`` of n rows would take n solves. :meth:`self_influence`
instead splits it as ``g_iᵀ P⁻¹ g_i`` (the preconditioner's part: exact, O(nnz(x_i)) per row)
plus ``g_iᵀ (A⁻¹ − P⁻¹) g_i`` (A = H + λI), the diagonal of ``G (A⁻¹ − P⁻¹) Gᵀ`` estimated
with k Rademacher probes (Hutchinson's diagonal estimator; Bekas, Kokiopoulou & Saad 2007):
k solves in all, unbiased, with a per-row standard error measured from the probes
themselves. The preconditioner acts as a control variate: the variance of row i's estimate is
``Σ_{j≠i} E_ij² / k`` with E = G (A⁻¹ − P⁻¹) Gᵀ, which is small where P is a good
approximation of A (sparse rows that share few features).
"""

import numpy as np
import scipy.sparse as sp
from sklearn.utils import check_random_state

from ..models import GeneralizedLinear, LinearGradientMatrix
from ._base import InverseHessianSolver, register_solver
from ._cg import _HessianOperator, warn_not_converged
from ._docstrings import with_shared_docstrings

#: Rows are solved exactly (one solve each) while that costs at most this many flops, with
#: 30 iterations of 4 flops per feature non-zero assumed per solve.
EXACT_SELF_INFLUENCE_FLOPS = 1e9
_SOLVE_FLOPS_PER_NNZ = 120
_EXACT_BLOCK = 256


class _LinearHessianOperator:
    """``(H + λI + BBᵀ) V`` of a generalised linear model from cached features and curvature.

    O(nnz(X) K k + n K² k) per product of k vectors; O(nnz(X) + n K²) memory (the features
    mapped once: a Pipeline's transformers do not run again per product).
    """

    def __init__(self, adapter, X, y, sample_weight, damping):
        self.damping = damping
        self.null_space = adapter.null_space()
        self.n_params = adapter.n_params
        self.n_products = 0
        Xf = adapter.features(X)
        if sp.issparse(Xf):
            Xf = sp.csr_matrix(Xf, dtype=np.float64)
        else:
            Xf = np.asarray(Xf, dtype=np.float64)
        t = adapter.encode_target(y)
        _, S = adapter.output_derivatives(adapter.outputs(Xf), t)
        w = adapter.row_weights(y, sample_weight)
        self.WS = S * w[:, None, None]
        penalty = np.asarray(adapter.penalty_diagonal(), dtype=np.float64)
        share = adapter.penalty_share_diagonal()
        if share is not None:
            penalty = penalty + float(np.sum(adapter.penalty_shares(y, sample_weight))) * share
        self.penalty = penalty
        self.K = adapter.n_outputs
        self.fit_intercept = adapter.fit_intercept
        self.X = Xf
        self._G = LinearGradientMatrix(Xf, np.zeros((Xf.shape[0], self.K)), self.fit_intercept)

    def __call__(self, V):
        V = np.asarray(V, dtype=np.float64).reshape(self.n_params, -1)
        self.n_products += V.shape[1]
        XV = self._G.outputs_dot(V)  # (n, K, k)
        if self.K == 1:
            T = XV[:, 0, :] * self.WS[:, 0, 0][:, None]
        else:
            T = np.einsum("nce,nek->nck", self.WS, XV).reshape(XV.shape[0], -1)
        out = self._G.features_rmatmul(T)
        out += (self.penalty + self.damping)[:, None] * V
        if self.null_space is not None:
            out += self.null_space @ (self.null_space.T @ V)
        return out

    def preconditioner(self):
        """The arrowhead (K = 1 with an intercept) or diagonal part of H + λI + BBᵀ."""
        X, K = self.X, self.K
        X2 = X.multiply(X) if sp.issparse(X) else X * X
        diag = np.asarray(X2.T @ self.WS[:, np.arange(K), np.arange(K)]).reshape(-1)
        if self.fit_intercept:
            diag = np.concatenate([diag, self.WS[:, np.arange(K), np.arange(K)].sum(axis=0)])
        diag = diag + self.penalty + self.damping
        if self.null_space is not None:
            diag = diag + np.einsum("ij,ij->i", self.null_space, self.null_space)
        diag = np.maximum(diag, np.finfo(float).tiny)
        arrow = None
        if K == 1 and self.fit_intercept:
            h = np.asarray(X.T @ self.WS[:, 0, 0]).ravel()
            if self.null_space is not None:
                h = h + self.null_space[:-1] @ self.null_space[-1]
            coupling = h @ (h / diag[:-1])
            # The arrowhead of a positive definite H need not be definite: where its Schur
            # complement would fall below half the intercept's diagonal, shrink the coupling
            # (a positive definite preconditioner that keeps part of it).
            if coupling > 0.5 * diag[-1]:
                h = h * np.sqrt(0.5 * diag[-1] / coupling)
                coupling = 0.5 * diag[-1]
            arrow = (h, diag[-1] - coupling)
        return _Preconditioner(diag, arrow, K, self.fit_intercept)


class _Preconditioner:
    """P⁻¹ of a diagonal, or of an arrowhead ``[[D, h], [hᵀ, d_b]]`` (Schur complement s).

    ``P⁻¹ v = [D⁻¹ v_w; 0] + u (uᵀv) / s`` with ``u = [−D⁻¹h; 1]``: O(p) per vector.
    """

    def __init__(self, diag, arrow, n_outputs, fit_intercept):
        self.inv_diag = 1.0 / diag
        self.arrow = arrow
        self.K = n_outputs
        self.fit_intercept = fit_intercept
        if arrow is not None:
            h, schur = arrow
            self.u = np.concatenate([-h * self.inv_diag[:-1], [1.0]])
            self.schur = schur

    def __call__(self, V):
        if self.arrow is None:
            return self.inv_diag[:, None] * V
        out = self.inv_diag[:, None] * V
        out[-1] = 0.0
        out += np.outer(self.u, (self.u @ V) / self.schur)
        return out

    def row_quadratic(self, G):
        """``g_iᵀ P⁻¹ g_i`` of every row of a LinearGradientMatrix, O(nnz(X) K)."""
        X, R, K = G.X, G.R, self.K
        X2 = X.multiply(X) if sp.issparse(X) else X * X
        d0 = X.shape[1]
        inv = self.inv_diag.reshape(-1, K)
        if self.arrow is None:
            q = np.asarray(X2 @ inv[:d0]) * R**2  # (n, K)
            if self.fit_intercept:
                q += R**2 * inv[d0]
            return q.sum(axis=1)
        # K = 1 with an intercept: x̃ᵀ P⁻¹ x̃ = Σ x_a²/D_a + (uᵀx̃)² / s
        r2 = R[:, 0] ** 2
        ux = np.asarray(X @ self.u[:-1]).ravel() + 1.0
        return r2 * (np.asarray(X2 @ inv[:d0, 0]).ravel() + ux**2 / self.schur)


@register_solver
@with_shared_docstrings
class PreconditionedCGSolver(InverseHessianSolver):
    """Preconditioned block CG, for models too large to factor (``method="pcg"``).

    Solves ``(H + λI) x = v`` for the k columns of V as k CG recursions sharing one batched
    Hessian product per iteration. Linear models (every
    :class:`~skinfluence.models.GeneralizedLinear`, also inside a Pipeline) use cached mapped
    features, so a product costs O(nnz(X) K k), and a preconditioner built in one pass: the
    diagonal of H plus its exact intercept row and column for single-output models (inverted
    in O(p) by a Schur complement), the diagonal (Jacobi) otherwise. Other models run
    unpreconditioned block CG on their HVPs. Memory O(p k) plus the cached features
    (O(nnz(X) + n K²)). Exact to ``rtol`` (relative residual per column); iterations grow with
    √cond(P⁻¹(H + λI)).

    Self-influence of many rows does not take one solve per row: see
    :meth:`self_influence` (``n_probes`` solves, with a stated standard error).

    Parameters
    ----------
    damping : float or "auto", default=0.0
        λ added to the diagonal of H; "auto": 1e-3 × trace(H)/p, estimated with 16
        Hutchinson probes.
    rtol : float, default=1e-6
        Stop a column when ``‖v − (H + λI) x‖ ≤ rtol ‖v‖``.
    maxiter : int, default=None
        Iterations; None: ``min(10 p, 1000)``.
    n_probes : int, default=64
        Rademacher probes k of :meth:`self_influence` (k solves; its standard error falls as
        1/√k). Sets of at most k rows are solved exactly instead.
    random_state : int, RandomState instance or None, default=0
        Seeds the probes.

    Attributes
    ----------
    damping_ : float
        λ used.
    n_iterations_ : int
        Iterations of the last solve.

    See Also
    --------
    ConjugateGradientSolver : CG without a preconditioner or cached features.
    DirectSolver : exact, for models small enough to factor.

    Examples
    --------
    >>> import numpy as np
    >>> import scipy.sparse as sp
    >>> from sklearn.linear_model import LogisticRegression
    >>> from skinfluence.inverse import DirectSolver, PreconditionedCGSolver
    >>> from skinfluence.models import adapter_for
    >>> X = sp.random(400, 50, density=0.1, format="csr", random_state=0)
    >>> y = (X.sum(axis=1).A1 > 0.25).astype(int)
    >>> adapter = adapter_for(LogisticRegression().fit(X, y))
    >>> V = adapter.gradients(X[:3], y[:3]).dense_rows(slice(None)).T
    >>> x = PreconditionedCGSolver(rtol=1e-10).fit(adapter, X, y).solve(V)
    >>> bool(np.allclose(x, DirectSolver().fit(adapter, X, y).solve(V)))
    True
    """

    name = "pcg"

    def __init__(self, damping=0.0, *, rtol=1e-6, maxiter=None, n_probes=64, random_state=0):
        super().__init__(damping)
        if not (isinstance(rtol, (int, float)) and 0 < rtol < 1):
            raise ValueError(f"rtol must be a float in (0, 1); got {rtol!r}.")
        if maxiter is not None and (not isinstance(maxiter, (int, np.integer)) or maxiter < 1):
            raise ValueError(f"maxiter must be a positive integer or None; got {maxiter!r}.")
        if not isinstance(n_probes, (int, np.integer)) or n_probes < 2:
            raise ValueError(f"n_probes must be an integer ≥ 2; got {n_probes!r}.")
        self.rtol = rtol
        self.maxiter = maxiter
        self.n_probes = n_probes
        self.random_state = random_state

    def fit(self, adapter, X, y, sample_weight=None):
        self.operator_ = None
        if isinstance(adapter, GeneralizedLinear):
            try:
                operator = _LinearHessianOperator(adapter, X, y, sample_weight, 0.0)
            except (AttributeError, NotImplementedError, TypeError):
                operator = None
            if operator is not None and _agrees(operator, adapter, X, y, sample_weight):
                self.operator_ = operator
        if self.operator_ is None:
            self.operator_ = _HessianOperator(adapter, X, y, sample_weight, 0.0)
        self.damping_ = self._resolve_damping(operator=self.operator_)
        self.operator_.damping = self.damping_
        self.preconditioner_ = (
            self.operator_.preconditioner()
            if isinstance(self.operator_, _LinearHessianOperator)
            else None
        )
        self.n_params_ = adapter.n_params
        self.maxiter_ = self.maxiter or min(10 * self.n_params_, 1000)
        return self

    def solve(self, V):
        V = np.asarray(V, dtype=np.float64)
        one_d = V.ndim == 1
        V = V.reshape(self.n_params_, -1)
        X, residual, indefinite = self._block_pcg(V, self.rtol)
        self.last_residual_ = residual
        if residual > self.rtol or indefinite:
            self._warn(residual, indefinite)
        return X.ravel() if one_d else X

    def self_influence(self, G):
        """Estimate ``g_iᵀ (H + λI)⁻¹ g_i`` of every row of G with ``n_probes`` solves.

        ``g_iᵀ P⁻¹ g_i`` (P the preconditioner, exact in O(nnz) per row) plus Hutchinson's
        estimate of the diagonal of ``G (A⁻¹ − P⁻¹) Gᵀ`` from k = ``n_probes`` Rademacher
        vectors z: ``z_i (G (A⁻¹ − P⁻¹) Gᵀ z)_i`` averaged over the probes (unbiased).
        Few rows (at most k, or whose exact solves would cost at most 1e9 flops) are solved
        exactly, one solve per row, in blocks of 256. Cost: k solves plus
        O(nnz(X) K k); memory O((n + p) k).

        Parameters
        ----------
        G : GradientMatrix
            Per-sample gradients of the rows, shape (n, p).

        Returns
        -------
        values : ndarray of shape (n,)
            The estimates.
        stderr : ndarray of shape (n,) or None
            Each estimate's standard error, the probes' sample standard deviation / √k
            (the error is within 2 × stderr for ~95 % of the rows); None when exact.
        """
        n = G.shape[0]
        k = int(self.n_probes)
        if isinstance(G, LinearGradientMatrix):
            nnz = (G.X.nnz if sp.issparse(G.X) else G.X.size) * G.n_outputs
        else:
            nnz = n * G.shape[1]
        if n <= k or n * _SOLVE_FLOPS_PER_NNZ * nnz <= EXACT_SELF_INFLUENCE_FLOPS:
            out = np.empty(n)
            for start in range(0, n, _EXACT_BLOCK):
                rows = slice(start, min(n, start + _EXACT_BLOCK))
                dense = G.dense_rows(rows)
                out[rows] = np.einsum("ij,ji->i", dense, self.solve(dense.T))
            return out, None
        rng = check_random_state(self.random_state)
        Z = rng.choice([-1.0, 1.0], size=(n, k))
        Y = G.rmatmul(Z)  # (p, k)
        precond = self.preconditioner_
        base = np.zeros(n)
        if precond is not None and isinstance(G, LinearGradientMatrix):
            base = precond.row_quadratic(G)
            correction = self.solve(Y) - precond(Y)
        else:
            correction = self.solve(Y)
        samples = Z * G.matmul(correction)  # (n, k)
        values = base + samples.mean(axis=1)
        stderr = samples.std(axis=1, ddof=1) / np.sqrt(k)
        return values, stderr

    def _block_pcg(self, V, rtol):
        """k preconditioned CG recursions sharing one batched product per iteration."""
        matvec = self.operator_
        precond = self.preconditioner_ if self.preconditioner_ is not None else (lambda R: R)
        norms = np.linalg.norm(V, axis=0)
        norms[norms == 0] = 1.0
        X = np.zeros_like(V)
        R = V.copy()
        Zr = precond(R)
        P = Zr.copy()
        rz = np.einsum("ij,ij->j", R, Zr)
        res = np.linalg.norm(R, axis=0)
        active = res > rtol * norms
        indefinite = False
        self.n_iterations_ = 0
        for _ in range(self.maxiter_):
            if not active.any():
                break
            self.n_iterations_ += 1
            idx = np.flatnonzero(active)
            AP = matvec(P[:, idx])
            curvature = np.einsum("ij,ij->j", P[:, idx], AP)
            bad = curvature <= 0
            if bad.any():
                indefinite = True
                active[idx[bad]] = False
                keep = ~bad
                idx, AP, curvature = idx[keep], AP[:, keep], curvature[keep]
            alpha = rz[idx] / curvature
            X[:, idx] += alpha * P[:, idx]
            R[:, idx] -= alpha * AP
            res[idx] = np.linalg.norm(R[:, idx], axis=0)
            Zi = precond(R[:, idx])
            rz_new = np.einsum("ij,ij->j", R[:, idx], Zi)
            P[:, idx] = Zi + (rz_new / rz[idx]) * P[:, idx]
            rz[idx] = rz_new
            active[idx] = res[idx] > rtol * norms[idx]
        residual = float(np.max(res / norms)) if V.size else 0.0
        return X, residual, indefinite

    def _warn(self, residual, indefinite):
        warn_not_converged(
            self,
            "Preconditioned CG",
            residual,
            indefinite,
            "or a larger memory_budget for 'direct'",
        )


def _agrees(operator, adapter, X, y, sample_weight):
    """Whether the cached operator's product equals the adapter's HVP on one random vector."""
    v = np.random.RandomState(0).standard_normal((adapter.n_params, 1))
    mine = operator(v)
    operator.n_products = 0
    theirs = np.asarray(adapter.hvp(X, y, v, sample_weight=sample_weight)).reshape(-1, 1)
    B = adapter.null_space()
    if B is not None:
        theirs = theirs + B @ (B.T @ v)
    scale = np.abs(theirs).max() + 1e-300
    return bool(np.abs(mine - theirs).max() <= 1e-8 * scale)
