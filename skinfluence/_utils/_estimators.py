"""What kind of estimator a scorer was given, without importing the optional extras."""

import sys

from sklearn.frozen import FrozenEstimator
from sklearn.pipeline import Pipeline

from ..torch._wrappers import ParameterSubset  # torch-free: imports torch only when used


def is_frozen(estimator):
    """Whether ``estimator`` is a ``sklearn.frozen.FrozenEstimator`` (used as fitted)."""
    return isinstance(estimator, FrozenEstimator)


def final_estimator(estimator):
    """The model that makes the predictions: ``estimator`` with every ``FrozenEstimator``,
    :class:`~skinfluence.models.ParameterSubset` and ``Pipeline`` (its last step) unwrapped.

    Parameters
    ----------
    estimator : object
        An estimator, possibly wrapped.

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

    Wrappers are unwrapped as by :func:`final_estimator`. Never imports torch or skorch: a
    skorch net can only exist once skorch is imported, so without ``skorch`` in
    ``sys.modules`` the answer is False. A skorch net needs float32 input and integer class
    codes, and is seeded through torch.

    Parameters
    ----------
    estimator : object
        An estimator, possibly wrapped.

    Returns
    -------
    bool
        True for a skorch net.

    Examples
    --------
    >>> from sklearn.linear_model import LogisticRegression
    >>> from skinfluence._utils._estimators import is_skorch_net
    >>> is_skorch_net(LogisticRegression())
    False
    """
    skorch = sys.modules.get("skorch")
    if skorch is None:
        return False
    return isinstance(final_estimator(estimator), skorch.NeuralNet)
