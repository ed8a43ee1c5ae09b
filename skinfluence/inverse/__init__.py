"""Inverse-Hessian solvers: ``(H + λI)⁻¹ V`` for the influence scorers."""

from ._base import InverseHessianSolver, available_methods, make_solver, register_solver
from ._direct import DirectSolver

__all__ = [
    "DirectSolver",
    "InverseHessianSolver",
    "available_methods",
    "make_solver",
    "register_solver",
]
