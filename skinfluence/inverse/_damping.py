"""The ``damping`` a solver's warning suggests: one rule for every solver.

When a solve at damping λ fails (H + λI indefinite, singular or too ill-conditioned for the
solver), the warning suggests

    λ' = max(10 λ, λ − 2 μ, 1e-3 s̄)

where μ is the smallest eigenvalue of H + λI and s̄ = trace(H + λI) / p its mean eigenvalue
(the curvature's scale). Each term is larger than what failed: 10 λ for λ > 0; λ − 2 μ moves
the smallest eigenvalue to |μ| > 0 when μ < 0 (the factor 2 leaves room for an estimate of μ
that is too small in magnitude, as Krylov estimates are); 1e-3 s̄ > 0 for λ = 0 on a singular
H. ``direct`` knows μ and s̄ exactly; the matrix-free solvers estimate them with the same
Hessian-vector products they solve with (:func:`curvature_estimates`), so on the same model
every solver suggests the same λ' up to the estimates' error.
"""

import numpy as np
from scipy.sparse.linalg import ArpackError, ArpackNoConvergence, eigsh

#: ``damping="auto"`` is this fraction of the curvature's mean eigenvalue trace(C)/p (the
#: same fraction as the last term of the suggestion rule below).
AUTO_DAMPING_FRACTION = 1e-3
#: Rademacher probes of the Hutchinson estimate of trace(C)/p where C is not formed.
TRACE_PROBES = 16

#: At most this many parameters: μ and s̄ from the dense H + λI (p HVPs, exact).
_DENSE_MAX_PARAMS = 200
#: ARPACK restarts for μ beyond that (each ~20 HVPs): a rough μ is enough for a suggestion.
_LANCZOS_MAX_RESTARTS = 30


def suggest_damping(damping, *, smallest_eigenvalue=None, mean_eigenvalue=None):
    """``max(10 λ, λ − 2 μ, 1e-3 s̄)``: a damping larger than ``damping`` (module docstring).

    Parameters
    ----------
    damping : float
        λ, the damping that failed.
    smallest_eigenvalue : float or None
        μ, the smallest eigenvalue of H + λI; None when unknown (its term is left out).
    mean_eigenvalue : float or None
        s̄ = trace(H + λI) / p; None when unknown (its term is left out).

    Returns
    -------
    float
        The suggested damping, > ``damping`` (> 0 when ``damping`` is 0 and either μ < 0 or
        s̄ ≠ 0).
    """
    candidates = [10.0 * damping]
    if smallest_eigenvalue is not None and np.isfinite(smallest_eigenvalue):
        candidates.append(damping - 2.0 * smallest_eigenvalue)
    if mean_eigenvalue is not None and np.isfinite(mean_eigenvalue):
        candidates.append(1e-3 * abs(mean_eigenvalue))
    return float(max(candidates))


def auto_damping(mean_eigenvalue):
    """``damping="auto"``: ``AUTO_DAMPING_FRACTION × trace(C)/p`` (0 for C ≤ 0 on average).

    Parameters
    ----------
    mean_eigenvalue : float
        trace(C)/p of the curvature C (Hessian or Gauss–Newton, penalty included, before
        damping).

    Returns
    -------
    float
        The damping λ ≥ 0: about a thousandth of the curvature's scale, so that ``C + λI``
        is positive definite when C is positive semi-definite (a Gauss–Newton matrix) while
        changing the solve by about 1e-3 relative in the directions of average curvature.
    """
    return float(AUTO_DAMPING_FRACTION * max(float(mean_eigenvalue), 0.0))


def hutchinson_mean_eigenvalue(operator, n_probes=TRACE_PROBES, seed=0):
    """trace(C)/p from ``n_probes`` Rademacher vectors z: mean of zᵀCz / p (Hutchinson 1989).

    ``operator`` is a solver's ``_HessianOperator`` (its damping not yet set);
    ``operator.n_products`` is left as it was. Relative error about
    ``sqrt(2 Σ_{i≠j} C_ij² / n_probes) / trace(C)``: a few percent to tens of percent, enough
    to set a scale.
    """
    p = operator.n_params
    before = operator.n_products
    Z = np.random.default_rng(seed).choice([-1.0, 1.0], size=(p, n_probes))
    try:
        return float(np.einsum("ij,ij->", Z, operator(Z)) / (n_probes * p))
    finally:
        operator.n_products = before


def curvature_estimates(operator, n_probes=4, seed=0):
    """(μ, s̄) of the operator's ``H + λI``, from its products; ``operator.n_products`` is
    left as it was (these products are for the message, not the solve).

    Up to ``_DENSE_MAX_PARAMS`` parameters both come from the dense matrix (p products).
    Beyond, μ comes from a few Lanczos restarts (ARPACK, ``which="SA"``; None if none
    converged) and s̄ from the Rayleigh quotients of ``n_probes`` random unit vectors
    (their mean is trace/p). Cached on the operator, which each ``fit`` builds anew.
    """
    cached = getattr(operator, "curvature_estimates_", None)
    if cached is not None:  # a solver warns on every failing solve: estimate once per fit
        return cached
    operator.curvature_estimates_ = _estimate(operator, n_probes, seed)
    return operator.curvature_estimates_


def _estimate(operator, n_probes, seed):
    p = operator.n_params
    before = operator.n_products
    try:
        if p <= _DENSE_MAX_PARAMS:
            A = operator(np.eye(p))
            evals = np.linalg.eigvalsh((A + A.T) / 2)
            return float(evals[0]), float(evals.mean())
        V = np.random.default_rng(seed).standard_normal((p, n_probes))
        V /= np.linalg.norm(V, axis=0)
        mean = float(np.mean(np.einsum("ij,ij->j", V, operator(V))))
        try:
            smallest = eigsh(
                operator.linear_operator(),
                k=1,
                which="SA",
                tol=1e-2,
                maxiter=_LANCZOS_MAX_RESTARTS,
                v0=np.ones(p),
            )[0][0]
        except ArpackNoConvergence as error:
            smallest = error.eigenvalues[0] if len(error.eigenvalues) else None
        except ArpackError:
            smallest = None
        return (None if smallest is None else float(smallest)), mean
    finally:
        operator.n_products = before
