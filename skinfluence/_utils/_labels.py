"""Labels and class probabilities: encoding, alignment, log-loss."""

import numpy as np

#: Probabilities are clipped to [LOG_LOSS_EPS, 1] before the log (sklearn's log_loss clips to
#: the float64 machine epsilon; 1e-15 keeps the loss of a confident error finite and bounded).
LOG_LOSS_EPS = 1e-15
# Up to this many numeric classes labels are encoded by comparisons instead of a binary search
# (10⁴ labels: 0.05 against 0.1 ms for 2 classes; 0.22 against 0.1 ms for 8, so only 2).
_FEW_CLASSES = 2


def encode_labels(classes, y):
    """Positions of the labels ``y`` in the sorted array ``classes``, shape (n,).

    Raises
    ------
    ValueError
        Some label of ``y`` is not in ``classes`` (a label the model never saw); the message
        names up to five of them and the known classes.

    Examples
    --------
    >>> import numpy as np
    >>> encode_labels(np.array([0, 2, 4]), np.array([4, 0]))
    array([2, 0])
    """
    classes = np.asarray(classes)
    y = np.asarray(y)
    if len(classes) == 0:
        raise ValueError("No known classes: fit on at least one labelled row first.")
    if len(classes) <= _FEW_CLASSES and classes.dtype.kind in "biuf" and y.dtype.kind in "biuf":
        # a comparison per class: 0.05 ms against 0.1 ms for 10⁴ binary labels
        idx = np.zeros(y.shape, dtype=np.intp)
        unknown = y != classes[0]
        for k in range(1, len(classes)):
            hit = y == classes[k]
            idx[hit] = k
            unknown &= ~hit
    else:
        idx = np.clip(np.searchsorted(classes, y), 0, len(classes) - 1)
        unknown = classes[idx] != y
    if np.any(unknown):
        raise ValueError(
            f"y contains labels not seen in fit: {np.unique(y[unknown])[:5].tolist()}; "
            f"known classes are {classes.tolist()}."
        )
    return idx


def align_proba(proba, model_classes, classes):
    """Class probabilities with one column per entry of ``classes``.

    ``proba`` has one column per entry of ``model_classes`` (a subset of ``classes``, e.g. a
    model fitted on a cross-validation fold or a random subset that missed a class); classes
    the model never saw get probability 0.
    """
    proba = np.asarray(proba, dtype=np.float64)
    model_classes = np.asarray(model_classes)
    if np.array_equal(model_classes, classes):
        return proba
    out = np.zeros((proba.shape[0], len(classes)))
    out[:, encode_labels(classes, model_classes)] = proba
    return out


def label_log_loss(proba, codes):
    """``−log p[i, codes[i]]`` for each row, probabilities clipped to ``[LOG_LOSS_EPS, 1]``."""
    picked = np.asarray(proba, dtype=np.float64)[np.arange(len(codes)), codes]
    return -np.log(np.clip(picked, LOG_LOSS_EPS, 1.0))
