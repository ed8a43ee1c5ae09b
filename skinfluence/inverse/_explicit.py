"""The explicit inverse ``(H + λI)⁻¹`` of a fitted :class:`DirectSolver`."""

import numpy as np
from scipy.linalg import lapack

from .._utils._symmetric import mirror_triangle


def explicit_inverse(solver):
    """Return the dense ``(H + λI)⁻¹`` (C order) a fitted solver applies.

    From a :class:`~skinfluence.inverse.DirectSolver`'s Cholesky factor by LAPACK's
    ``potri`` (about 2p³/3 flops, a third of the 2p³ of solving against the identity),
    else ``solver.solve(I)``. O(p²) time and memory beyond that.

    Parameters
    ----------
    solver : InverseHessianSolver
        Fitted.

    Returns
    -------
    inverse : ndarray of shape (p, p)
        Symmetric.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.datasets import load_diabetes
    >>> from sklearn.linear_model import Ridge
    >>> from skinfluence.inverse import DirectSolver
    >>> from skinfluence.inverse._explicit import explicit_inverse
    >>> from skinfluence.models import adapter_for
    >>> X, y = load_diabetes(return_X_y=True)
    >>> adapter = adapter_for(Ridge().fit(X, y))
    >>> solver = DirectSolver().fit(adapter, X, y)
    >>> inverse = explicit_inverse(solver)
    >>> bool(np.allclose(inverse, solver.solve(np.eye(adapter.n_params))))
    True
    """
    factor = getattr(solver, "cholesky_", None)
    if factor is None:
        p = solver.n_params_
        return np.ascontiguousarray(solver.solve(np.eye(p)))
    c, lower = factor
    inv, info = lapack.dpotri(c, lower=lower)
    if info != 0:  # pragma: no cover - the factor was checked in fit
        return np.ascontiguousarray(solver.solve(np.eye(solver.n_params_)))
    # potri fills one triangle; then undo the solver's diagonal scaling
    mirror_triangle(inv, lower=lower)
    s = 1.0 / solver.scale_
    inv *= s[:, None]
    inv *= s[None, :]
    return np.ascontiguousarray(inv)
