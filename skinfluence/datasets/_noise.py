"""Label noise with known ground truth: the flipped rows are what a detector should find."""

import numbers

import numpy as np
from sklearn.datasets import load_breast_cancer
from sklearn.utils import Bunch, check_random_state

from .._utils._labels import encode_labels


def flip_labels(y, noise_rate=0.1, *, random_state=None):
    """Flip the labels of a random ``noise_rate`` fraction of rows to another class.

    Each chosen row gets a label drawn uniformly from the *other* classes present in ``y``.

    Parameters
    ----------
    y : array-like of shape (n_samples,)
        Class labels (any dtype); not modified.
    noise_rate : float in [0, 1), default=0.1
        Fraction of rows whose label is flipped (rounded to the nearest count).
    random_state : int, RandomState instance or None, default=None

    Returns
    -------
    y_noisy : ndarray of shape (n_samples,)
        A copy of ``y`` with the flipped labels.
    is_flipped : ndarray of bool, shape (n_samples,)
        True for the rows whose label was changed.

    See Also
    --------
    load_noisy_breast_cancer : A bundled dataset with flipped training labels.
    skinfluence.metrics.detection_scores : How well a score ranks the flipped rows first.

    Examples
    --------
    >>> import numpy as np
    >>> from skinfluence.datasets import flip_labels
    >>> y_noisy, flipped = flip_labels(np.array([0, 1] * 50), 0.1, random_state=0)
    >>> int(flipped.sum()), bool(np.all((y_noisy != np.array([0, 1] * 50)) == flipped))
    (10, True)
    """
    y = np.asarray(y)
    if not isinstance(noise_rate, numbers.Real) or not 0 <= noise_rate < 1:
        raise ValueError(f"noise_rate must be in [0, 1); got {noise_rate!r}.")
    classes = np.unique(y)
    if len(classes) < 2:
        raise ValueError("flip_labels needs at least two classes in y.")
    rng = check_random_state(random_state)
    n_flip = round(noise_rate * len(y))
    rows = rng.choice(len(y), size=n_flip, replace=False)
    y_noisy = y.copy()
    codes = encode_labels(classes, y[rows])
    shift = rng.randint(1, len(classes), size=n_flip)  # never 0: always another class
    y_noisy[rows] = classes[(codes + shift) % len(classes)]
    is_flipped = np.zeros(len(y), dtype=bool)
    is_flipped[rows] = True
    return y_noisy, is_flipped


def load_noisy_breast_cancer(noise_rate=0.1, *, test_size=0.25, random_state=0, as_frame=False):
    """Load scikit-learn's breast-cancer data with a known fraction of training labels flipped.

    The bundled default of ``skinfluence audit``: a stratified train/test split, then
    :func:`flip_labels` on the training labels only (the test labels stay clean).

    Parameters
    ----------
    noise_rate : float, default=0.1
    test_size : float, default=0.25
    random_state : int, default=0
    as_frame : bool, default=False
        Return pandas DataFrames/Series with the feature names.

    Returns
    -------
    data : Bunch
        ``X_train, y_train`` (noisy), ``y_train_clean``, ``is_flipped``, ``X_test``,
        ``y_test``, ``feature_names``, ``target_names``.

    See Also
    --------
    flip_labels : The label noise applied to the training labels.
    skinfluence.metrics.detection_scores : How well a score finds ``is_flipped``.

    Examples
    --------
    >>> from skinfluence.datasets import load_noisy_breast_cancer
    >>> data = load_noisy_breast_cancer()
    >>> data.X_train.shape, int(data.is_flipped.sum())
    ((426, 30), 43)
    """
    from sklearn.model_selection import train_test_split

    raw = load_breast_cancer(as_frame=as_frame)
    X, y = raw.data, raw.target
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=test_size, stratify=y, random_state=random_state
    )
    y_noisy, is_flipped = flip_labels(np.asarray(y_train), noise_rate, random_state=random_state)
    if as_frame:
        import pandas as pd

        y_noisy = pd.Series(y_noisy, index=y_train.index, name=y_train.name)
    return Bunch(
        X_train=X_train,
        y_train=y_noisy,
        y_train_clean=y_train,
        is_flipped=is_flipped,
        X_test=X_test,
        y_test=y_test,
        feature_names=np.asarray(raw.feature_names),
        target_names=np.asarray(raw.target_names),
    )
