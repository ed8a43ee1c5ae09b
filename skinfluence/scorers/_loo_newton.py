"""Leave-one-out refits of linear models by Newton iterations that share one factorisation.

Refitting without row i solves ``min J₋ᵢ(θ) = J(θ) − w_i ℓ_i(θ) − c_i q(θ)`` (the last term
for families whose rows carry a penalty share, see :mod:`skinfluence.models._base`). Its
minimiser is close to the full-data solution θ̂, and the Hessian of J₋ᵢ at θ̂ is
H − w_i ∇²ℓ_i(θ̂) (less c_i ∇²q, left in the preconditioner): a rank-K update of the
full-data Hessian H, whose inverse follows from H⁻¹ by the Woodbury identity (a K × K
solve per row, see ``_newton.py``). So every refit runs the iteration::

    θ ← θ − (H − w_i ∇²ℓ_i(θ̂))⁻¹ ∇J₋ᵢ(θ),      started at θ = θ̂,

whose first step is the Newton-step estimate of ``InfluenceScorer(newton_step=True)`` and
whose fixed point is the exact minimiser of J₋ᵢ (the preconditioner only sets the speed: the
convergence is linear with a rate of order ‖θ₋ᵢ − θ̂‖, typically 1e-10 in 3-6 iterations).
The iteration stops when the largest entry of ∇J₋ᵢ / Σ_{j≠i} w_j is below ``tol``, scikit-
learn's own criterion for its Newton solvers. The gradients of a block of b refits come from
two GEMMs over the training data (on dense X, chunk by chunk of rows so that the outputs and
residuals of the block stay in cache), the first iteration's from the full-data gradient
without a pass, so all n refits cost O(n · nnz(X) · K · iterations), with no per-fit
overhead, instead of n separate fits.
"""

import warnings

import numpy as np
import scipy.sparse as sp
from scipy import linalg
from sklearn.utils import gen_batches

from ..exceptions import IllConditionedHessianWarning
from ..inverse import DirectSolver
from ..models._linear import LinearGradientMatrix
from ._newton import leverage_blocks

# Memory for one block of simultaneous refits on sparse X: the (n, b, K) outputs and residuals.
_BLOCK_BYTES = 2**25
# Refits per block on dense X, whose gradient pass is chunked over rows (_CHUNK_BYTES each).
_DENSE_BLOCK = 512
_CHUNK_BYTES = 2**20


def newton_leave_one_out(adapter, X, y, sample_weight=None, *, tol, max_iter=50, progress=None):
    """Parameters θ₋ᵢ of the model refitted without each training row.

    Parameters
    ----------
    adapter : GeneralizedLinear
        Adapter of the model fitted on all rows (to convergence at ``tol``).
    X, y, sample_weight
        The training data it was fitted on.
    tol : float
        Stop when max |∇J₋ᵢ(θ)| / Σ_{j≠i} w_j ≤ tol.
    max_iter : int
        Iterations per refit before it is reported as not converged.
    progress : callable or None
        Called with the number of refits finished after each block.

    Returns
    -------
    thetas : ndarray of shape (n, p) or None
        None when θ̂ is not a stationary point of the adapter's objective (the model was not
        fitted to ``tol``, or it minimises something else) or its Hessian is singular or
        ill-conditioned (condition number > 1e12 after diagonal scaling): the caller must
        refit instead.
    n_iter : ndarray of shape (n,)
        Iterations taken by each refit.
    converged : ndarray of bool, shape (n,)
        False where the iteration did not reach ``tol`` in ``max_iter`` or stopped
        decreasing the gradient; those refits must be done otherwise.
    """
    problem = _LeaveOneOutProblem(adapter, X, y, sample_weight)
    n = problem.n
    # 100 × tol: scikit-learn's criterion is on its own rounding of the same gradient.
    if np.abs(problem.g_full).max() > 100 * tol * max(problem.w.sum(), np.finfo(float).tiny):
        return None, np.zeros(n, dtype=int), np.zeros(n, dtype=bool)
    if not problem.factorise(np.arange(n)):
        # A singular or ill-conditioned H (e.g. least squares with p ≥ n, an unpenalised
        # model on separable data): the minimiser without a row is not unique or not stable,
        # and which one the model's own solver returns is its business.
        return None, np.zeros(n, dtype=int), np.zeros(n, dtype=bool)
    thetas = np.empty((n, problem.n_params))
    n_iter = np.zeros(n, dtype=int)
    converged = np.zeros(n, dtype=bool)
    for batch in gen_batches(n, problem.block_size):
        rows = np.arange(n)[batch]
        thetas[rows], n_iter[rows], converged[rows] = problem.solve(rows, tol, max_iter)
        if progress is not None:
            progress(len(rows))
    return thetas, n_iter, converged


def refine_leave_one_out(
    adapter,
    X,
    y,
    sample_weight,
    rows,
    *,
    tol=1e-10,
    max_iter=50,
    weights=None,
    shares=None,
    H_inv=None,
):
    """Iterate the leave-one-out Newton refits of ``rows`` from θ̂ to their fixed point.

    The objective is *tilted* so that θ̂ is its exact stationary point whatever the
    tolerance the model was fitted at: ``J̃₋ᵢ(θ) = J₋ᵢ(θ) − ∇J(θ̂)ᵀθ`` (and, where the share's
    gradient is not its diagonal model, e.g. Lasso's l1 term on the active set, the removed
    share's constant part is taken out as well). Its first iteration
    is the Newton step of ``InfluenceScorer(newton_step=True)``, its fixed point the
    minimiser of J₋ᵢ when θ̂ minimises J (the leave-one-out refit, with the active set of
    a piecewise-quadratic loss updated at every iterate: semi-smooth Newton on the
    generalised Hessian). Cost O(n d² K² + p³) once (the rows' leverage needs only their
    own features, the factorisation is the full Hessian's) plus O(nnz(X) K + p²) per row
    and iteration, usually 2–6.

    Returns
    -------
    thetas : ndarray of shape (len(rows), p) or None
        θ₋ᵢ of each row, None when the Hessian is singular or ill-conditioned.
    converged : ndarray of bool, shape (len(rows),)
        False where the iteration did not reach ``tol`` (max |∇J̃₋ᵢ| / Σ_{j≠i} w_j) in
        ``max_iter`` even with the line search; the caller keeps the single step there.

    ``weights`` / ``shares`` (the adapter's ``row_weights`` / ``penalty_shares``) and
    ``H_inv`` (the full-data inverse Hessian) may be passed when the caller has them.
    """
    rows = np.asarray(rows, dtype=int)
    problem = _LeaveOneOutProblem(adapter, X, y, sample_weight, weights=weights, shares=shares)
    if len(rows) == 0 or not problem.factorise(rows, H_inv=H_inv):
        return None, np.zeros(len(rows), dtype=bool)
    thetas = np.empty((len(rows), problem.n_params))
    converged = np.zeros(len(rows), dtype=bool)
    for batch in gen_batches(len(rows), problem.block_size):
        thetas[batch], _, converged[batch] = problem.solve(
            rows[batch], tol, max_iter, offset=problem.offsets(rows[batch])
        )
    # The shared iteration stops where the gradient stops falling (e.g. a piecewise-
    # quadratic loss whose active set oscillates): those few rows get Newton steps with their
    # own generalised Hessian and a line search, which converge on any convex C¹ objective.
    for j in np.flatnonzero(~converged):
        thetas[j], converged[j] = problem.line_search_refit(rows[j], tol, 2 * max_iter)
    return thetas, converged


class _LeaveOneOutProblem:
    """The objective, its full-data gradient and the shared factorisation of the refits."""

    def __init__(self, adapter, X, y, sample_weight, *, weights=None, shares=None):
        self.adapter = adapter
        self.Xf = adapter.features(X)
        self.t = adapter.encode_target(y)
        self.w = adapter.row_weights(y, sample_weight) if weights is None else weights
        self.n, self.K = len(self.t), adapter.n_outputs
        self.n_params = (adapter.n_features + adapter.fit_intercept) * self.K
        self.theta_hat = adapter.params()
        penalty = adapter.penalty_diagonal()
        share = adapter.penalty_share_diagonal()  # ∇²q per unit of share, or None
        n = self.n
        if share is None:
            c = np.zeros(n)
        else:
            c = adapter.penalty_shares(y, sample_weight) if shares is None else shares
        share = np.zeros_like(penalty) if share is None else share
        # ∇J₋ᵢ(θ) = Σ_j w_j g_j + (D₀ + (Σc − c_i) D_q) θ − w_i g_i: the penalty without row i.
        self.penalties = (penalty + c.sum() * share, share, c)
        # Only its features are used: x̃ᵢ rows, X̃ᵀT products (no gradient is stored).
        self.features = LinearGradientMatrix(self.Xf, np.zeros((n, self.K)), adapter.fit_intercept)
        R0, self.S0 = adapter.output_derivatives(adapter.outputs(self.Xf), self.t)
        self.R0 = R0
        self.g_full = (
            self.features.features_rmatmul(self.w[:, None] * R0)[:, 0]
            + self.penalties[0] * self.theta_hat
        )
        share_gradient = adapter.penalty_share_gradient()
        self.share_excess = (
            np.zeros(self.n_params)
            if share_gradient is None
            else share_gradient - self.penalties[1] * self.theta_hat
        )
        if sp.issparse(self.Xf):
            self.block_size = int(max(1, min(n, _BLOCK_BYTES // (8 * 3 * n * self.K))))
        else:
            self.block_size = int(max(1, min(n, _DENSE_BLOCK)))
        self._X, self._y, self._sw = X, y, sample_weight

    def factorise(self, rows, H_inv=None):
        """H⁻¹ and the per-row Woodbury factors of ``rows``; False if H is not usable."""
        if H_inv is None:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", IllConditionedHessianWarning)
                solver = DirectSolver().fit(self.adapter, self._X, self._y, self._sw)
            if solver.cholesky_ is None:
                return False
            H_inv = solver.solve(np.eye(self.n_params))
        K, n = self.K, self.n
        self.H_inv = H_inv
        if len(rows) == n:
            M = leverage_blocks(self.features, self.H_inv, K, self.adapter.fit_intercept, 1024)
        else:  # only the rows refined: O(len(rows) d² K²)
            M = np.zeros((n, K, K))
            sub = LinearGradientMatrix(
                _take_rows(self.Xf, rows), np.zeros((len(rows), K)), self.adapter.fit_intercept
            )
            M[rows] = leverage_blocks(sub, self.H_inv, K, self.adapter.fit_intercept, 1024)
        self.A = np.eye(K)[None] - self.w[:, None, None] * (self.S0 @ M)  # (I − w_i S_i M_i)
        self.WS = self.w[:, None, None] * self.S0
        return True

    def solve(self, rows, tol, max_iter, offset=None):
        return _solve_block(
            self.adapter,
            self.Xf,
            self.t,
            self.w,
            rows,
            self.theta_hat,
            self.penalties,
            self.H_inv,
            self.A,
            self.WS,
            self.features,
            tol,
            max_iter,
            offset,
            (self.g_full, self.R0),
        )

    def _gradient(self, i, theta):
        """∇J̃₋ᵢ(θ) of the tilted objective, shape (p,)."""
        penalty, share, c = self.penalties
        rows = np.array([i])
        grad = _leave_one_out_gradients(
            self.adapter,
            self.features,
            self.t,
            self.w,
            rows,
            theta[None],
            (penalty - c[i] * share)[None],
            self.features.dense_features(rows),
        )
        return grad[0] - self.offsets(rows)[0]

    def offsets(self, rows):
        """The tilt of each row's objective, ``∇J(θ̂) + c_i e`` (b, p): e is the part of the
        share's gradient ∇q(θ̂) its diagonal model D_q θ̂ leaves out (Lasso's α ρ sign(w)),
        so that the tilted gradient at θ̂ is exactly ``−(w_i ∇ℓ_i + c_i ∇q)``."""
        _, _, c = self.penalties
        return self.g_full[None] + c[rows, None] * self.share_excess[None]

    def line_search_refit(self, i, tol, max_iter):
        """Damped Newton from θ̂ on J̃₋ᵢ: the direction ``H₋ᵢ(θ)⁻¹∇J̃₋ᵢ(θ)`` with the
        (generalised) Hessian at the iterate, the step length found by bisection on the
        directional derivative (monotone on a convex objective: a gradient per trial).
        O((n p K + p³) · iterations); returns (θ, converged)."""
        _, _, c = self.penalties
        share_weight = c.sum() - c[i]
        denom = max(self.w.sum() - self.w[i], np.finfo(float).tiny)
        theta = self.theta_hat.copy()
        for _ in range(max_iter):
            grad = self._gradient(i, theta)
            if np.abs(grad).max() / denom <= tol:
                return theta, True
            step = _newton_step(self.adapter, self.Xf, self.t, self.w, i, theta, grad, share_weight)
            if step is None:
                return theta, False
            slope0 = -step @ grad  # φ'(0) < 0 along −step for a positive-definite H
            if not slope0 < 0:
                return theta, False
            low, high = 0.0, 1.0
            if -step @ self._gradient(i, theta - step) > 0:  # the minimum lies before 1
                for _ in range(40):
                    mid = 0.5 * (low + high)
                    slope = -step @ self._gradient(i, theta - mid * step)
                    if slope > 0:
                        high = mid
                    else:
                        low = mid
                    if abs(slope) <= 1e-3 * abs(slope0):
                        high = mid
                        break
            theta = theta - high * step
        return theta, False


def _take_rows(X, rows):
    return X[rows] if isinstance(X, np.ndarray) or hasattr(X, "tocsr") else X.iloc[rows]


def _solve_block(
    adapter,
    Xf,
    t,
    w,
    rows,
    theta_hat,
    penalties,
    H_inv,
    A,
    WS,
    features,
    tol,
    max_iter,
    offset=None,
    start=None,
):
    """Iterate the refits of ``rows``; ``start`` = (∇J(θ̂), r(θ̂)) gives the first gradients
    without a pass over the data: ∇J₋ᵢ(θ̂) = ∇J(θ̂) − c_i D_q θ̂ − w_i r_i(θ̂) ⊗ x̃_i."""
    penalty, share, c = penalties
    # each refit's penalty: the full one less the removed row's share, (b, p)
    penalty = penalty[None] - c[rows, None] * share[None]
    b = len(rows)
    theta = np.tile(theta_hat, (b, 1))
    n_iter = np.zeros(b, dtype=int)
    converged = np.zeros(b, dtype=bool)
    failed = np.zeros(b, dtype=bool)
    exact = np.zeros(b, dtype=bool)
    previous = np.full(b, np.inf)
    x_rows = features.dense_features(rows)  # x̃_i, (b, d)
    denom = w.sum() - w[rows]
    size = np.zeros(b)
    grad = np.zeros_like(theta)
    for it in range(max_iter + 1):
        active = ~converged & ~failed
        sub = np.flatnonzero(active)  # only the refits still running cost a gradient
        if it == 0 and start is not None:
            g_full, R0 = start
            grad[:] = g_full[None] - c[rows, None] * share[None] * theta_hat[None]
            grad -= _row_terms(x_rows, w[rows, None] * R0[rows])
        else:
            grad[sub] = _leave_one_out_gradients(
                adapter, features, t, w, rows[sub], theta[sub], penalty[sub], x_rows[sub]
            )
        if offset is not None:  # the tilted objective J̃₋ᵢ (refine_leave_one_out)
            grad[sub] -= offset[sub]
        size[sub] = np.abs(grad[sub]).max(axis=1) / np.maximum(denom[sub], np.finfo(float).tiny)
        converged |= active & (size <= tol)
        active &= ~converged
        # Removing a high-leverage row can move θ far enough that the curvature at θ̂ is a
        # poor preconditioner (the gradient shrinks slowly): those refits switch to Newton
        # steps with their own Hessian. A Newton step that does not reduce the gradient fails
        # the refit, which the caller then does with the model's own solver.
        failed |= active & exact & (size >= previous)
        exact |= active & (size > _SLOW_RATE * previous)
        active &= ~failed
        if not active.any() or it == max_iter:
            break
        previous = size.copy()
        n_iter[active] += 1
        fast = active & ~exact
        if fast.any():
            theta[fast] -= _preconditioned(grad[fast], rows[fast], x_rows[fast], H_inv, A, WS)
        for j in np.flatnonzero(active & exact):
            share_weight = c.sum() - c[rows[j]]
            step = _newton_step(adapter, Xf, t, w, rows[j], theta[j], grad[j], share_weight)
            if step is None:
                failed[j] = True
            else:
                theta[j] -= step
    return theta, n_iter, converged


# Gradient ratio between iterations above which a refit changes to exact Newton steps.
_SLOW_RATE = 0.3


def _newton_step(adapter, Xf, t, w, i, theta, grad, share_weight):
    """H₋ᵢ(θ)⁻¹ ∇J₋ᵢ(θ) with the Hessian of the objective without row i at θ: O(n p² + p³)."""
    stepped = adapter.with_params(theta)
    _, S = stepped.output_derivatives(stepped.outputs(Xf), t)
    WS = w[:, None, None] * S
    WS[i] = 0.0
    H = stepped.hessian_from_curvature(Xf, WS, share_weight)
    B = adapter.null_space()
    if B is not None:
        H += B @ B.T
    try:
        return linalg.solve(H, grad, assume_a="pos")
    except (linalg.LinAlgError, ValueError):
        return None


def _leave_one_out_gradients(adapter, features, t, w, rows, theta, penalty, x_rows):
    """∇J₋ᵢ at θ_i for each i in ``rows`` (theta is (b, p), penalty (b, p) or (p,)): shape
    (b, p).

    Dense X is passed over in chunks of rows whose (m, b, K) outputs and residuals stay in
    cache, each chunk's features read once for both products (sparse X in one pass: its
    transposed product is a dense (d, b K) block, too costly to accumulate per chunk).
    """
    Xf = features.X
    n, K, nf = Xf.shape[0], adapter.n_outputs, adapter.n_features
    b = len(rows)
    coef, intercept = stacked_operands(adapter, theta)
    unit = bool(np.all(w == 1.0))
    m = n if sp.issparse(Xf) else max(1, _CHUNK_BYTES // (8 * b * K))
    grad_w = np.zeros((nf, b * K))
    grad_b = np.zeros(b * K)
    for start in range(0, n, m):
        chunk = slice(start, min(start + m, n))
        Xc = Xf if m >= n else Xf[chunk]
        eta = np.asarray(Xc @ coef).reshape(-1, b, K)
        if intercept is not None:
            eta += intercept
        R = adapter.stacked_output_gradients(eta, t[chunk])
        if not unit:
            R *= w[chunk, None, None]
        R = R.reshape(-1, b * K)
        grad_w += np.asarray(Xc.T @ R)
        if intercept is not None:
            grad_b += R.sum(axis=0)
    parts = [grad_w.reshape(nf, b, K)]
    if intercept is not None:
        parts.append(grad_b.reshape(1, b, K))
    grad = np.concatenate(parts, axis=0).transpose(1, 0, 2).reshape(b, -1)
    grad += penalty * theta
    # the removed row's own term, w_i ∇ℓ_i(θ_i) = w_i r_i ⊗ x̃_i
    eta_own = np.einsum("bd,bdk->bk", x_rows, theta.reshape(b, -1, K))
    grad -= _row_terms(x_rows, w[rows, None] * adapter.output_gradients(eta_own, t[rows]))
    return grad


def stacked_operands(adapter, thetas):
    """The outputs of b parameter vectors (b, p) in one product: ``coef`` (n_features, b K)
    and ``intercept`` (1, b, K) or None, so that ``(X @ coef).reshape(n, b, K) + intercept``
    holds every row's outputs under every θ."""
    b, K, nf = len(thetas), adapter.n_outputs, adapter.n_features
    W = thetas.reshape(b, -1, K)
    coef = np.ascontiguousarray(W[:, :nf].transpose(1, 0, 2).reshape(nf, b * K))
    return coef, (W[:, nf][None] if adapter.fit_intercept else None)


def _row_terms(x_rows, r_rows):
    """x̃_i ⊗ r_i for each row, (b, d) and (b, K) → (b, d K) in θ's layout."""
    return (x_rows[:, :, None] * r_rows[:, None, :]).reshape(len(x_rows), -1)


def _preconditioned(grad, rows, x_rows, H_inv, A, WS):
    """(H − w_i ∇²ℓ_i)⁻¹ g_i for each row, by Woodbury with a K × K solve: shape (b, p)."""
    b = grad.shape[0]
    K = A.shape[1]
    a = grad @ H_inv  # H⁻¹ g_i as rows (H⁻¹ symmetric)
    Ua = np.einsum("bd,bdk->bk", x_rows, a.reshape(b, -1, K))  # U_iᵀ H⁻¹ g_i
    c = np.linalg.solve(A[rows], (WS[rows] @ Ua[:, :, None]))[:, :, 0]
    Uc = _row_terms(x_rows, c)
    return a + Uc @ H_inv
