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

    Read more in the :ref:`User Guide <torch_module>`.

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

    See Also
    --------
    TorchAdapter : the adapter built for it.
    ParameterSubset : restrict the gradients to some of its parameters.

    Notes
    -----
    The adapter reads the training objective as n × (mean loss + weight decay), in the sum
    form of :class:`~skinfluence.models.ModelAdapter`: ``loss`` must be the batch mean used
    in training and ``weight_decay`` the decay the optimizer applied (an optimizer's
    ``weight_decay=wd`` adds ``wd θ`` to the gradient, i.e. ``wd/2 ‖θ‖²`` to the loss).
    The wrapper computes nothing itself; it copies nothing until an adapter is built.

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
        """Do nothing: the module is already trained (kept so the wrapper is an estimator).

        Parameters
        ----------
        X : array-like, default=None
            Ignored.
        y : array-like, default=None
            Ignored.
        sample_weight : array-like of shape (n_samples,), default=None
            Ignored here: the module is not retrained; the scorers weight the objective's
            rows with the weights they are given.

        Returns
        -------
        self : TorchModule
            Unchanged.
        """
        return self

    def _outputs(self, X):
        torch = import_torch()
        param = next(self.module.parameters())
        with torch.no_grad():
            Xt = torch.as_tensor(np.asarray(X), dtype=param.dtype, device=param.device)
            return self.module.eval()(Xt).cpu().numpy()

    def predict(self, X):
        """Predict with the module (in ``eval`` mode, without gradients).

        Parameters
        ----------
        X : array-like of shape (n_samples, ...)
            Inputs, as the module takes them.

        Returns
        -------
        y_pred : ndarray of shape (n_samples,) or (n_samples, n_outputs)
            The class of the largest output (of a positive logit, for one output), or the
            outputs of a regressor.
        """
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

    Read more in the :ref:`User Guide <parameter_subset>`.

    Parameters
    ----------
    estimator : skorch net or TorchModule
        The model (a ``FrozenEstimator`` of a fitted one is used as it is).
    params : list of str
        Parameter names (``"fc2.weight"``) or module prefixes (``"fc2"``) of the module.

    Attributes
    ----------
    estimator_ : estimator
        The fitted clone (or the FrozenEstimator).

    See Also
    --------
    TorchAdapter : its ``params`` argument does the same for an adapter built directly.
    TorchModule : a bare trained module as an estimator.

    Notes
    -----
    With p' selected parameters every gradient-based cost depends on p' instead of p (the
    ``direct`` solver's dense Hessian is p' × p'). The other parameters stay at their
    trained values, so the influence is that of a model whose other layers are fixed: for a
    last-layer subset, a generalised linear model on the network's learnt features.

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
        """Fit a clone of ``estimator`` (a FrozenEstimator is kept as it is).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training rows.
        y : array-like of shape (n_samples,)
            Their labels or targets.
        **fit_params : dict
            Passed to the estimator's ``fit`` (e.g. ``sample_weight``).

        Returns
        -------
        self : ParameterSubset
            Fitted.
        """
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
        """Predict with the fitted estimator.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Inputs.

        Returns
        -------
        y_pred : ndarray of shape (n_samples,)
            The fitted estimator's ``predict``.
        """
        return self._fitted().predict(X)

    def predict_proba(self, X):
        """Predict class probabilities with the fitted estimator (classifiers only).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Inputs; the probabilities are ``estimator_.predict_proba(X)``, of shape
            (n_samples, n_classes).

        Returns
        -------
        proba : ndarray
            One row of class probabilities per input.
        """
        return self._fitted().predict_proba(X)
