"""Preconditioned block CG for large (sparse) linear models, and a probed self-influence.

For a generalised linear model (:class:`~skinfluence.models.GeneralizedLinear`) the Hessian
is ``H = X̃ᵀ (W S) X̃ + ∇²R``: a product with it costs two passes over the (sparse) features,
O(nnz(X) K k) for k vectors, and its diagonal is one more such pass. The solver caches the
mapped features and the row curvatures once (a Pipeline's transformers run once, not once per
product) and preconditions CG with

* single-output models: the **head block** of H, its diagonal plus the exact rows and columns
  of the intercept and of the ``n_head`` features of largest curvature (shrunk where that
  part alone would not be positive definite), inverted in O(p h) by an h × h Schur
  complement: the intercept and the frequent features (words) couple most others, and are
  what makes plain Jacobi slow and the probes' variance large (with the intercept alone,
  the "arrowhead");
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
from scipy.linalg import solve_triangular
from sklearn.utils import check_random_state
from threadpoolctl import threadpool_limits

from ..models import GeneralizedLinear, LinearGradientMatrix
from ._base import InverseHessianSolver, register_solver
from ._cg import _HessianOperator, warn_not_converged
from ._docstrings import with_shared_docstrings

#: Rows are solved exactly (one solve each) while that costs at most this many flops, with
#: 30 iterations of 4 flops per feature non-zero assumed per solve.
EXACT_SELF_INFLUENCE_FLOPS = 1e9
_SOLVE_FLOPS_PER_NNZ = 120
_EXACT_BLOCK = 256
#: First batch of probes with ``n_probes="auto"`` (then doubled).
_FIRST_PROBES = 16
#: Default relative residual of the test-row (``solve``) columns. Measured on 50 000-row
#: TF-IDF-like logistic regressions (p = 5 000 and 100 000, uniform and Zipf columns; 100 test
#: rows; benchmarks/README.md, session 8): test-row influence against ``rtol=1e-11`` has
#: Pearson ≥ 1 − 7e-8 and max error ≤ 4e-4 of its largest entry at 1e-3 (≥ 1 − 1.1e-5 and
#: ≤ 2e-3 at 1e-2; the issue's bar is Pearson 0.999), with 3–4 fewer iterations than at 1e-6
#: (20–35 % less time at p = 100 000).
DEFAULT_RTOL = 1e-3


def stated_correlation(values, stderr):
    """Pearson correlation an estimate states with the exact values: ``√(1 − mean(se²) / var)``.

    For estimates ``v_i = e_i + ε_i`` with independent errors of variance ``se_i²``,
    ``var(v) = var(e) + mean(se²)`` and ``corr(v, e) = √(var(e) / var(v))``.

    Parameters
    ----------
    values : ndarray of shape (n,)
        The estimates.
    stderr : ndarray of shape (n,)
        Their standard errors.

    Returns
    -------
    correlation : float
        In [0, 1]; 0 when the sampling error explains all the spread.

    Examples
    --------
    >>> import numpy as np
    >>> from skinfluence.inverse._pcg import stated_correlation
    >>> rng = np.random.RandomState(0)
    >>> exact = rng.standard_normal(10000)
    >>> estimate = exact + 0.5 * rng.standard_normal(10000)
    >>> round(stated_correlation(estimate, np.full(10000, 0.5)), 2)
    0.89
    >>> round(float(np.corrcoef(estimate, exact)[0, 1]), 2)
    0.89
    """
    var = float(np.var(values))
    if var <= 0:
        return 0.0
    return float(np.sqrt(max(0.0, 1.0 - float(np.mean(np.square(stderr))) / var)))


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

    def preconditioner(self, n_head=0):
        """The head-block (K = 1) or diagonal part of H + λI + BBᵀ.

        K = 1: the exact rows and columns of H for the "head" (the intercept and the
        ``n_head`` features of largest curvature, the frequent words of text), the diagonal
        elsewhere; else the diagonal (Jacobi). O(nnz(X) + p h) to build with h head entries
        (plus the sparse product ``X̃ᵀ W X̃_head``), O(p h) memory.
        """
        X, K = self.X, self.K
        X2 = X.multiply(X) if sp.issparse(X) else X * X
        curv = self.WS[:, np.arange(K), np.arange(K)]
        diag = np.asarray(X2.T @ curv).reshape(-1)
        d = X.shape[1]
        if self.fit_intercept:
            diag = np.concatenate([diag, curv.sum(axis=0)])
        data_diag = diag.copy()
        diag = diag + self.penalty + self.damping
        if self.null_space is not None:
            diag = diag + np.einsum("ij,ij->i", self.null_space, self.null_space)
        diag = np.maximum(diag, np.finfo(float).tiny)
        if K != 1:
            return _Preconditioner(diag, None, K, self.fit_intercept)
        m = int(min(n_head, d))
        cols = np.sort(np.argsort(-data_diag[:d], kind="stable")[:m]) if m else np.zeros(0, int)
        head = np.concatenate([cols, [d]]) if self.fit_intercept else cols
        if head.size == 0:
            return _Preconditioner(diag, None, K, self.fit_intercept)
        ws = self.WS[:, 0, 0]
        # Hh = H[:, head]: X̃ᵀ W X̃[:, head] (+ penalty, damping, BBᵀ on the head's own rows)
        Hh = np.zeros((self.n_params, head.size))
        if m:
            Xs = sp.csr_matrix(X) if not sp.issparse(X) else X
            Xh = Xs[:, cols]
            if Xh.nnz > 0.05 * Xh.shape[0] * m:  # frequent features: a dense (n, m) block
                Hh[:d, :m] = np.asarray(Xs.T @ (ws[:, None] * Xh.toarray()))
            else:
                Hh[:d, :m] = (Xs.T @ sp.diags(ws) @ Xh).toarray()
            if self.fit_intercept:
                Hh[d, :m] = np.asarray(Xh.T @ ws).ravel()
        if self.fit_intercept:
            Hh[:d, -1] = np.asarray(X.T @ ws).ravel()
            Hh[d, -1] = ws.sum()
        Hh[head, np.arange(head.size)] += self.penalty[head] + self.damping
        if self.null_space is not None:
            Hh += self.null_space @ self.null_space[head].T
        return _Preconditioner(diag, (head, Hh), K, self.fit_intercept)


class _Preconditioner:
    """P⁻¹ of a diagonal, or of a diagonal with dense head rows and columns.

    With the head h (indices) and t the rest, ``P = [[D_t, C], [Cᵀ, B]]`` (C = H[t, h],
    B = H[h, h]) and ``P⁻¹ v = [D_t⁻¹ v_t; 0] + U S⁻¹ Uᵀ v`` with ``U = [−D_t⁻¹ C; I]`` and
    the Schur complement ``S = B − Cᵀ D_t⁻¹ C``: O(p h) per vector. Where S would not be
    safely positive definite (its smallest eigenvalue relative to B below 1/2), C is shrunk
    until it is: still a positive definite preconditioner, keeping part of the coupling.
    A head of the intercept alone is the "arrowhead" of H.
    """

    def __init__(self, diag, head, n_outputs, fit_intercept):
        self.inv_diag = 1.0 / diag
        self.K = n_outputs
        self.fit_intercept = fit_intercept
        self.head = None
        if head is None:
            return
        idx, Hh = head
        self.head = idx
        inv_tail = self.inv_diag.copy()
        inv_tail[idx] = 0.0
        self.inv_tail = inv_tail
        B = Hh[idx]
        C = Hh.copy()
        C[idx] = 0.0
        DC = inv_tail[:, None] * C  # D_t⁻¹ C, zero on the head's rows
        L = np.linalg.cholesky(B)
        coupling = C.T @ DC
        M = solve_triangular(L, solve_triangular(L, coupling, lower=True).T, lower=True)
        top = float(np.linalg.eigvalsh((M + M.T) / 2)[-1]) if M.size else 0.0
        shrink = 1.0
        if top > 0.5:
            shrink = np.sqrt(0.5 / top)
        S = B - shrink**2 * coupling
        U = -shrink * DC
        U[idx, np.arange(idx.size)] = 1.0
        self.U = U
        self.schur_factor = np.linalg.cholesky((S + S.T) / 2)
        self.shrink = shrink

    def _schur_solve(self, W):
        L = self.schur_factor
        return solve_triangular(L, solve_triangular(L, W, lower=True), lower=True, trans="T")

    def __call__(self, V):
        if self.head is None:
            return self.inv_diag[:, None] * V
        out = self.inv_tail[:, None] * V
        out += self.U @ self._schur_solve(self.U.T @ V)
        return out

    def row_quadratic(self, G):
        """``g_iᵀ P⁻¹ g_i`` of every row of a LinearGradientMatrix, O(nnz(X) (K + h))."""
        X, R, K = G.X, G.R, self.K
        X2 = X.multiply(X) if sp.issparse(X) else X * X
        d0 = X.shape[1]
        if self.head is None:
            inv = self.inv_diag.reshape(-1, K)
            q = np.asarray(X2 @ inv[:d0]) * R**2  # (n, K)
            if self.fit_intercept:
                q += R**2 * inv[d0]
            return q.sum(axis=1)
        # K = 1: x̃ᵀ P⁻¹ x̃ = Σ_t x_t² / D_t + ‖L_S⁻¹ Uᵀ x̃‖²
        r2 = R[:, 0] ** 2
        q = np.asarray(X2 @ self.inv_tail[:d0]).ravel()
        if self.fit_intercept:
            q += self.inv_tail[d0]
        n = X.shape[0]
        step = max(1, 2**22 // self.U.shape[1])
        for start in range(0, n, step):
            rows = slice(start, min(n, start + step))
            UX = np.asarray(X[rows] @ self.U[:d0])
            if self.fit_intercept:
                UX += self.U[d0]
            W = solve_triangular(self.schur_factor, UX.T, lower=True)
            q[rows] += np.einsum("ij,ij->j", W, W)
        return r2 * q


def probes_needed(values, stderr, n_probes, target):
    """Probes at which an estimate from ``n_probes`` would state correlation ``target``.

    The sampling variance falls as 1/k: ``k = n_probes · mean(se²) / (var_exact (1/target² −
    1))`` with ``var_exact = var(values) − mean(se²)``; a very large number when the
    sampling error explains all of the spread.

    Parameters
    ----------
    values, stderr : ndarray of shape (n,)
        The current estimate and its standard errors.
    n_probes : int
        Probes behind them.
    target : float
        Correlation in (0, 1).

    Returns
    -------
    k : int

    Examples
    --------
    >>> import numpy as np
    >>> from skinfluence.inverse._pcg import probes_needed
    >>> values = np.random.RandomState(0).standard_normal(10000) * np.sqrt(1.25)
    >>> probes_needed(values, np.full(10000, 0.5), 16, 0.97)  # var 1, se² 0.25 at 16
    66
    """
    noise = float(np.mean(np.square(stderr)))
    signal = float(np.var(values)) - noise
    if signal <= 0:
        return np.iinfo(np.int64).max
    return int(np.ceil(n_probes * noise / (signal * (1.0 / target**2 - 1.0))))


@register_solver
@with_shared_docstrings
class PreconditionedCGSolver(InverseHessianSolver):
    """Preconditioned block CG, for models too large to factor (``method="pcg"``).

    Solves ``(H + λI) x = v`` for the k columns of V as k CG recursions sharing one batched
    Hessian product per iteration. Linear models (every
    :class:`~skinfluence.models.GeneralizedLinear`, also inside a Pipeline) use cached mapped
    features, so a product costs O(nnz(X) K k), and a preconditioner: the diagonal of H plus
    its exact rows and columns for the intercept and the ``n_head`` features of largest
    curvature for single-output models (inverted in O(p · n_head) by a Schur complement),
    the diagonal (Jacobi) otherwise. Other models run
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
    rtol : float, default=1e-3
        Stop a column when ``‖v − (H + λI) x‖ ≤ rtol ‖v‖``: the solves are exact to this
        residual (the solution's relative error is at most cond(H + λI) × rtol). At 1e-3,
        test-row influence on 50 000-row TF-IDF-like data agreed with ``rtol=1e-11`` at
        Pearson ≥ 1 − 7e-8, max error ≤ 4e-4 of its largest entry (p = 5 000 and 100 000);
        set it lower (e.g. 1e-8) where more digits matter, at ~1–2 iterations per decade.
    maxiter : int, default=None
        Iterations; None: ``min(10 p, 1000)``.
    n_probes : int or "auto", default="auto"
        Rademacher probes k of :meth:`self_influence` (k solves; its standard error falls as
        1/√k). "auto": 16, doubled until the estimate's stated correlation with the exact
        scores (:attr:`estimated_correlation_`) reaches ``target_correlation``, or
        ``max_probes``. Sets of at most k rows are solved exactly instead.
    target_correlation : float, default=0.96
        With ``n_probes="auto"``: the Pearson correlation between estimated and exact
        self-influence the probes must reach, as stated from their own spread.
    max_probes : int, default=1024
        With ``n_probes="auto"``: at most this many probes.
    probe_rtol : float, default=1e-3
        Relative residual of the probe solves (started from the preconditioner's solution).
        The probes' sampling error (``stderr``) is far above what it leaves; test-row
        solves use ``rtol``.
    n_head : int, default=64
        Single-output linear models: features whose exact Hessian rows and columns the
        preconditioner keeps (those of largest curvature, e.g. the frequent words of text),
        with the intercept's; 0: the intercept's alone (the "arrowhead"). O(p h) memory and
        time per preconditioner application with h = n_head + 1.
    random_state : int, RandomState instance or None, default=0
        Seeds the probes.

    Attributes
    ----------
    damping_ : float
        λ used.
    n_iterations_ : int
        Iterations of the last solve.
    n_probes_ : int or None
        Probes the last :meth:`self_influence` estimate used (None: solved exactly).
    estimated_correlation_ : float or None
        The last estimate's stated Pearson correlation with the exact self-influence,
        ``√(1 − mean(stderr²) / var(values))`` (the share of the estimates' variance that is
        not sampling error); None when exact.

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

    def __init__(
        self,
        damping=0.0,
        *,
        rtol=DEFAULT_RTOL,
        maxiter=None,
        n_probes="auto",
        target_correlation=0.96,
        max_probes=1024,
        probe_rtol=1e-3,
        n_head=64,
        random_state=0,
    ):
        super().__init__(damping)
        if not (isinstance(rtol, (int, float)) and 0 < rtol < 1):
            raise ValueError(f"rtol must be a float in (0, 1); got {rtol!r}.")
        if maxiter is not None and (not isinstance(maxiter, (int, np.integer)) or maxiter < 1):
            raise ValueError(f"maxiter must be a positive integer or None; got {maxiter!r}.")
        if n_probes != "auto" and (not isinstance(n_probes, (int, np.integer)) or n_probes < 2):
            raise ValueError(f"n_probes must be an integer ≥ 2 or 'auto'; got {n_probes!r}.")
        if not (isinstance(target_correlation, (int, float)) and 0 < target_correlation < 1):
            raise ValueError(
                f"target_correlation must be a float in (0, 1); got {target_correlation!r}."
            )
        if not isinstance(max_probes, (int, np.integer)) or max_probes < 2:
            raise ValueError(f"max_probes must be an integer ≥ 2; got {max_probes!r}.")
        if not (isinstance(probe_rtol, (int, float)) and 0 < probe_rtol < 1):
            raise ValueError(f"probe_rtol must be a float in (0, 1); got {probe_rtol!r}.")
        self.rtol = rtol
        self.maxiter = maxiter
        self.n_probes = n_probes
        self.target_correlation = target_correlation
        self.max_probes = max_probes
        if not isinstance(n_head, (int, np.integer)) or n_head < 0:
            raise ValueError(f"n_head must be a non-negative integer; got {n_head!r}.")
        self.probe_rtol = probe_rtol
        self.n_head = n_head
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
            self.operator_.preconditioner(self.n_head)
            if isinstance(self.operator_, _LinearHessianOperator)
            else None
        )
        self.n_params_ = adapter.n_params
        self.maxiter_ = self.maxiter or min(10 * self.n_params_, 1000)
        self.n_probes_ = None
        self.estimated_correlation_ = None
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
        """Estimate ``g_iᵀ (H + λI)⁻¹ g_i`` of every row of G from probe solves.

        ``g_iᵀ P⁻¹ g_i`` (P the preconditioner, exact in O(nnz) per row) plus Hutchinson's
        estimate of the diagonal of ``G (A⁻¹ − P⁻¹) Gᵀ`` from k Rademacher vectors z:
        ``z_i (G (A⁻¹ − P⁻¹) Gᵀ z)_i`` averaged over the probes (unbiased up to the probe
        solves' tolerance ``probe_rtol``). k = ``n_probes``, or with "auto" 16 doubled until
        the stated correlation reaches ``target_correlation`` (at most ``max_probes``).
        Few rows (at most 16, or whose exact solves would cost at most 1e9 flops) are solved
        exactly, one solve per row, in blocks of 256. Cost: k solves plus O(nnz(X) K k);
        memory O((n + p) k) for the current batch of probes.

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
        auto = self.n_probes == "auto"
        k = _FIRST_PROBES if auto else int(self.n_probes)
        if isinstance(G, LinearGradientMatrix):
            nnz = (G.X.nnz if sp.issparse(G.X) else G.X.size) * G.n_outputs
        else:
            nnz = n * G.shape[1]
        self.n_probes_ = None
        self.estimated_correlation_ = None
        if n <= k or n * _SOLVE_FLOPS_PER_NNZ * nnz <= EXACT_SELF_INFLUENCE_FLOPS:
            out = np.empty(n)
            for start in range(0, n, _EXACT_BLOCK):
                rows = slice(start, min(n, start + _EXACT_BLOCK))
                dense = G.dense_rows(rows)
                out[rows] = np.einsum("ij,ji->i", dense, self.solve(dense.T))
            return out, None
        rng = check_random_state(self.random_state)
        precond = self.preconditioner_
        base = np.zeros(n)
        linear = precond is not None and isinstance(G, LinearGradientMatrix)
        if linear:
            base = precond.row_quadratic(G)
        total = np.zeros(n)
        total_sq = np.zeros(n)
        used = 0
        batch = k
        while True:
            Z = rng.choice([-1.0, 1.0], size=(n, batch))
            Y = G.rmatmul(Z)  # (p, batch)
            if linear:  # solve for A⁻¹Y − P⁻¹Y, started from P⁻¹Y
                start = precond(Y)
                correction = self._probe_solve(Y, start) - start
            else:
                correction = self._probe_solve(Y, None)
            samples = Z * G.matmul(correction)  # (n, batch)
            del Z, Y, correction
            total += samples.sum(axis=1)
            total_sq += np.einsum("ij,ij->i", samples, samples)
            used += batch
            mean = total / used
            var = np.maximum(total_sq - used * mean**2, 0.0) / (used - 1)
            values = base + mean
            stderr = np.sqrt(var / used)
            corr = stated_correlation(values, stderr)
            if not auto or corr >= self.target_correlation or used >= self.max_probes:
                break
            needed = probes_needed(values, stderr, used, self.target_correlation)
            if needed > self.max_probes:  # out of reach: stop here, the caller is told
                break
            batch = min(max(used, int(1.1 * needed) - used), self.max_probes - used)  # ≥ double
        self.n_probes_ = used
        self.estimated_correlation_ = corr
        return values, stderr

    def _probe_solve(self, Y, start):
        X, residual, indefinite = self._block_pcg(Y, self.probe_rtol, x0=start)
        if residual > self.probe_rtol or indefinite:
            self._warn(residual, indefinite)
        return X

    def _block_pcg(self, V, rtol, x0=None):
        """k preconditioned CG recursions sharing one batched product per iteration (from
        ``x0``, else 0; the residual is relative to ‖V‖).

        On one BLAS thread: the iteration's dense products (p × (n_head + 1) × k) are small
        next to the single-threaded sparse ones, and OpenBLAS threads made them 5–9× slower
        on a loaded 2-core machine (0.37–0.78 s against 0.06–0.08 s per application at
        p = 5 000, k = 100).
        """
        with threadpool_limits(1, user_api="blas"):
            return self._block_pcg_loop(V, rtol, x0)

    def _block_pcg_loop(self, V, rtol, x0):
        matvec = self.operator_
        precond = self.preconditioner_ if self.preconditioner_ is not None else (lambda R: R)
        norms = np.linalg.norm(V, axis=0)
        norms[norms == 0] = 1.0
        if x0 is None:
            X = np.zeros_like(V)
            R = V.copy()
        else:
            X = np.array(x0, dtype=np.float64)
            R = V - matvec(X)
        res = np.linalg.norm(R, axis=0)
        indefinite = False
        self.n_iterations_ = 0
        # The working arrays hold only the unconverged columns (contiguous, compacted when
        # columns finish): no fancy indexing of p × k blocks at every iteration.
        cols = np.flatnonzero(res > rtol * norms)
        if cols.size == 0:
            return X, float(np.max(res / norms)) if V.size else 0.0, False
        Xa, Ra = X[:, cols], R[:, cols]
        Z = precond(Ra)
        Pa = Z.copy()
        rz = np.einsum("ij,ij->j", Ra, Z)
        tol = rtol * norms[cols]
        for _ in range(self.maxiter_):
            self.n_iterations_ += 1
            AP = matvec(Pa)
            curvature = np.einsum("ij,ij->j", Pa, AP)
            bad = curvature <= 0
            if bad.any():
                indefinite = True
                curvature = np.where(bad, 1.0, curvature)
            alpha = np.where(bad, 0.0, rz / curvature)
            Xa += alpha * Pa
            Ra -= alpha * AP
            r = np.linalg.norm(Ra, axis=0)
            done = (r <= tol) | bad
            res[cols] = r
            if done.any():
                X[:, cols[done]] = Xa[:, done]
                keep = ~done
                if not keep.any():
                    break
                cols, tol, rz = cols[keep], tol[keep], rz[keep]
                Xa, Ra, Pa = Xa[:, keep], Ra[:, keep], Pa[:, keep]
            Z = precond(Ra)
            rz_new = np.einsum("ij,ij->j", Ra, Z)
            Pa *= rz_new / rz
            Pa += Z
            rz = rz_new
        else:
            X[:, cols] = Xa
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
