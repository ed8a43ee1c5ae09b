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
from ._damping import auto_damping, hutchinson_mean_eigenvalue
from ._docstrings import with_shared_docstrings


@with_shared_docstrings
class InverseHessianSolver(ABC):
    """Base class of the solvers: ``fit(adapter, X, y, sample_weight)`` then ``solve(V)``.

    A subclass sets ``name`` (the ``InfluenceScorer(method=...)`` it answers to), writes
    ``fit`` and ``solve`` and is added to the registry with :func:`register_solver`.

    Parameters
    ----------
    damping : float or "auto", default=0.0
        λ ≥ 0 added to the diagonal of H; "auto": ``1e-3 × trace(H)/p``, exact where the
        solver forms H, else estimated with Hutchinson probes (``damping_`` after fit).

    See Also
    --------
    DirectSolver : the exact dense solver, the reference of the others.
    register_solver : add a subclass to the registry.
    make_solver : instantiate a registered solver by name.

    Examples
    --------
    >>> import numpy as np
    >>> from skinfluence.inverse import InverseHessianSolver
    >>> class ScaledIdentity(InverseHessianSolver):
    ...     name = "scaled_identity"
    ...     def fit(self, adapter, X, y, sample_weight=None):
    ...         return self
    ...     def solve(self, V):
    ...         return V / (1.0 + self.damping)
    >>> ScaledIdentity(damping=1.0).fit(None, None, None).solve(np.ones(2))
    array([0.5, 0.5])
    """

    #: Name used by ``InfluenceScorer(method=...)``.
    name = None

    def __init__(self, damping=0.0):
        self.damping = check_damping(damping)

    def _resolve_damping(self, *, mean_eigenvalue=None, operator=None):
        """λ for this fit: ``damping``, or for "auto" 1e-3 × the mean eigenvalue (given, or
        estimated by Hutchinson probes of ``operator``)."""
        if self.damping != "auto":
            return float(self.damping)
        if mean_eigenvalue is None:
            mean_eigenvalue = hutchinson_mean_eigenvalue(operator)
        return auto_damping(mean_eigenvalue)

    @abstractmethod
    def fit(self, adapter, X, y, sample_weight=None):
        pass  # docstring: _docstrings.FIT

    @abstractmethod
    def solve(self, V):
        pass  # docstring: _docstrings.SOLVE


_SOLVERS = {}


def register_solver(cls):
    """Add a solver class to the registry under ``cls.name`` (a class decorator).

    ``cls`` is a subclass of :class:`InverseHessianSolver` with a ``name``; it replaces any
    solver registered under that name. Every registered solver is checked against ``direct``
    by ``tests/inverse/test_solver_common.py``, which states its settings and tolerance there.
    (``cls`` has no Parameters entry: numpydoc reads an argument of that name as a
    classmethod's.)

    Returns
    -------
    cls : type
        The class, unchanged.

    See Also
    --------
    registered_solver : register for a ``with`` block only.
    unregister_solver : remove a solver.
    available_methods : the registered names.

    Examples
    --------
    >>> from skinfluence.inverse import (
    ...     DirectSolver, available_methods, register_solver, unregister_solver)
    >>> @register_solver
    ... class MyDirect(DirectSolver):
    ...     name = "my_direct"
    >>> "my_direct" in available_methods()
    True
    >>> unregister_solver("my_direct") is MyDirect
    True
    """
    _SOLVERS[cls.name] = cls
    return cls


def unregister_solver(name):
    """Remove and return the solver registered as ``name``.

    Parameters
    ----------
    name : str
        The solver's ``name``.

    Returns
    -------
    cls : type
        The class that was registered.

    Raises
    ------
    KeyError
        No solver is registered as ``name``.

    See Also
    --------
    register_solver : add a solver.

    Examples
    --------
    Take "lissa" out of the registry for a while, then put it back:

    >>> from skinfluence.inverse import available_methods, register_solver, unregister_solver
    >>> lissa = unregister_solver("lissa")
    >>> "lissa" in available_methods()
    False
    >>> register_solver(lissa).__name__
    'LissaSolver'
    """
    return _SOLVERS.pop(name)


@contextlib.contextmanager
def registered_solver(cls):
    """Register a solver for the duration of a ``with`` block (a context manager).

    On exit the registry is restored as it was, including a solver of the same name that
    the block shadowed (for tests). ``cls`` is a subclass of :class:`InverseHessianSolver`
    with a ``name``.

    Yields
    ------
    cls : type
        The class, registered under its ``name`` until the block ends.

    See Also
    --------
    register_solver : register for good.

    Examples
    --------
    A solver registered inside the block only:

    >>> from skinfluence.inverse import DirectSolver, available_methods, registered_solver
    >>> class MyDirect(DirectSolver):
    ...     name = "my_direct"
    >>> with registered_solver(MyDirect):
    ...     "my_direct" in available_methods()
    True
    >>> "my_direct" in available_methods()
    False
    """
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
    """Return the names accepted by ``InfluenceScorer(method=...)`` (besides "auto").

    Returns
    -------
    names : list of str
        The registered solvers' names, sorted.

    See Also
    --------
    make_solver : instantiate one of them.

    Examples
    --------
    >>> from skinfluence.inverse import available_methods
    >>> available_methods()
    ['arnoldi', 'cg', 'direct', 'ekfac', 'identity', 'kfac', 'lissa', 'pcg']
    """
    return sorted(_SOLVERS)


def make_solver(method, *, damping=0.0, **params):
    """Instantiate the solver registered as ``method``.

    Parameters
    ----------
    method : str
        A name of :func:`available_methods`.
    damping : float or "auto", default=0.0
        λ ≥ 0 added to the diagonal of H, or "auto" (a thousandth of its mean eigenvalue).
    **params : dict
        The solver's other parameters (e.g. ``rank`` for "arnoldi").

    Returns
    -------
    solver : InverseHessianSolver
        Unfitted.

    Raises
    ------
    ValueError
        ``method`` is not registered; the message lists the names that are.

    See Also
    --------
    available_methods : the registered names.

    Examples
    --------
    >>> from skinfluence.inverse import make_solver
    >>> make_solver("cg", damping=0.1).damping
    0.1
    """
    if method not in _SOLVERS:
        raise ValueError(
            f"Unknown method {method!r}; choose one of {['auto', *available_methods()]}."
        )
    return _SOLVERS[method](damping=damping, **params)
