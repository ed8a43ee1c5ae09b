"""How ``InfluenceScorer(method="auto")`` chooses its inverse-Hessian solver.

By the memory the dense factorisation needs, and by the measured cost of each route next to
the accuracy it states, not by p alone (see :func:`plan_route`).
"""

from typing import NamedTuple

import numpy as np
import scipy.sparse as sp

from ..models import GeneralizedLinear
from ._pcg import _SOLVE_FLOPS_PER_NNZ, EXACT_SELF_INFLUENCE_FLOPS

#: Default ``memory_budget`` of ``method="auto"``: 1 GiB.
DEFAULT_MEMORY_BUDGET = 2**30
#: p × p float64 arrays the dense path holds at its peak: the Hessian, its scaled copy or
#: Cholesky factor, and the explicit inverse with its temporary.
DIRECT_COPIES = 4
#: Iterations assumed for one (preconditioned) CG solve in the cost comparison: probe
#: solves at rtol 1e-3 from the preconditioner's solution took 4–8 on sparse text-like data.
ASSUMED_CG_ITERATIONS = 10
#: Probes the cost model plans for pcg's self-influence estimate (its first batch; more are
#: added only while the stated correlation is below target).
PLANNED_PROBES = 16
#: Stated correlation pcg's estimate must reach when "auto" chooses it; below it the
#: scores come from the exact factorisation where that fits the memory budget, else a
#: warning says so.
TARGET_CORRELATION = 0.96
#: Non-linear models above the budget: CG while fit needs at most this many solves (one per
#: training row, for the self-influence scores), else Arnoldi.
AUTO_CG_MAX_SOLVES = 1000


def direct_bytes(n_params):
    """Peak memory of ``method="direct"``: ``DIRECT_COPIES × 8 p²`` bytes."""
    return DIRECT_COPIES * 8 * int(n_params) ** 2


def _mapped_nnz_per_row(adapter, X, n_samples, sample=256):
    """Non-zeros of a mapped feature row (with the intercept), from the first rows, and
    whether the mapped features are sparse."""
    try:
        head = X[:sample] if hasattr(X, "__getitem__") else X
        Xf = adapter.features(head)
    except Exception:  # a model without a feature map: dense rows
        return float(adapter.n_params), False
    rows = max(1, Xf.shape[0])
    nnz = Xf.nnz if sp.issparse(Xf) else np.count_nonzero(Xf)
    return nnz / rows + 1.0, sp.issparse(Xf)


class Rates(NamedTuple):
    """Flop rates of this machine for the cost model: dense BLAS and sparse × dense."""

    dense: float
    sparse: float


#: Flop rates of the cost model, measured on the 2-core development machine: OpenBLAS GEMM
#: (2 000³: 13–15 GFlop/s at load 12, more when idle) and scipy's CSR × dense with 64
#: columns at 5 M non-zeros (0.15 GFlop/s at load 12: memory-bound, single-threaded). Only
#: their ratio matters much: one sparse flop costs ~80 dense ones. Timing them at every fit
#: took 0.2–0.5 s on the loaded machine (more than a small model fit) and was noisy.
DEFAULT_RATES = Rates(dense=2e10, sparse=2.5e8)


#: Seconds of fixed work preconditioned CG adds to a fit (preconditioner head, probe
#: bookkeeping, the block iteration's Python loop): measured 4.6 ms above ``direct`` on a
#: 15-row, 3-class logistic regression (1.3 ms against 5.9 ms for fit, ``scores_`` and five
#: test rows), where the flop counts alone would pick pcg.
PCG_OVERHEAD = 5e-3


def route_costs(
    n_samples,
    n_params,
    nnz_row,
    n_outputs,
    rates,
    *,
    sparse_rows=True,
    estimated=None,
    probes=PLANNED_PROBES,
    iterations=ASSUMED_CG_ITERATIONS,
    n_head=64,
):
    """Seconds the exact factorisation and preconditioned CG take for fit + self-influence.

    * "direct": the Hessian from sparse rows (Σ nnz(x̃_i)² K² flops) and the every-row
      quadratic forms against the inverse (the same count), at the sparse rate; Cholesky
      and explicit inverse (p³ flops) at the dense rate.
    * "pcg": ``probes`` solves when rows are sparse (the estimator), else one per row
      (exact), each ``iterations`` products of 4 nnz(X̃) K flops (sparse or dense) plus the
      head-block preconditioner's 4 p (n_head + 1) dense flops, plus ``PCG_OVERHEAD``
      seconds of fixed work.

    Parameters
    ----------
    n_samples, n_params : int
        n and p.
    nnz_row : float
        Non-zeros of a mapped feature row, with the intercept.
    n_outputs : int
        K.
    rates : Rates
        Flop rates (``DEFAULT_RATES``).
    sparse_rows : bool, default=True
        Whether the features are sparse (the Hessian's products then at the sparse rate).
    estimated : bool, default=None
        Whether pcg estimates self-influence from probes (None: ``sparse_rows``), else
        solves every row.
    probes, iterations, n_head : int
        pcg's planned probes, iterations per solve and preconditioner head.

    Returns
    -------
    costs : dict
        ``{"direct": seconds, "pcg": seconds, "pcg_solve": seconds of one solve}``.

    Examples
    --------
    >>> from skinfluence.inverse._auto import Rates, route_costs
    >>> costs = route_costs(50_000, 5_001, 6.0, 1, Rates(dense=2e10, sparse=5e8))
    >>> round(costs["direct"], 1), round(costs["pcg"], 2)
    (6.3, 0.4)
    """
    n, p, K = float(n_samples), float(n_params), float(n_outputs)
    pairs = n * (nnz_row * K) ** 2
    direct = p**3 / rates.dense + 2 * pairs / (rates.sparse if sparse_rows else rates.dense)
    per_iteration = 4 * n * nnz_row * K / (rates.sparse if sparse_rows else rates.dense)
    if K == 1:
        per_iteration += 4 * p * (n_head + 1) / rates.dense
    solve = iterations * per_iteration
    solves = probes if (sparse_rows if estimated is None else estimated) else n
    return {"direct": direct, "pcg": PCG_OVERHEAD + solves * solve, "pcg_solve": solve}


class Plan(NamedTuple):
    """What ``method="auto"`` runs: the method, why, extra solver parameters, and whether
    pcg's self-influence falls back to the exact factorisation when its stated correlation
    stays below ``TARGET_CORRELATION``."""

    method: str
    reason: str
    solver_params: dict
    fallback_direct: bool


def plan_route(adapter, X, n_samples, memory_budget=DEFAULT_MEMORY_BUDGET, rates=None):
    """The route ``method="auto"`` takes, and why (see :func:`choose_method`).

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
    rates : Rates, default=None
        Flop rates; None: ``DEFAULT_RATES``.

    Returns
    -------
    plan : Plan
    """
    p = int(adapter.n_params)
    need = direct_bytes(p)
    glm = isinstance(adapter, GeneralizedLinear)
    fits = need <= memory_budget
    if not glm:
        if fits:
            return Plan("direct", f"the dense Hessian takes {need / 2**20:.0f} MiB", {}, False)
        over = f"the dense Hessian would take {need / 2**20:.0f} MiB > memory_budget"
        if n_samples <= AUTO_CG_MAX_SOLVES:
            return Plan("cg", over, {}, False)
        return Plan("arnoldi", over, {}, False)
    K = adapter.n_outputs
    nnz_row, sparse_rows = _mapped_nnz_per_row(adapter, X, n_samples)
    # pcg solves few rows exactly (PreconditionedCGSolver.self_influence): n solves then
    estimated = (
        sparse_rows
        and n_samples > PLANNED_PROBES
        and n_samples * _SOLVE_FLOPS_PER_NNZ * n_samples * nnz_row * K > EXACT_SELF_INFLUENCE_FLOPS
    )
    rates = DEFAULT_RATES if rates is None else rates
    costs = route_costs(
        n_samples, p, nnz_row, K, rates, sparse_rows=sparse_rows, estimated=estimated
    )
    what = (
        f"{PLANNED_PROBES} probe solves, self-influence estimated to a stated correlation "
        f"≥ {TARGET_CORRELATION} with the exact scores (scores_error_)"
        if estimated
        else f"{n_samples} exact solves"
    )
    if not fits:
        params = {"target_correlation": TARGET_CORRELATION} if estimated else {}
        return Plan(
            "pcg",
            f"the dense Hessian would take {need / 2**20:.0f} MiB > memory_budget: "
            f"preconditioned CG ({what}, ~{costs['pcg']:.2g} s planned)",
            params,
            False,
        )
    if costs["pcg"] < costs["direct"]:
        params = {}
        if estimated:
            # more probes only while they stay cheaper than the exact factorisation
            afford = int(costs["direct"] // max(costs["pcg_solve"], 1e-12))
            params = {
                "target_correlation": TARGET_CORRELATION,
                "max_probes": int(min(1024, max(2 * PLANNED_PROBES, afford))),
            }
        return Plan(
            "pcg",
            f"preconditioned CG (~{costs['pcg']:.2g} s planned: {what}) is cheaper than "
            f"factorising the dense Hessian (~{costs['direct']:.2g} s, "
            f"{need / 2**20:.0f} MiB)"
            + (
                "; if the probes do not reach that correlation, scores_ come from the "
                "exact factorisation"
                if estimated
                else ""
            ),
            params,
            estimated,
        )
    return Plan(
        "direct",
        f"the dense Hessian takes {need / 2**20:.0f} MiB and factorising it "
        f"(~{costs['direct']:.2g} s) is cheaper than preconditioned CG "
        f"(~{costs['pcg']:.2g} s: {what})",
        {},
        False,
    )


def choose_method(adapter, X, n_samples, memory_budget=DEFAULT_MEMORY_BUDGET, rates=None):
    """The solver ``method="auto"`` picks, and why.

    * Linear models (every :class:`~skinfluence.models.GeneralizedLinear`, also in a
      Pipeline): the cheaper of "direct" (exact; only while its dense p × p arrays fit
      ``memory_budget``, :func:`direct_bytes`) and "pcg" (preconditioned block CG, exact to
      its tolerance for test rows), by :func:`route_costs` at measured flop rates
      (``DEFAULT_RATES``). On sparse rows pcg estimates self-influence from a few probe
      solves, with a standard error and a stated correlation with the exact scores that
      must reach 0.96 (probes are added until it does); where it does not within the
      factorisation's cost, the exact factorisation computes ``scores_`` instead, or, above
      the memory budget, a warning says so. On dense rows pcg's self-influence takes one
      exact solve per row.
    * Other models: "direct" while it fits the budget, else "cg" while n ≤ 1 000 (one solve
      per row), else "arnoldi" (rank 200), whose self-influence is a low-rank approximation
      of unknown error (it agreed with the exact one at Pearson 0.26 on sparse linear
      data): the scorer warns when it picks it.

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
    rates : Rates, default=None
        Flop rates; None: ``DEFAULT_RATES`` (this machine's, measured).

    Returns
    -------
    method : str
    reason : str
        One sentence, for messages.

    Examples
    --------
    >>> import scipy.sparse as sp
    >>> from sklearn.linear_model import LogisticRegression
    >>> from skinfluence.inverse._auto import Rates, choose_method
    >>> from skinfluence.models import adapter_for
    >>> X = sp.random(2000, 300, density=0.01, format="csr", random_state=0)
    >>> y = (X.sum(axis=1).A1 > 0.01).astype(int)
    >>> adapter = adapter_for(LogisticRegression().fit(X, y))
    >>> rates = Rates(dense=2e10, sparse=5e8)
    >>> choose_method(adapter, X, 2000, rates=rates)[0]
    'direct'
    >>> choose_method(adapter, X, 2000, memory_budget=10**6, rates=rates)[0]
    'pcg'
    """
    plan = plan_route(adapter, X, n_samples, memory_budget, rates)
    return plan.method, plan.reason
