"""Warnings raised by skinfluence, so that users can filter them by class."""


class SkinfluenceWarning(UserWarning):
    """Base class of every warning skinfluence raises.

    Filter it to silence them all: ``warnings.simplefilter("ignore", SkinfluenceWarning)``.

    See Also
    --------
    IllConditionedHessianWarning : The Hessian is singular or indefinite.
    ConvergenceWarning : An iterative solver or a refit stopped early.
    ApproximationWarning : An estimate is unreliable for these inputs.
    NotAtOptimumWarning : The fitted model is far from a stationary point of its objective.
    """


class IllConditionedHessianWarning(SkinfluenceWarning):
    """The Hessian of the training objective is singular or indefinite.

    The message names the smallest eigenvalue and suggests a ``damping`` larger than the one
    used (the same rule for every solver).

    See Also
    --------
    skinfluence.inverse.DirectSolver : Warns with the exact smallest eigenvalue.
    skinfluence.inverse.ArnoldiSolver : Warns when top eigenvalues are not positive.
    """


class ConvergenceWarning(SkinfluenceWarning):
    """An iterative solver (CG, LiSSA) or a refit stopped before its tolerance.

    The solvers' messages give the residual or the growth of the steps and a suggested
    ``damping``.

    See Also
    --------
    skinfluence.inverse.ConjugateGradientSolver : Warns when a column does not converge.
    skinfluence.inverse.LissaSolver : Warns when the recursion's steps keep growing.
    """


class ApproximationWarning(SkinfluenceWarning):
    """An estimate is known to be unreliable for these inputs (e.g. too few models).

    See Also
    --------
    skinfluence.MemorizationScorer : Warns when too few models leave a row out.
    """


class NotAtOptimumWarning(SkinfluenceWarning):
    """The fitted parameters are far from a stationary point of the training objective.

    Influence functions linearise around the minimiser; a model fitted by stochastic
    gradient descent often stops short of it. The message gives the norm of the objective's
    gradient and the Newton step to the optimum in units of a typical leave-one-out step:
    near 1, the fit's distance from the optimum is of the order of one leave-one-out change, and
    influence describes the model at the optimum of its objective, not what rerunning the
    optimiser without a row would give.

    See Also
    --------
    skinfluence.models.SGDAdapter : Checks the stationarity of SGD fits.
    """


__all__ = [
    "ApproximationWarning",
    "ConvergenceWarning",
    "IllConditionedHessianWarning",
    "NotAtOptimumWarning",
    "SkinfluenceWarning",
]
