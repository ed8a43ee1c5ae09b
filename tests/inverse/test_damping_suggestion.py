"""The ``damping`` each solver's warning suggests: larger than what failed, one rule for all.

The rule lives in ``skinfluence/inverse/_damping.py``: ``max(10 λ, λ − 2 μ, 1e-3 s̄)`` with μ
the smallest and s̄ the mean eigenvalue of H + λI.
"""

import re
import warnings

import numpy as np
import pytest

from skinfluence.exceptions import ConvergenceWarning, IllConditionedHessianWarning
from skinfluence.inverse import ArnoldiSolver, ConjugateGradientSolver, DirectSolver, LissaSolver
from skinfluence.inverse._damping import suggest_damping
from skinfluence.models import adapter_for

SOLVERS = {
    "direct": lambda damping: DirectSolver(damping=damping),
    "cg": lambda damping: ConjugateGradientSolver(damping=damping),
    "lissa": lambda damping: LissaSolver(damping=damping, depth=300),
    "arnoldi": lambda damping: ArnoldiSolver(damping=damping, rank=10),
}
WARNINGS = (ConvergenceWarning, IllConditionedHessianWarning)


def _suggested(solver, adapter, X, y, V):
    """The damping named in the solver's warning ("e.g. damping=…"), parsed from the text."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        solver.fit(adapter, X, y).solve(V)
    messages = [str(w.message) for w in caught if issubclass(w.category, WARNINGS)]
    assert messages, f"{type(solver).__name__} did not warn"
    found = re.findall(r"e\.g\. damping=([-+0-9.eE]+)\)", " ".join(messages))
    assert len(found) == 1, messages
    return float(found[0])


@pytest.fixture(scope="module")
def untrained_net():
    """An untrained 4-5-3 tanh MLP (p = 43): H has eigenvalues from -14.8 to 40.3."""
    torch = pytest.importorskip("torch")
    nn = torch.nn
    from skinfluence.models import TorchModule

    torch.manual_seed(0)
    module = nn.Sequential(nn.Linear(4, 5), nn.Tanh(), nn.Linear(5, 3))
    rng = np.random.RandomState(0)
    X, y = rng.randn(60, 4), rng.randint(0, 3, 60)
    adapter = adapter_for(TorchModule(module, nn.CrossEntropyLoss(), classes=[0, 1, 2]))
    V = adapter.gradients(X[:5], y[:5]).dense_rows(slice(None)).T
    return adapter, X, y, V


@pytest.mark.parametrize("damping", [0.0, 1.0, 5.0])
def test_every_solver_suggests_a_larger_damping_and_the_same_one(untrained_net, damping):
    adapter, X, y, V = untrained_net
    evals = np.linalg.eigvalsh(adapter.hessian(X, y))
    assert evals[0] + damping < 0  # H + λI indefinite at every damping tried here
    suggested = {
        name: _suggested(make(damping), adapter, X, y, V) for name, make in SOLVERS.items()
    }
    assert all(value > damping for value in suggested.values()), suggested
    # p = 43: direct, CG and LiSSA all know μ and s̄ exactly (CG and LiSSA from p products),
    # so they suggest the same number up to the message's 2 digits.
    expected = suggest_damping(
        damping, smallest_eigenvalue=evals[0] + damping, mean_eigenvalue=evals.mean() + damping
    )
    for name in ("direct", "cg", "lissa", "arnoldi"):
        # Arnoldi knows the top-10 eigenvalues by magnitude (μ = -14.8 is among them) but not
        # s̄; the λ − 2μ term dominates here, so it agrees as well. Factor 1.05: rounding to
        # the message's 2 significant digits.
        assert expected / 1.05 <= suggested[name] <= expected * 1.05, (name, suggested)


def test_the_suggested_damping_makes_the_warning_go_away(untrained_net):
    adapter, X, y, V = untrained_net
    suggested = _suggested(DirectSolver(damping=1.0), adapter, X, y, V)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for solver in (DirectSolver(damping=suggested), ConjugateGradientSolver(damping=suggested)):
            solver.fit(adapter, X, y).solve(V)


class _Diagonal:
    """A toy adapter whose Hessian is diag(d): an indefinite problem with a known spectrum."""

    def __init__(self, d):
        self.d = np.asarray(d, float)
        self.n_params = len(self.d)

    def null_space(self):
        return None

    def hvp(self, X, y, V, sample_weight=None):
        return self.d[:, None] * V

    def hvp_operator(self, X, y, sample_weight=None):
        return lambda V: self.hvp(X, y, V, sample_weight)

    def hessian(self, X, y, sample_weight=None):
        return np.diag(self.d)


@pytest.mark.parametrize("damping", [0.0, 0.3])
def test_cg_estimates_the_spectrum_beyond_the_dense_size(damping):
    # p = 600 > 200: CG estimates μ with a few Lanczos restarts and s̄ from 4 random Rayleigh
    # quotients, where direct reads both off the eigendecomposition.
    rng = np.random.RandomState(0)
    adapter = _Diagonal(np.linspace(-2.0, 10.0, 600))
    X, y = np.zeros((1, 1)), np.zeros(1)
    V = rng.randn(600, 3)
    cg = _suggested(ConjugateGradientSolver(damping=damping), adapter, X, y, V)
    direct = _suggested(DirectSolver(damping=damping), adapter, X, y, V)
    assert cg > damping and direct > damping
    # Lanczos (tol 1e-2) finds μ to within 1%; the λ − 2μ term dominates: within 5%.
    assert direct / 1.05 <= cg <= direct * 1.05, (cg, direct)


def test_the_rule_is_larger_than_what_failed():
    for damping in (0.0, 1e-6, 1.0, 1e3):
        for smallest in (None, -5.0, 0.0, 1e-12, 2.0):
            value = suggest_damping(damping, smallest_eigenvalue=smallest, mean_eigenvalue=3.0)
            assert value > damping
    assert suggest_damping(1.0, smallest_eigenvalue=-13.8) == pytest.approx(28.6)
