"""Inverse-Hessian solvers: ``(H + λI)⁻¹ V`` for the influence scorers."""

from ._arnoldi import ArnoldiSolver
from ._base import (
    InverseHessianSolver,
    available_methods,
    make_solver,
    register_solver,
    registered_solver,
    unregister_solver,
)
from ._cg import ConjugateGradientSolver
from ._direct import DirectSolver
from ._identity import IdentitySolver
from ._kfac import EKFACSolver, KFACSolver
from ._lissa import LissaSolver
from ._pcg import PreconditionedCGSolver

__all__ = [
    "ArnoldiSolver",
    "ConjugateGradientSolver",
    "DirectSolver",
    "EKFACSolver",
    "IdentitySolver",
    "InverseHessianSolver",
    "KFACSolver",
    "LissaSolver",
    "PreconditionedCGSolver",
    "available_methods",
    "make_solver",
    "register_solver",
    "registered_solver",
    "unregister_solver",
]
