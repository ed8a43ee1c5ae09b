"""Selection rules that are not a single ranking: moderate and coverage-centric coresets.

``select_rows`` (``_pruning.py``) applies them within each class (class-balanced) or to all
rows; the functions here act on one group of rows.
"""

import numpy as np

# CCS's number of strata (Zheng et al. 2023, their released code).
DEFAULT_N_STRATA = 50

# Hard cutoff β when ``hard_cutoff=None``: 0 while half or more of the rows are kept, rising
# linearly to 0.1 as the kept fraction f goes to 0, β = 0.1 · max(0, 1 − 2f). Measured by
# ``benchmarks/bench_pruning.py --calibrate`` (EL2N scores, digits / make_classification with
# HGB / teacher-student): the best β was 0 at f ≥ 0.5 on all three sets, 0.01-0.05 at
# f = 0.2-0.3 on the two sets with hard or mislabelled rows (0 on the clean one), 0.05-0.2 at
# f ≤ 0.1; the authors tune β per pruning rate (their CIFAR-10 example: 0.3 at 90 %).
_MAX_HARD_CUTOFF = 0.1


def default_hard_cutoff(fraction):
    """β for ``keep="coverage"`` when ``hard_cutoff=None``: ``0.1 · max(0, 1 − 2 f)``.

    Examples
    --------
    >>> from skinfluence.selection._strategies import default_hard_cutoff
    >>> default_hard_cutoff(0.5), round(default_hard_cutoff(0.3), 3), default_hard_cutoff(0.0)
    (0.0, 0.04, 0.1)
    """
    return _MAX_HARD_CUTOFF * max(0.0, 1.0 - 2.0 * float(fraction))


def moderate_key(scores, groups):
    """``|score − median of its group|``: the "moderate" rule keeps the smallest.

    Xia et al. (2023) keep the rows whose score is closest to the score median (their
    released code keeps the central quantile window of the sorted scores, which is the same
    set when the scores are symmetric about the median).
    """
    key = np.empty_like(scores)
    for g in np.unique(groups):
        in_g = groups == g
        key[in_g] = np.abs(scores[in_g] - np.median(scores[in_g]))
    return key


def strata_budgets(sizes, n_keep):
    """Split ``n_keep`` over strata of ``sizes`` as CCS does: from the smallest stratum up,
    each takes ``min(its size, remaining budget // strata left)``.

    Examples
    --------
    >>> from skinfluence.selection._strategies import strata_budgets
    >>> strata_budgets([12, 1, 5, 2], 10).tolist()
    [4, 1, 3, 2]
    """
    sizes = np.asarray(sizes, dtype=int)
    budgets = np.zeros(len(sizes), dtype=int)
    rest = int(n_keep)
    for i, stratum in enumerate(np.argsort(sizes, kind="stable")):
        budgets[stratum] = min(sizes[stratum], rest // (len(sizes) - i))
        rest -= budgets[stratum]
    return budgets


def coverage_sample(scores, n_keep, rng, *, hard_cutoff, n_strata):
    """Coverage-centric coreset selection (CCS, Zheng et al. 2023, Algorithm 1) of one group.

    1. Drop the ``round(hard_cutoff × n)`` highest scores (the hardest rows, likely
       mislabelled), but never so many that fewer than ``n_keep`` rows remain.
    2. Split the remaining score range ``[min, max]`` into ``n_strata`` strata of equal width
       (the maximum belongs to the last).
    3. Give each stratum a budget with :func:`strata_budgets` and draw that many of its rows
       uniformly at random.

    Returns positions into ``scores`` (unsorted). Cost O(n log n + n_strata).
    """
    n = len(scores)
    if n_keep >= n:
        return np.arange(n)
    shuffled = rng.permutation(n)  # random tie-breaking among equal scores
    by_score = shuffled[np.argsort(scores[shuffled], kind="stable")]
    n_drop = min(round(hard_cutoff * n), n - n_keep)
    pool = by_score[: n - n_drop]
    low, high = scores[pool].min(), scores[pool].max()
    if high > low:
        stratum = np.minimum(
            ((scores[pool] - low) / (high - low) * n_strata).astype(int), n_strata - 1
        )
    else:
        stratum = np.zeros(len(pool), dtype=int)
    sizes = np.bincount(stratum, minlength=n_strata)
    budgets = strata_budgets(sizes, n_keep)
    kept = [rng.permutation(pool[stratum == s])[: budgets[s]] for s in np.flatnonzero(budgets)]
    return np.concatenate(kept)
