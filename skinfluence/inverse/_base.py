"""Inverse-Hessian solvers: apply ``(H + λI)⁻¹`` to a block of vectors.

A solver is fitted on an adapter and the training data, then ``solve(V)`` returns
``(H + λI)⁻¹ V`` for V of shape (p, k). ``H`` is the Hessian of the training objective in the
sum form of :mod:`skinfluence.models._base`. Exact flat directions reported by the adapter's
``null_space`` are handled by solving with ``H + B Bᵀ`` (exact on their complement, where all
per-sample gradients live).
"""

import contextlib
from abc import ABC, abstractmethod

from .._validation import check_damping


class InverseHessianSolver(ABC):
    """Base class: ``fit(adapter, X, y, sample_weight)`` then ``solve(V)``.

    Parameters
    ----------
    damping : float, default=0.0
        λ ≥ 0 added to the diagonal of H.
    """

    #: Name used by ``InfluenceScorer(method=...)``.
    name = None

    def __init__(self, damping=0.0):
        self.damping = check_damping(damping)

    @abstractmethod
    def fit(self, adapter, X, y, sample_weight=None):
        """Prepare to solve with the Hessian of ``adapter``'s objective on (X, y)."""

    @abstractmethod
    def solve(self, V):
        """``(H + λI)⁻¹ V``, V of shape (p, k) → (p, k)."""


_SOLVERS = {}


def register_solver(cls):
    """Class decorator adding a solver to the registry under ``cls.name``.

    Every registered solver is checked against ``direct`` by
    ``tests/inverse/test_solver_common.py``, which states its settings and tolerance there.
    """
    _SOLVERS[cls.name] = cls
    return cls


def unregister_solver(name):
    """Remove and return the solver registered as ``name`` (KeyError if there is none)."""
    return _SOLVERS.pop(name)


@contextlib.contextmanager
def registered_solver(cls):
    """Context manager: :func:`register_solver` for the ``with`` block, then restore the
    registry as it was (for tests)."""
    previous = _SOLVERS.get(cls.name)
    register_solver(cls)
    try:
        yield cls
    finally:
        if previous is None:
            _SOLVERS.pop(cls.name, None)
        else:
            _SOLVERS[cls.name] = previous


def available_methods():
    """Names accepted by ``InfluenceScorer(method=...)`` (besides "auto")."""
    return sorted(_SOLVERS)


def make_solver(method, *, damping=0.0, **params):
    """Instantiate the solver registered as ``method``."""
    if method not in _SOLVERS:
        raise ValueError(
            f"Unknown method {method!r}; choose one of {['auto', *available_methods()]}."
        )
    return _SOLVERS[method](damping=damping, **params)
