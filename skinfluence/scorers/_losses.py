"""The per-sample loss of any fitted estimator: what retraining-based scorers compare."""

import numpy as np
from sklearn.base import is_classifier

from .._utils._labels import align_proba, encode_labels, label_log_loss
from ..models import adapter_for


def per_sample_loss(estimator, X, y, *, classes=None):
    """Per-sample loss of a fitted estimator on labelled rows, shape (n_samples,).

    The adapter's loss where skinfluence has one (the loss the model minimises), else the
    log-loss of ``predict_proba`` (classifiers) or the squared error summed over outputs
    (regressors).

    Parameters
    ----------
    estimator : estimator object
        A fitted estimator.
    X : {array-like, sparse matrix} of shape (n_samples, n_features)
        Rows, as the estimator takes them.
    y : array-like of shape (n_samples,) or (n_samples, n_outputs)
        Their labels or targets.
    classes : ndarray of shape (n_classes,), default=None
        For a classifier that may have seen fewer classes than the data has (fitted on a
        random subset or a fold): the full sorted class set. Its probabilities are aligned
        on it, a class it never saw getting probability 0 (the clipped log-loss of a
        confident error). None: the estimator's own ``classes_``.

    Returns
    -------
    loss : ndarray of shape (n_samples,)
        One loss per row.

    Raises
    ------
    ValueError
        A label of ``y`` is not one of the classes (a label the model never saw).

    See Also
    --------
    skinfluence.models.adapter_for : the adapter whose ``loss`` is used where there is one.
    MemorizationScorer : compares this loss between models that saw a row and models that
        did not (``scoring="loss"``).

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from sklearn.tree import DecisionTreeClassifier
    >>> from skinfluence.scorers import per_sample_loss
    >>> X, y = load_iris(return_X_y=True)
    >>> per_sample_loss(DecisionTreeClassifier().fit(X, y), X[:3], y[:3]).round(3)
    array([-0., -0., -0.])
    """
    model_classes = getattr(estimator, "classes_", None)
    own_classes = classes is None or (
        model_classes is not None and np.array_equal(model_classes, classes)
    )
    if own_classes:
        try:
            return adapter_for(estimator).loss(X, y)
        except TypeError:
            pass
    if is_classifier(estimator) and hasattr(estimator, "predict_proba"):
        classes = model_classes if classes is None else np.asarray(classes)
        proba = align_proba(estimator.predict_proba(X), model_classes, classes)
        return label_log_loss(proba, encode_labels(classes, y))
    pred = np.asarray(estimator.predict(X), dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    return ((pred - y) ** 2).reshape(len(y), -1).sum(axis=1)
