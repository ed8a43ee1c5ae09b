"""The rule behind ``PruningSelector(keep="auto")``: keep easy rows when data are scarce,
hard rows when they are abundant (Sorscher et al. 2022).

Owned by the teacher-student toy work (``skinfluence.toy``), which derives and checks the
threshold against the theory; the pruning selector only calls :func:`choose_keep`.
"""

# Data per parameter (n_samples / n_features) above which keeping hard rows wins.
# Provisional value; the toy's theory sets it (see skinfluence.toy).
HARD_WINS_ABOVE_ALPHA = 2.0


def choose_keep(n_samples, n_features, fraction):
    """Return "easy" or "hard" for a training set of ``n_samples`` × ``n_features``."""
    alpha = n_samples / max(n_features, 1)
    return "hard" if alpha >= HARD_WINS_ABOVE_ALPHA else "easy"
