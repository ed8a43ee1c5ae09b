"""Reseeding: independent integer seeds, and an estimator with every ``random_state`` set."""

import numpy as np
from sklearn.utils import check_random_state


def draw_seeds(random_state, n):
    """``n`` independent integer seeds in [0, 2³¹ − 1) drawn from ``random_state``."""
    return check_random_state(random_state).randint(np.iinfo(np.int32).max, size=n)


def set_random_states(estimator, seed):
    """Set every ``random_state`` parameter of ``estimator`` (nested ones included, e.g.
    ``step__random_state``) to ``seed``, in place; returns the estimator."""
    seeded = {
        key: seed
        for key in estimator.get_params(deep=True)
        if key == "random_state" or key.endswith("__random_state")
    }
    if seeded:
        estimator.set_params(**seeded)
    return estimator
