"""Identity in place of the Hessian: gradient similarity (``method="identity"``)."""

from ._base import InverseHessianSolver, register_solver
from ._docstrings import with_shared_docstrings


@register_solver
@with_shared_docstrings
class IdentitySolver(InverseHessianSolver):
    """Replace H by the identity: ``solve(V) = V / (1 + damping)`` (``method="identity"``).

    Influence then is the gradient inner product ``w_i ∇ℓ(z_t) · ∇ℓ(z_i)``, the "gradient
    similarity" (Charpiat et al. 2019) and one term of TracIn (Pruthi et al. 2020, see
    :class:`~skinfluence.TracInScorer`). It is not in leave-one-out units: use it to rank.
    Cost: O(p k) per block, nothing at fit. No accuracy knob (it is not an approximation of
    H⁻¹ but a different score).

    Parameters
    ----------
    damping : float or "auto", default=0.0
        λ: the solve divides by 1 + λ ("auto": 0, there is no curvature to scale).

    See Also
    --------
    skinfluence.TracInScorer : Gradient similarity along the training trajectory.
    DirectSolver : The exact inverse Hessian.

    References
    ----------
    Charpiat, G., Girard, N., Felardos, L. & Tarabalka, Y. (2019). Input similarity from the
    neural network perspective. NeurIPS.

    Examples
    --------
    >>> import numpy as np
    >>> from skinfluence.inverse import IdentitySolver
    >>> IdentitySolver().fit(None, None, None).solve(np.ones((2, 1))).ravel().tolist()
    [1.0, 1.0]
    """

    name = "identity"
    #: ``solve`` takes a torch tensor and returns one on its device (``inverse._backend``).
    accepts_tensors = True

    def fit(self, adapter, X, y, sample_weight=None):
        self.n_params_ = None if adapter is None else adapter.n_params
        self.damping_ = self._resolve_damping(mean_eigenvalue=0.0)
        return self

    def solve(self, V):
        return V / (1.0 + self.damping_)
