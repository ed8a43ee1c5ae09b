"""Warnings raised by skinfluence, so that users can filter them by class."""


class SkinfluenceWarning(UserWarning):
    """Base class of every warning skinfluence raises."""


class IllConditionedHessianWarning(SkinfluenceWarning):
    """The Hessian of the training objective is singular or indefinite.

    The message names the smallest eigenvalue and suggests ``damping``.
    """


class ConvergenceWarning(SkinfluenceWarning):
    """An iterative solver (CG, LiSSA) or a refit stopped before its tolerance."""


class ApproximationWarning(SkinfluenceWarning):
    """An estimate is known to be unreliable for these inputs (e.g. too few models)."""


__all__ = [
    "ApproximationWarning",
    "ConvergenceWarning",
    "IllConditionedHessianWarning",
    "SkinfluenceWarning",
]
