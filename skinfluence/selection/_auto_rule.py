"""The rules behind ``PruningSelector(keep="auto")``.

``auto_keep`` is the rule applied: "coverage" (CCS with the default hard cutoff), chosen by
measurement (``benchmarks/bench_pruning.py``; the numbers are in its docstring and in the
User Guide). ``choose_keep`` is the teacher-student theory's rule (keep easy rows when data
are scarce, hard rows when they are abundant, Sorscher et al. 2022), which "auto" followed
before: derived below, and kept for comparison and for the toy.

Derivation
----------
In the perceptron teacher-student model (:mod:`skinfluence.toy`) with a perfect pruning
metric, the replica theory gives the max-margin student's test error for keep-hard and
keep-easy pruning as functions of ``α_tot = n_samples / n_features`` and the fraction ``f``
kept (:func:`skinfluence.toy.theory_test_error`). For every ``0 < f < 1`` the two curves
cross once, at ``α*(f)`` (:func:`skinfluence.toy.crossover_alpha`): keep-easy has the
lower error for ``α_tot < α*(f)``, keep-hard above. The table below is ``α*(f)`` solved
from the saddle-point equations (``tests/toy/test_auto_rule.py`` recomputes it and checks
it against this table); it is stored rather than computed here so that ``selection`` does
not import the toy and ``choose_keep`` costs nothing.

The crossing sits at ``α*(f) ≈ 2 / min(f, 1 − f)`` (the stored column is
``g(f) = α*(f) · min(f, 1 − f)``, between 1.84 and 2.52): keep-hard wins once the kept
set holds about ``2 n_features`` hard rows — the capacity of a perceptron, below which a
set of hard (near-boundary) rows is learnt without generalising — or, for f near 1, once
about ``2 n_features`` easy rows are discarded. The minimum, ``α* ≈ 4.9``, is at f ≈ 0.6.
Beyond the table, ``g = 2``.

Caveat: this is the rule of a linear model with a perfect metric; an imperfect metric
(probe angle θ > 0) moves the crossing (``crossover_alpha(f, angle=θ)``), and for real
models ``n_features`` stands in for the number of effective parameters.
"""

import numbers

import numpy as np

# (f, g(f) = α*(f) · min(f, 1 − f)), α* from skinfluence.toy.crossover_alpha(f).
_CROSSOVER_TABLE = np.array(
    [
        (0.01, 1.9979),
        (0.02, 1.9967),
        (0.03, 1.9964),
        (0.05, 1.9979),
        (0.10, 2.0111),
        (0.15, 2.0350),
        (0.20, 2.0682),
        (0.25, 2.1102),
        (0.30, 2.1619),
        (0.35, 2.2249),
        (0.40, 2.3021),
        (0.45, 2.3987),
        (0.50, 2.5241),
        (0.55, 2.2064),
        (0.60, 1.9730),
        (0.65, 1.8431),
        (0.70, 1.8424),
        (0.75, 1.8914),
        (0.80, 1.9331),
        (0.85, 1.9650),
        (0.90, 1.9874),
        (0.95, 2.0008),
        (0.97, 2.0037),
        (0.98, 2.0045),
        (0.99, 2.0051),
    ]
)

# Kept for backward compatibility: the smallest α*(f) over f (near f = 0.6). Below it,
# keep-easy wins whatever the fraction.
HARD_WINS_ABOVE_ALPHA = 4.90


def hard_wins_above(fraction):
    """``α*(f)``: data per feature above which keeping hard rows beats keeping easy ones.

    Interpolates the table of the module docstring; ``inf`` for ``fraction >= 1``.
    """
    f = float(fraction)
    if f >= 1.0:
        return np.inf
    g = np.interp(f, _CROSSOVER_TABLE[:, 0], _CROSSOVER_TABLE[:, 1], left=2.0, right=2.0)
    return float(g / min(f, 1.0 - f))


def auto_keep(n_samples, n_features, fraction):
    """The rule ``keep="auto"`` applies: "coverage" whatever the shape and fraction.

    Measured in ``benchmarks/bench_pruning.py`` (EL2N scores; digits with logistic
    regression, 50 000 rows of ``make_classification`` with gradient boosting, 20 000
    teacher-student rows with logistic regression; 3 / 2 / 3 seeds; fractions 0.02 to 0.7):
    "coverage" with the default hard cutoff was at or above the mean of random selection at
    every fraction on every set (worst margins +0.005 / +0.003 / +0.001), and at f = 0.5
    within 0.4 points of the best rule (0.963 vs 0.967 hard on digits; 0.964, the best, on
    make_classification; 0.997, tied, on teacher-student). The theory's rule
    (:func:`choose_keep`) picks "hard" on the two large sets, where keeping the hardest 2 %
    lost 71 and 22 points against random (mislabelled rows, and rows an imperfect score
    ranks hardest), and "easy" on digits at f = 0.1 (0.881 vs 0.902 random). With the label-
    free prototype scores "coverage" fell up to 1.4 points below random (digits, f = 0.2).
    The parameters are those of :func:`choose_keep`, for a rule that depends on them.

    Examples
    --------
    >>> from skinfluence.selection._auto_rule import auto_keep
    >>> auto_keep(2000, 100, 0.5)
    'coverage'
    """
    if not isinstance(fraction, numbers.Real) or not (0.0 < fraction <= 1.0):
        raise ValueError(f"fraction must be a number in (0, 1]; got {fraction!r}.")
    return "coverage"


def choose_keep(n_samples, n_features, fraction):
    """Return "easy" or "hard" for a training set of ``n_samples`` × ``n_features``.

    "hard" when ``n_samples / n_features ≥ α*(fraction)``, the α_tot above which the
    teacher-student theory predicts that keeping the hardest rows gives a lower test error
    than keeping the easiest (see the module docstring); "easy" otherwise, and for
    ``fraction = 1`` (nothing is pruned).

    Parameters
    ----------
    n_samples : int
        Rows before pruning.
    n_features : int
        Features (parameters of a linear model).
    fraction : float
        Fraction of rows to keep, in (0, 1].

    Returns
    -------
    keep : {"easy", "hard"}

    Examples
    --------
    >>> from skinfluence.selection._auto_rule import choose_keep
    >>> choose_keep(200, 100, 0.5), choose_keep(2000, 100, 0.5)
    ('easy', 'hard')
    """
    if not isinstance(fraction, numbers.Real) or not (0.0 < fraction <= 1.0):
        raise ValueError(f"fraction must be a number in (0, 1]; got {fraction!r}.")
    alpha = n_samples / max(n_features, 1)
    return "hard" if alpha >= hard_wins_above(fraction) else "easy"
