"""Teacher-student data and probes of Sorscher et al. (2022)."""

import numbers

import numpy as np
from sklearn.utils import check_random_state


def _check_positive_int(value, name):
    if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{name} must be a positive integer; got {value!r}.")
    return int(value)


def make_teacher_student(n_samples, n_features, *, random_state=None):
    """Gaussian inputs labelled by a random teacher perceptron.

    ``x ~ N(0, I_N)``, teacher ``T`` uniform on the unit sphere, label ``y = sign(T·x)``
    in {−1, +1}. ``n_samples / n_features`` is the paper's α_tot.

    Parameters
    ----------
    n_samples : int
        Number of examples P.
    n_features : int
        Dimension N.
    random_state : int, RandomState instance or None, default=None
        Seed of the teacher and the inputs.

    Returns
    -------
    X : ndarray of shape (n_samples, n_features)
    y : ndarray of shape (n_samples,)
        Labels in {−1, +1} (int).
    teacher : ndarray of shape (n_features,)
        The teacher's unit vector.

    See Also
    --------
    make_probe : A pruning metric at a given angle to the teacher.
    PerceptronStudent : The max-margin student trained on these examples.

    Notes
    -----
    Cost: O(n_samples · n_features) time and memory.

    References
    ----------
    Sorscher et al., "Beyond neural scaling laws: beating power law scaling via data
    pruning", NeurIPS 2022, section 2.

    Examples
    --------
    >>> from skinfluence.toy import make_teacher_student
    >>> X, y, teacher = make_teacher_student(100, 20, random_state=0)
    >>> X.shape, sorted(set(y.tolist()))
    ((100, 20), [-1, 1])
    """
    n_samples = _check_positive_int(n_samples, "n_samples")
    n_features = _check_positive_int(n_features, "n_features")
    rng = check_random_state(random_state)
    teacher = rng.standard_normal(n_features)
    teacher /= np.linalg.norm(teacher)
    X = rng.standard_normal((n_samples, n_features))
    y = np.where(X @ teacher >= 0, 1, -1)
    return X, y, teacher


def make_probe(teacher, angle, *, random_state=None):
    """A unit probe vector at ``angle`` (radians) to the teacher, in a random direction.

    The probe models an imperfect pruning metric: its margin ``|probe·x|`` ranks examples
    by difficulty; ``angle=0`` is the teacher itself (a perfect metric).

    Parameters
    ----------
    teacher : array-like of shape (n_features,)
    angle : float
        θ in [0, π]: ``probe·T̂ = cos θ``.
    random_state : int, RandomState instance or None, default=None
        Seed of the direction orthogonal to the teacher.

    Returns
    -------
    probe : ndarray of shape (n_features,)
        Unit vector ``cos θ T̂ + sin θ û`` with û a random unit vector orthogonal to T.

    See Also
    --------
    make_teacher_student : The teacher and its labelled examples.
    MarginScorer : Scores rows by their margin along the probe.

    Notes
    -----
    Cost: O(n_features). A probe at angle θ keeps examples by a margin that is correlated
    ``cos θ`` with the teacher's: Sorscher et al.'s model of an imperfect pruning metric.

    Examples
    --------
    >>> import numpy as np
    >>> from skinfluence.toy import make_probe, make_teacher_student
    >>> _, _, teacher = make_teacher_student(10, 50, random_state=0)
    >>> probe = make_probe(teacher, 0.3, random_state=0)
    >>> round(float(np.arccos(probe @ teacher)), 6)
    0.3
    """
    teacher = np.asarray(teacher, dtype=np.float64)
    if teacher.ndim != 1 or teacher.size < 2 or not np.all(np.isfinite(teacher)):
        raise ValueError(
            f"teacher must be a finite 1-D vector of at least 2 features; got shape "
            f"{teacher.shape}."
        )
    norm = np.linalg.norm(teacher)
    if norm == 0:
        raise ValueError("teacher is the zero vector; pass a non-zero direction.")
    if not isinstance(angle, numbers.Real) or not (0.0 <= angle <= np.pi):
        raise ValueError(f"angle must be a number in [0, π] radians; got {angle!r}.")
    t_hat = teacher / norm
    rng = check_random_state(random_state)
    while True:  # a draw (nearly) parallel to the teacher, e.g. from the teacher's own seed,
        u = rng.standard_normal(teacher.size)  # leaves no orthogonal direction: draw again
        u_norm = np.linalg.norm(u)
        for _ in range(2):  # Gram-Schmidt twice: orthogonal to rounding
            u -= (u @ t_hat) * t_hat
        if np.linalg.norm(u) > 1e-6 * u_norm:
            break
    u /= np.linalg.norm(u)
    return np.cos(angle) * t_hat + np.sin(angle) * u
