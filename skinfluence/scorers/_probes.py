"""Probes: briefly trained, independently seeded clones of the user's model.

Shared by :class:`~skinfluence.scorers.EL2NScorer` and :class:`~skinfluence.scorers.GraNdScorer`
(and any scorer that averages over models trained from different seeds).
"""

import warnings

import numpy as np
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning as SklearnConvergenceWarning

from .._utils._estimators import is_skorch_net
from .._utils._labels import align_proba, encode_labels
from .._utils._random import set_random_states
from ._base import sample_weight_param


def make_probe(estimator, probe_params, seed):
    """An unfitted clone of ``estimator`` with ``probe_params`` and every ``random_state``
    (including nested ones, ``step__random_state``) set to ``seed``."""
    probe = clone(estimator)
    if probe_params:
        probe.set_params(**probe_params)
    return set_random_states(probe, seed)


def probe_inputs(estimator, X, y, classes):
    """(X, y) as the model consumes them: float32 and class codes for skorch nets."""
    if not is_skorch_net(estimator):
        return X, y
    X = X.astype(np.float32) if hasattr(X, "astype") else X
    if y is not None and classes is not None:
        y = encode_labels(classes, y).astype(np.int64)
    return X, y


def fit_probe(estimator, probe_params, seed, X, y, sample_weight=None, classes=None):
    """Fit one probe. Convergence warnings are silenced when ``probe_params`` is given:
    stopping early is then what the user asked for."""
    probe = make_probe(estimator, probe_params, seed)
    Xp, yp = probe_inputs(probe, X, y, classes)
    fit_params = {} if sample_weight is None else sample_weight_param(probe, sample_weight)
    with warnings.catch_warnings():
        if probe_params:
            warnings.simplefilter("ignore", SklearnConvergenceWarning)
        if is_skorch_net(probe):
            import torch  # skorch is installed, hence torch

            torch.manual_seed(seed)
        probe.fit(Xp, yp, **fit_params)
    return probe


def probe_proba(probe, X, classes):
    """``probe.predict_proba(X)`` with one column per entry of ``classes`` (0 for a class the
    probe never saw, e.g. absent from a cross-validation fold)."""
    Xp, _ = probe_inputs(probe, X, None, None)
    proba = probe.predict_proba(Xp)
    if is_skorch_net(probe):  # trained on codes 0..K-1: one output per class of the data
        return np.asarray(proba, dtype=np.float64)
    return align_proba(proba, probe.classes_, classes)


def consensus_labels(probes, X, classes):
    """Label-free stand-in for y: the class of highest mean probability over the probes
    (classifiers), or the mean prediction (regressors)."""
    if classes is not None:
        mean = np.mean([probe_proba(p, X, classes) for p in probes], axis=0)
        return classes[np.argmax(mean, axis=1)]
    return np.mean([np.asarray(p.predict(X), dtype=np.float64) for p in probes], axis=0)
