"""Estimator wrappers for torch models: a trained bare module, and a parameter subset.

torch is imported only inside functions (``import skinfluence`` stays torch-free).
"""

import numpy as np
from sklearn.base import BaseEstimator, clone
from sklearn.exceptions import NotFittedError
from sklearn.frozen import FrozenEstimator
from sklearn.utils.validation import check_is_fitted

from ._imports import import_torch


class TorchModule(BaseEstimator):
    """A trained bare ``torch.nn.Module`` with its loss, as a fitted estimator.

    Wrap a module trained outside skorch so that every skinfluence scorer can read it (wrap it
    again in ``sklearn.frozen.FrozenEstimator``: scorers never retrain it).

    Parameters
    ----------
    module : torch.nn.Module
        The trained network; ``module(X)`` returns the outputs the loss consumes.
    loss : callable
        ``loss(outputs, targets)`` → the **mean** loss of a batch, as used in training
        (e.g. ``torch.nn.CrossEntropyLoss()``).
    classes : array-like, default=None
        Class labels, for classifiers: target ``classes[k]`` is passed to the loss as index k
        (as a float 0/1 when the module has a single output, e.g. ``BCEWithLogitsLoss``).
        None: a regressor (float targets shaped like the outputs).
    weight_decay : float or dict, default=0.0
        L2 weight decay used in training (``wd/2 ‖θ‖²`` added to the mean loss), or a dict
        ``{parameter-name prefix: wd}`` (e.g. ``{"0.weight": 1e-3}``; unnamed parameters 0).

    Examples
    --------
    >>> import torch
    >>> from skinfluence.models import TorchModule, adapter_for
    >>> model = TorchModule(torch.nn.Linear(3, 2), torch.nn.CrossEntropyLoss(), classes=[0, 1])
    >>> adapter_for(model).n_params
    8
    """

    def __init__(self, module, loss, *, classes=None, weight_decay=0.0):
        self.module = module
        self.loss = loss
        self.classes = classes
        self.weight_decay = weight_decay

    def __sklearn_is_fitted__(self):
        return True

    def fit(self, X=None, y=None, sample_weight=None):
        """No-op: the module is already trained (kept so the wrapper is an estimator).

        ``sample_weight`` is accepted and ignored here: the module is not retrained; the
        scorers weight the objective's rows with the same weights.
        """
        return self

    def _outputs(self, X):
        torch = import_torch()
        param = next(self.module.parameters())
        with torch.no_grad():
            Xt = torch.as_tensor(np.asarray(X), dtype=param.dtype, device=param.device)
            return self.module.eval()(Xt).cpu().numpy()

    def predict(self, X):
        """Predicted class (arg-max, or logit > 0 for one output) or regression outputs."""
        out = self._outputs(X)
        if self.classes is None:
            return out.ravel() if out.ndim == 2 and out.shape[1] == 1 else out
        classes = np.asarray(self.classes)
        if out.ndim == 1 or out.shape[1] == 1:
            return classes[(out.reshape(-1) > 0).astype(int)]
        return classes[out.argmax(axis=1)]


class ParameterSubset(BaseEstimator):
    """Restrict gradient-based scores to some parameters of a torch model.

    ``fit`` fits a clone of ``estimator`` (or uses a ``FrozenEstimator`` as it is); the
    adapter then takes gradients, Hessians and influence w.r.t. the named parameters only,
    the others held fixed (e.g. ``params=["fc2"]``: the last layer, as many papers do).

    Parameters
    ----------
    estimator : skorch net or TorchModule
    params : list of str
        Parameter names (``"fc2.weight"``) or module prefixes (``"fc2"``) of the module.

    Examples
    --------
    >>> import torch
    >>> from skinfluence.models import ParameterSubset, TorchModule, adapter_for
    >>> net = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Tanh(), torch.nn.Linear(4, 2))
    >>> model = TorchModule(net, torch.nn.CrossEntropyLoss(), classes=[0, 1])
    >>> adapter_for(ParameterSubset(model, params=["2"])).n_params
    10
    """

    def __init__(self, estimator, params):
        self.estimator = estimator
        self.params = params

    def fit(self, X, y, **fit_params):
        """Fit a clone of ``estimator`` (a FrozenEstimator is kept as it is)."""
        if isinstance(self.estimator, FrozenEstimator):
            self.estimator_ = self.estimator
        else:
            self.estimator_ = clone(self.estimator).fit(X, y, **fit_params)
        return self

    def __sklearn_is_fitted__(self):
        if hasattr(self, "estimator_"):
            return True
        try:  # a wrapped model that is already fitted (FrozenEstimator, TorchModule) is used as is
            check_is_fitted(self.estimator)
        except (NotFittedError, TypeError):
            return False
        return True

    def _fitted(self):
        check_is_fitted(self)
        return getattr(self, "estimator_", self.estimator)

    def predict(self, X):
        """Delegate to the fitted estimator."""
        return self._fitted().predict(X)

    def predict_proba(self, X):
        """Delegate to the fitted estimator."""
        return self._fitted().predict_proba(X)
