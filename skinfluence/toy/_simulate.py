"""Simulations of the pruning experiment, to set beside :func:`theory_test_error`."""

import numbers

import numpy as np
from sklearn.utils import check_random_state
from sklearn.utils.parallel import Parallel, delayed

from ..selection._pruning import select_rows
from ._data import make_probe, make_teacher_student
from ._margin import MarginScorer
from ._student import PerceptronStudent


def _one_run(alpha_total, fraction, keep, angle, n_features, seed):
    n_total = max(2, round(alpha_total * n_features))
    X, y, teacher = make_teacher_student(n_total, n_features, random_state=seed)
    probe = make_probe(teacher, angle, random_state=seed + 1)
    scores = MarginScorer(probe).fit(X).scores_
    n_keep = max(1, round(fraction * n_total))
    # The paper ranks all rows together (no per-class quota): PruningSelector's selection
    # with y=None.
    kept = select_rows(scores, None, n_keep, keep, class_balance=False, random_state=seed)
    if len(np.unique(y[kept])) < 2:  # too few rows to learn anything: chance level
        return 0.5
    student = PerceptronStudent().fit(X[kept], y[kept])
    w = student.coef_.ravel()
    overlap = w @ teacher / np.linalg.norm(w)
    return float(np.arccos(np.clip(overlap, -1.0, 1.0)) / np.pi)


def simulate_test_error(
    alpha_total,
    fraction,
    *,
    keep="hard",
    angle=0.0,
    n_features=200,
    n_seeds=5,
    random_state=None,
    n_jobs=None,
):
    """Test error of the max-margin student trained on margin-pruned teacher-student data.

    For each α_tot and seed: draw ``round(α_tot N)`` examples (:func:`make_teacher_student`),
    score them with :class:`MarginScorer` on a probe at ``angle`` to the teacher
    (:func:`make_probe`), keep the ``fraction`` hardest or easiest, fit
    :class:`PerceptronStudent` (max margin) and return its exact test error on fresh
    Gaussian inputs, ``arccos(ŵ·T̂)/π`` (no test-set noise).

    Parameters
    ----------
    alpha_total : float or array-like
        Examples per feature before pruning.
    fraction : float
        Fraction kept.
    keep : {"hard", "easy", "random"}, default="hard"
    angle : float, default=0.0
        Probe-teacher angle in radians.
    n_features : int, default=200
        Dimension N.
    n_seeds : int, default=5
        Independent repetitions per α_tot.
    random_state : int or None, default=None
        Base seed; repetition ``s`` uses a seed drawn from it.
    n_jobs : int, default=None
        Runs in parallel through joblib.

    Returns
    -------
    errors : ndarray of shape (n_alpha, n_seeds)
        One test error per α_tot and seed.

    See Also
    --------
    theory_test_error : The N → ∞ limit of the same experiment.

    Notes
    -----
    Cost per run: O(α_tot N²) to draw and score, plus the max-margin fit on the
    ``f α_tot N`` kept rows (NNLS, about O(f α_tot N² S), S ≤ N + 1 support vectors).

    Examples
    --------
    >>> from skinfluence.toy import simulate_test_error
    >>> simulate_test_error([2.0], 0.5, n_features=50, n_seeds=2, random_state=0).shape
    (1, 2)
    """
    alpha = np.atleast_1d(np.asarray(alpha_total, dtype=np.float64))
    if keep not in ("hard", "easy", "random"):
        raise ValueError(f"keep must be 'hard', 'easy' or 'random'; got {keep!r}.")
    if not isinstance(n_seeds, numbers.Integral) or n_seeds < 1:
        raise ValueError(f"n_seeds must be a positive integer; got {n_seeds!r}.")
    seeds = check_random_state(random_state).randint(0, 2**31 - 2, size=n_seeds)
    jobs = (
        delayed(_one_run)(a, fraction, keep, angle, n_features, int(s))
        for a in alpha
        for s in seeds
    )
    errors = Parallel(n_jobs=n_jobs)(jobs)
    return np.asarray(errors).reshape(len(alpha), n_seeds)
