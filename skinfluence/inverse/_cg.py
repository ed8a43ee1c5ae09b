"""Conjugate gradients on Hessian-vector products (``method="cg"``)."""

import warnings

import numpy as np
from scipy.sparse.linalg import LinearOperator, cg

from ..exceptions import ConvergenceWarning
from ._backend import backend_for
from ._base import InverseHessianSolver, register_solver
from ._damping import curvature_estimates, suggest_damping
from ._docstrings import with_shared_docstrings


class _HessianOperator:
    """``(H + λI + B Bᵀ) V`` through the adapter's HVPs (B: exact flat directions).

    Products go through the adapter's ``hvp_operator(X, y, sample_weight)`` (torch models:
    the primal pass on these rows cached across products). The sums run in the adapter's
    backend (:mod:`._backend`: torch on the net's device for torch models) and the result
    has the kind of ``V``: an ndarray for an ndarray (what ARPACK and the damping estimates
    pass), a device tensor for a tensor (what the solvers' iterations pass).
    """

    def __init__(self, adapter, X, y, sample_weight, damping):
        self.damping = damping
        self.backend = backend_for(adapter)
        self.null_space = adapter.null_space()
        B = self.null_space
        self._null_space = None if B is None else self.backend.asarray(B)
        self.n_params = adapter.n_params
        self.n_products = 0  # HVP columns computed, for cost reporting
        self._products = adapter.hvp_operator(X, y, sample_weight)

    def __call__(self, V):
        xp = self.backend
        Vb = xp.asarray(V).reshape(self.n_params, -1)
        self.n_products += Vb.shape[1]
        out = self._products(Vb) + self.damping * Vb
        if self._null_space is not None:
            out += self._null_space @ (self._null_space.T @ Vb)
        return xp.like(V, out)

    def linear_operator(self):
        p = self.n_params
        return LinearOperator((p, p), matvec=lambda v: self(v)[:, 0], dtype=np.float64)


@register_solver
@with_shared_docstrings
class ConjugateGradientSolver(InverseHessianSolver):
    """Conjugate gradients with Hessian-vector products (``method="cg"``).

    Solves ``(H + λI) x = v`` for each column of V without forming H: each iteration costs
    one HVP, O(n p) for a net or O(nnz(X) K) for a linear model. Cost O(iters · n p · k) for
    k right-hand sides, memory O(p k). Accuracy knob: ``rtol`` (relative residual per column);
    the number of iterations grows with √cond(H + λI), so ``damping`` speeds it up (and is
    needed when H is indefinite, as for a net away from a minimum).

    With ``block=True`` (default) the k columns run as k independent CG recursions sharing one
    batched HVP per iteration (the same iterates as ``scipy.sparse.linalg.cg`` column by
    column; fewer, larger calls); ``block=False`` calls ``scipy.sparse.linalg.cg`` on a
    ``LinearOperator`` for each column. For torch models both reuse a traced linearisation of
    the gradient, which makes single HVPs nearly as cheap per vector as batched ones, so the
    two take about the same time there (benchmarks/README.md).

    For a torch model the block recursion runs in torch on the net's device (float64; a
    tensor ``V`` gives a tensor on that device, an ndarray an ndarray, moved once each way):
    memory O(p k) there (four p × k blocks), one scalar synchronisation per iteration, no
    p-sized copy to the host (``block=False`` runs scipy's CG on the host).

    Warns :class:`~skinfluence.exceptions.ConvergenceWarning` with the worst relative residual
    and a suggested ``damping`` when a column has not converged after ``maxiter`` iterations
    or meets non-positive curvature (H + λI not positive definite).

    Parameters
    ----------
    damping : float or "auto", default=0.0
        λ added to the diagonal of H; "auto": 1e-3 × trace(H)/p, estimated with 16
        Hutchinson probes.
    rtol : float, default=1e-6
        Stop a column when ``‖v − (H + λI) x‖ ≤ rtol ‖v‖``.
    maxiter : int, default=None
        Iterations per column; None: ``min(10 p, 1000)`` (in floating point CG may need more
        than p iterations on an ill-conditioned H).
    block : bool, default=True
        Batched recursion over the columns (True) or scipy's CG per column (False).

    See Also
    --------
    DirectSolver : Exact, for models small enough to form H.
    LissaSolver : Stochastic, minibatch Hessian products.
    ArnoldiSolver : Low rank, for many right-hand sides.

    Examples
    --------
    Multinomial logistic regression on iris, whose Hessian has a flat direction (the
    intercepts' common shift), solved on the gradients of three rows:

    >>> from sklearn import datasets, linear_model, preprocessing
    >>> from skinfluence.models import adapter_for
    >>> from skinfluence.inverse import ConjugateGradientSolver, DirectSolver
    >>> X, y = datasets.load_iris(return_X_y=True)
    >>> X = preprocessing.scale(X)
    >>> adapter = adapter_for(linear_model.LogisticRegression().fit(X, y))
    >>> G = adapter.gradients(X[:3], y[:3]).dense_rows(slice(None)).T
    >>> x = ConjugateGradientSolver(rtol=1e-10).fit(adapter, X, y).solve(G)
    >>> float(abs(x - DirectSolver().fit(adapter, X, y).solve(G)).max()) < 1e-8
    True
    """

    name = "cg"
    #: ``solve`` takes a torch tensor and returns one on its device (``inverse._backend``).
    accepts_tensors = True

    def __init__(self, damping=0.0, *, rtol=1e-6, maxiter=None, block=True):
        super().__init__(damping)
        if not (isinstance(rtol, (int, float)) and 0 < rtol < 1):
            raise ValueError(f"rtol must be a float in (0, 1); got {rtol!r}.")
        if maxiter is not None and (not isinstance(maxiter, (int, np.integer)) or maxiter < 1):
            raise ValueError(f"maxiter must be a positive integer or None; got {maxiter!r}.")
        self.rtol = rtol
        self.maxiter = maxiter
        self.block = block

    def fit(self, adapter, X, y, sample_weight=None):
        self.operator_ = _HessianOperator(adapter, X, y, sample_weight, 0.0)
        self.damping_ = self._resolve_damping(operator=self.operator_)
        self.operator_.damping = self.damping_
        self.n_params_ = adapter.n_params
        self.maxiter_ = self.maxiter or min(10 * self.n_params_, 1000)
        return self

    def solve(self, V):
        xp = self.operator_.backend
        Vb = xp.asarray(V)
        one_d = Vb.ndim == 1
        Vb = Vb.reshape(self.n_params_, -1)
        if self.block:
            X, residual, indefinite = self._block_cg(Vb)
        else:  # scipy's CG runs on the host: a tensor goes there and back
            X, residual, indefinite = self._scipy_cg(xp.to_numpy(Vb))
            X = xp.asarray(X)
        self.last_residual_ = residual
        if residual > self.rtol or indefinite:
            self._warn(residual, indefinite)
        return xp.like(V, X.reshape(-1) if one_d else X)

    def _scipy_cg(self, V):
        op = self.operator_.linear_operator()
        X = np.zeros_like(V)
        worst = 0.0
        for j in range(V.shape[1]):
            norm = np.linalg.norm(V[:, j])
            if norm == 0:
                continue
            X[:, j], _ = cg(op, V[:, j], rtol=self.rtol, atol=0.0, maxiter=self.maxiter_)
            res = np.linalg.norm(V[:, j] - op.matvec(X[:, j])) / norm
            worst = max(worst, res)
        return X, worst, False

    def _block_cg(self, V):
        """k independent CG recursions sharing one batched HVP per iteration."""
        matvec = self.operator_
        xp = matvec.backend  # numpy, or torch on the net's device: V is already there
        norms = xp.column_norms(V)
        norms[norms == 0] = 1.0
        X = xp.zeros(tuple(V.shape))
        R = xp.copy(V)
        P = xp.copy(R)
        rs = xp.column_dots(R, R)
        active = xp.sqrt(rs) > self.rtol * norms
        indefinite = False
        for _ in range(self.maxiter_):
            if not bool(active.any()):  # on a device: one scalar synchronisation
                break
            idx = xp.flatnonzero(active)
            if len(idx) == V.shape[1]:  # every column active: views, not gathered copies
                idx = slice(None)
            AP = matvec(P[:, idx])
            curvature = xp.column_dots(P[:, idx], AP)
            bad = curvature <= 0
            if bool(bad.any()):  # not positive definite along P: stop those columns
                indefinite = True
                if isinstance(idx, slice):
                    idx = xp.flatnonzero(active)
                active[idx[bad]] = False
                keep = ~bad
                idx, AP, curvature = idx[keep], AP[:, keep], curvature[keep]
            alpha = rs[idx] / curvature
            X[:, idx] += alpha * P[:, idx]
            R[:, idx] -= alpha * AP
            rs_new = xp.column_dots(R[:, idx], R[:, idx])
            P[:, idx] = R[:, idx] + (rs_new / rs[idx]) * P[:, idx]
            rs[idx] = rs_new
            active[idx] = xp.sqrt(rs_new) > self.rtol * norms[idx]
        residual = float((xp.sqrt(rs) / norms).max()) if V.shape[0] * V.shape[1] else 0.0
        return X, residual, indefinite

    def _warn(self, residual, indefinite):
        warn_not_converged(
            self, "CG", residual, indefinite, "or use method='direct' for small models"
        )


def warn_not_converged(solver, name, residual, indefinite, alternative):
    """The ConvergenceWarning of a CG-type solver: why it stopped and which damping would help."""
    smallest, mean = curvature_estimates(solver.operator_)
    suggestion = suggest_damping(
        solver.damping_, smallest_eigenvalue=smallest, mean_eigenvalue=mean
    )
    reason = (
        "met non-positive curvature (H + λI is not positive definite)"
        if indefinite
        else f"did not converge in {solver.maxiter_} iterations"
    )
    estimate = "" if smallest is None else f"; smallest eigenvalue of H + λI ≈ {smallest:.3g}"
    warnings.warn(
        f"{name} {reason}: worst relative residual {residual:.3g} (rtol={solver.rtol:g}, "
        f"damping={solver.damping_:g}){estimate}. Increase damping (e.g. "
        f"damping={suggestion:.2g}), raise maxiter, {alternative}.",
        ConvergenceWarning,
        stacklevel=4,
    )
