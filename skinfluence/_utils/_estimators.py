"""What kind of estimator a scorer was given (without importing optional libraries)."""

import sys

from sklearn.frozen import FrozenEstimator
from sklearn.pipeline import Pipeline


def is_frozen(estimator):
    """Whether ``estimator`` is a ``sklearn.frozen.FrozenEstimator`` (used as fitted)."""
    return isinstance(estimator, FrozenEstimator)


def final_step(estimator):
    """The model at the end, unwrapped: a Pipeline's last step, a FrozenEstimator's model,
    a torch ``ParameterSubset``'s net (recursively)."""
    wrappers = (FrozenEstimator, *_torch_wrapper_types())
    while True:
        if isinstance(estimator, wrappers):
            estimator = estimator.estimator
        elif isinstance(estimator, Pipeline):
            estimator = estimator.steps[-1][1]
        else:
            return estimator


def is_skorch_net(estimator):
    """Whether the model at the end of ``estimator`` is a skorch net (never imports skorch).

    Unwraps ``FrozenEstimator``, a Pipeline's last step and skinfluence's torch wrappers
    (``ParameterSubset``). A skorch net needs float32 input and integer class codes, and is
    seeded through torch.
    """
    return _is_skorch_class(type(final_step(estimator)))


def _torch_wrapper_types():
    module = sys.modules.get("skinfluence.models._torch_wrappers")
    return () if module is None else (module.ParameterSubset,)


def _is_skorch_class(cls):
    skorch = sys.modules.get("skorch")
    return skorch is not None and issubclass(cls, skorch.NeuralNet)
