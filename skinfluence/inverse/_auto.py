"""How ``InfluenceScorer(method="auto")`` chooses its inverse-Hessian solver.

By the memory the dense factorisation needs and its cost next to the alternative, not by p
alone (see :func:`choose_method`).
"""

import numpy as np
import scipy.sparse as sp

from ..models import GeneralizedLinear

#: Default ``memory_budget`` of ``method="auto"``: 1 GiB.
DEFAULT_MEMORY_BUDGET = 2**30
#: p × p float64 arrays the dense path holds at its peak: the Hessian, its scaled copy or
#: Cholesky factor, and the explicit inverse with its temporary.
DIRECT_COPIES = 4
#: Iterations assumed for one (preconditioned) CG solve in the cost comparison.
ASSUMED_CG_ITERATIONS = 30
#: Non-linear models above the budget: CG while fit needs at most this many solves (one per
#: training row, for the self-influence scores), else Arnoldi.
AUTO_CG_MAX_SOLVES = 1000


def direct_bytes(n_params):
    """Peak memory of ``method="direct"``: ``DIRECT_COPIES × 8 p²`` bytes."""
    return DIRECT_COPIES * 8 * int(n_params) ** 2


def _mapped_nnz_per_row(adapter, X, n_samples, sample=256):
    """Non-zeros of a mapped feature row (with the intercept), from the first rows."""
    try:
        head = X[:sample] if hasattr(X, "__getitem__") else X
        Xf = adapter.features(head)
    except Exception:  # a model without a feature map: dense rows
        return float(adapter.n_params)
    rows = max(1, Xf.shape[0])
    nnz = Xf.nnz if sp.issparse(Xf) else np.count_nonzero(Xf)
    return nnz / rows + 1.0


def choose_method(adapter, X, n_samples, memory_budget=DEFAULT_MEMORY_BUDGET):
    """The solver ``method="auto"`` picks, and why.

    * "direct" (exact) while its dense p × p arrays fit ``memory_budget``
      (:func:`direct_bytes`) and, for a linear model, factorising and inverting (≈ p³ flops
      plus Σ_i nnz(x̃_i)² K² to form H) is cheaper than the n exact solves it replaces
      (n × 30 iterations × 4 nnz(X̃) K flops by preconditioned CG);
    * otherwise, for a linear model (also in a Pipeline), "pcg": preconditioned block CG,
      exact to its tolerance for test rows, and self-influence estimated with a stated
      standard error (:class:`~skinfluence.inverse.PreconditionedCGSolver`);
    * otherwise "cg" while n ≤ 1 000 (one solve per row), else "arnoldi" (rank 200), whose
      self-influence is a low-rank approximation of unknown error (it agreed with the exact
      one at Pearson 0.26 on sparse linear data): the scorer warns when it picks it.

    Parameters
    ----------
    adapter : ModelAdapter
        The fitted model's adapter.
    X : array-like
        Training rows (the first 256 are mapped to measure the features' sparsity).
    n_samples : int
        Training rows.
    memory_budget : int, default=2**30
        Bytes the dense path may take.

    Returns
    -------
    method : str
    reason : str
        One sentence, for messages.

    Examples
    --------
    >>> import scipy.sparse as sp
    >>> from sklearn.linear_model import LogisticRegression
    >>> from skinfluence.inverse._auto import choose_method
    >>> from skinfluence.models import adapter_for
    >>> X = sp.random(2000, 300, density=0.01, format="csr", random_state=0)
    >>> y = (X.sum(axis=1).A1 > 0.01).astype(int)
    >>> adapter = adapter_for(LogisticRegression().fit(X, y))
    >>> choose_method(adapter, X, 2000)[0]
    'direct'
    >>> choose_method(adapter, X, 2000, memory_budget=10**6)[0]
    'pcg'
    """
    p = int(adapter.n_params)
    need = direct_bytes(p)
    glm = isinstance(adapter, GeneralizedLinear)
    if need <= memory_budget:
        if not glm:
            return "direct", f"the dense Hessian takes {need / 2**20:.0f} MiB"
        K = adapter.n_outputs
        nnz_row = _mapped_nnz_per_row(adapter, X, n_samples)
        direct_flops = float(p) ** 3 + n_samples * (nnz_row * K) ** 2
        solves_flops = n_samples * ASSUMED_CG_ITERATIONS * 4.0 * n_samples * nnz_row * K
        if direct_flops <= solves_flops:
            return "direct", (
                f"the dense Hessian takes {need / 2**20:.0f} MiB and factorising it "
                f"(~{direct_flops:.2g} flops) is cheaper than {n_samples} solves"
            )
        return "pcg", (
            f"{n_samples} preconditioned CG solves (~{solves_flops:.2g} flops) are cheaper "
            f"than factorising the dense Hessian (~{direct_flops:.2g} flops)"
        )
    over = f"the dense Hessian would take {need / 2**20:.0f} MiB > memory_budget"
    if glm:
        return "pcg", over
    if n_samples <= AUTO_CG_MAX_SOLVES:
        return "cg", over
    return "arnoldi", over
