"""What kind of model an estimator is, without importing the optional extras.

One home for "is this a skorch net?": scorers that treat torch nets differently (float32
input, class codes, seeding through torch) ask :func:`is_skorch_net`.
"""

import sys

from sklearn.frozen import FrozenEstimator
from sklearn.pipeline import Pipeline

from .torch._wrappers import ParameterSubset  # torch-free: imports torch only when used

__all__ = ["final_estimator", "is_skorch_net"]


def final_estimator(estimator):
    """The model that makes the predictions: ``estimator`` with every ``FrozenEstimator``,
    :class:`~skinfluence.models.ParameterSubset` and ``Pipeline`` (its last step) unwrapped.

    Parameters
    ----------
    estimator : object

    Returns
    -------
    estimator : object
        The innermost estimator (``"passthrough"`` or None for such a pipeline's last step).
    """
    while True:
        if isinstance(estimator, (FrozenEstimator, ParameterSubset)):
            estimator = estimator.estimator
        elif isinstance(estimator, Pipeline) and estimator.steps:
            estimator = estimator.steps[-1][1]
        else:
            return estimator


def is_skorch_net(estimator):
    """Whether ``estimator`` is, or ends in, a skorch net (``skorch.NeuralNet`` or a subclass).

    ``FrozenEstimator``, :class:`~skinfluence.models.ParameterSubset` and a ``Pipeline``'s
    last step are unwrapped (:func:`final_estimator`). Never imports torch or skorch: a
    skorch net can only exist once skorch is imported, so without ``skorch`` in
    ``sys.modules`` the answer is False.

    Parameters
    ----------
    estimator : object

    Returns
    -------
    bool

    Examples
    --------
    >>> from sklearn.linear_model import LogisticRegression
    >>> from skinfluence._estimator_checks import is_skorch_net
    >>> is_skorch_net(LogisticRegression())
    False
    """
    skorch = sys.modules.get("skorch")
    if skorch is None:
        return False
    return isinstance(final_estimator(estimator), skorch.NeuralNet)
