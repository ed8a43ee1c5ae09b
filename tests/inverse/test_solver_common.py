"""Every registered inverse-Hessian solver against ``direct`` on the same curvature.

Solvers are discovered from the registry (``available_methods()``); each one's settings and
tolerance are stated in ``SOLVER_SETTINGS`` below, and a registered solver without an entry
fails ``test_every_registered_solver_has_settings``. ``identity`` is not an approximation of
``direct``: its reference is the solve with H = I. Solver-specific behaviour (iterates,
warnings, minibatches, torch products) is in ``test_solvers.py``.
"""

import warnings
from dataclasses import dataclass, field

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from skinfluence.exceptions import ConvergenceWarning
from skinfluence.inverse import (
    DirectSolver,
    InverseHessianSolver,
    available_methods,
    make_solver,
    registered_solver,
)
from skinfluence.models import adapter_for


@dataclass(frozen=True)
class SolverSettings:
    """How one solver is run and how close it must come to its reference.

    ``params(p)`` gives the solver's keyword arguments for p parameters; the result must
    satisfy ``|approx − exact| ≤ rtol |exact| + atol · max|exact|``; ``reference`` is
    "dense" (numpy on the dense Hessian: for ``direct`` itself), "direct" or "identity";
    ``problems`` the curvatures it is run on (a solver for one kind of model names its own).
    """

    damping: float
    rtol: float
    atol: float
    params: object = field(default=lambda p: {})
    reference: str = "direct"
    why: str = ""
    problems: tuple = ("wine", "breast-cancer-weighted", "torch-linear-regression")


SOLVER_SETTINGS = {
    "direct": [
        SolverSettings(
            0.01, 1e-9, 1e-12, reference="dense", why="Cholesky of H + BBᵀ + λI, cond ~1e3"
        )
    ],
    "cg": [
        SolverSettings(
            0.01,
            1e-6,
            1e-8,
            params=lambda p, block=block: {"rtol": 1e-10, "block": block},
            why="residual 1e-10 at cond(H) ~1e3: solution error ≲ 1e-7 relative",
        )
        for block in (True, False)
    ],
    "pcg": [
        SolverSettings(
            0.01,
            1e-6,
            1e-8,
            params=lambda p: {"rtol": 1e-10},
            why="residual 1e-10 at cond(H) ~1e3 (linear models preconditioned; torch plain CG)",
        )
    ],
    "arnoldi": [
        SolverSettings(
            0.1,
            1e-8,
            1e-12,
            params=lambda p: {"rank": p},
            why="full rank: the eigendecomposition is exact",
        )
    ],
    "lissa": [
        SolverSettings(
            1.0,
            1e-5,
            1e-6,
            params=lambda p: {"depth": 3000},
            why="full batch, deterministic: error (1 − λmin/scale)^depth below 1e-6 here",
        )
    ],
    "identity": [
        SolverSettings(1.0, 1e-15, 0.0, reference="identity", why="H replaced by I: V/(1 + λ)")
    ],
    # K-FAC needs layers to factor (torch nets); a single linear layer under squared error
    # has G = Σ_i I ⊗ ã_i ã_iᵀ = S ⊗ A exactly, so both agree with direct to rounding.
    **{
        method: [
            SolverSettings(
                0.01,
                1e-8,
                1e-12,
                problems=("torch-linear-regression", "torch-conv-regression"),
                why="S ⊗ A is the exact Gauss–Newton matrix (= Hessian) of one linear layer "
                "(a Conv2d with a 1×1 output is one)",
            )
        ]
        for method in ("kfac", "ekfac")
    },
}


@pytest.fixture(scope="module")
def problems(wine, breast_cancer):
    """Small curvatures: multinomial with intercept (a flat direction, handled by BBᵀ) and a
    weighted, strongly penalised binary model."""
    X, y = wine
    wine_adapter = adapter_for(LogisticRegression(C=1.0, tol=1e-10, max_iter=10_000).fit(X, y))
    Xb, yb = breast_cancer[0][:120], breast_cancer[1][:120]
    sw = np.random.RandomState(0).uniform(0.5, 2.0, len(yb))
    binary = adapter_for(LogisticRegression(C=0.1).fit(Xb, yb, sample_weight=sw))
    torch = pytest.importorskip("torch")
    from skinfluence.models import TorchModule

    rng = np.random.default_rng(0)
    Xr = rng.normal(size=(60, 4))
    Yr = Xr @ rng.normal(size=(4, 2)) + 0.1 * rng.normal(size=(60, 2))
    torch.manual_seed(0)
    linear = TorchModule(torch.nn.Linear(4, 2), torch.nn.MSELoss(), weight_decay=0.01)
    rc = np.random.default_rng(1)
    Xc = rc.normal(size=(60, 2, 3, 3))
    Yc = Xc.reshape(60, -1) @ rc.normal(size=(18, 2))
    conv = torch.nn.Sequential(torch.nn.Conv2d(2, 2, 3), torch.nn.Flatten())
    conv = TorchModule(conv, torch.nn.MSELoss(), weight_decay=0.01)
    return {
        "wine": (wine_adapter, X, y, None),
        "breast-cancer-weighted": (binary, Xb, yb, sw),
        "torch-linear-regression": (adapter_for(linear), Xr, Yr, rng.uniform(0.5, 2.0, 60)),
        "torch-conv-regression": (adapter_for(conv), Xc, Yc, rc.uniform(0.5, 2.0, 60)),
    }


def solver_cases():
    """``(method, settings)`` for every registered solver: what the tests are run with."""
    for method in available_methods():
        for i, settings in enumerate(SOLVER_SETTINGS.get(method, ())):
            yield pytest.param(method, settings, id=f"{method}-{i}")


def problem_cases():
    """``(problem, method, settings)``: every solver on each of its problems."""
    for case in solver_cases():
        method, settings = case.values
        for problem in settings.problems:
            yield pytest.param(problem, method, settings, id=f"{problem}-{case.id}")


def _reference(settings, adapter, X, y, sw, V):
    if settings.reference == "identity":
        return np.linalg.solve((1.0 + settings.damping) * np.eye(adapter.n_params), V)
    if settings.reference == "dense":
        H = adapter.hessian(X, y, sample_weight=sw)
        B = adapter.null_space()
        if B is not None:
            H = H + B @ B.T
        return np.linalg.solve(H + settings.damping * np.eye(len(H)), V)
    return DirectSolver(damping=settings.damping).fit(adapter, X, y, sw).solve(V)


def check_solver_agrees_with_reference(method, settings, adapter, X, y, sw):
    V = adapter.gradients(X[:10], y[:10]).dense_rows(slice(None)).T
    exact = _reference(settings, adapter, X, y, sw, V)
    solver = make_solver(method, damping=settings.damping, **settings.params(adapter.n_params))
    assert isinstance(solver, InverseHessianSolver) and solver.name == method
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)  # converging settings: silent
        assert solver.fit(adapter, X, y, sample_weight=sw) is solver
        approx = solver.solve(V)
    assert approx.shape == V.shape
    np.testing.assert_allclose(
        approx, exact, rtol=settings.rtol, atol=settings.atol * np.abs(exact).max()
    )
    one = solver.solve(V[:, :1])  # one column, the same numbers
    np.testing.assert_allclose(one, approx[:, :1], rtol=1e-6, atol=1e-9 * np.abs(exact).max())


@pytest.mark.parametrize(("problem", "method", "settings"), list(problem_cases()))
def test_solver_agrees_with_reference(problems, problem, method, settings):
    check_solver_agrees_with_reference(method, settings, *problems[problem])


def test_every_registered_solver_has_settings():
    missing = sorted(set(available_methods()) - set(SOLVER_SETTINGS))
    assert not missing, f"registered without SOLVER_SETTINGS in the common tests: {missing}"


@pytest.mark.parametrize("method", available_methods())
def test_solver_rejects_negative_damping(method):
    with pytest.raises(ValueError, match="damping"):
        make_solver(method, damping=-1.0)


class _EigenSolver(InverseHessianSolver):
    """A tiny new solver: (H + BBᵀ + λI)⁻¹ from the eigendecomposition of the dense H."""

    name = "eigen-test"

    def fit(self, adapter, X, y, sample_weight=None):
        H = adapter.hessian(X, y, sample_weight=sample_weight)
        B = adapter.null_space()
        if B is not None:
            H = H + B @ B.T
        self.eigenvalues_, self.eigenvectors_ = np.linalg.eigh(H + self.damping * np.eye(len(H)))
        return self

    def solve(self, V):
        Q = self.eigenvectors_
        return Q @ ((Q.T @ V) / self.eigenvalues_[:, None])


def test_a_newly_registered_solver_is_picked_up_by_the_common_tests(problems):
    settings = SolverSettings(0.01, 1e-8, 1e-12, why="exact up to eigh's rounding")
    SOLVER_SETTINGS[_EigenSolver.name] = [settings]
    try:
        with registered_solver(_EigenSolver):
            assert _EigenSolver.name in available_methods()
            picked = [c.values for c in solver_cases() if c.values[0] == _EigenSolver.name]
            assert picked == [(_EigenSolver.name, settings)]
            for problem in settings.problems:
                check_solver_agrees_with_reference(_EigenSolver.name, settings, *problems[problem])
        assert _EigenSolver.name not in available_methods()
        with registered_solver(_EigenSolver):
            del SOLVER_SETTINGS[_EigenSolver.name]
            with pytest.raises(AssertionError, match=_EigenSolver.name):
                test_every_registered_solver_has_settings()
    finally:
        SOLVER_SETTINGS.pop(_EigenSolver.name, None)
