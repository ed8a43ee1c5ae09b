"""keep="auto": the stored crossover table against the theory, and the selector's choice."""

import numpy as np
import pytest

from skinfluence.selection import PruningSelector
from skinfluence.selection._auto_rule import choose_keep, hard_wins_above
from skinfluence.toy import (
    MarginScorer,
    PerceptronStudent,
    crossover_alpha,
    make_teacher_student,
    theory_test_error,
)


@pytest.mark.parametrize("fraction", [0.1, 0.5, 0.6, 0.9])
def test_table_is_the_theory_crossover(fraction):
    # The table stores α*(f)·min(f, 1−f) to 4 decimals (relative error ≤ 3e-5 at the nodes).
    assert hard_wins_above(fraction) == pytest.approx(crossover_alpha(fraction), rel=1e-4)


def test_interpolation_between_nodes():
    # Between the 0.05-spaced nodes the interpolated crossing stays within 2% of the
    # theory's (g(f) varies smoothly, by < 0.1 between nodes, except at its kink at 0.5).
    for f in [0.12, 0.33, 0.77]:
        assert hard_wins_above(f) == pytest.approx(crossover_alpha(f), rel=0.02)


def test_choose_keep_is_the_theory_argmin():
    rng = np.random.RandomState(0)
    for _ in range(8):
        f = rng.uniform(0.1, 0.9)
        alpha = np.exp(rng.uniform(np.log(1.0), np.log(40.0)))
        if abs(np.log(alpha / hard_wins_above(f))) < 0.05:  # too close to call
            continue
        hard = theory_test_error(alpha, f, keep="hard")
        easy = theory_test_error(alpha, f, keep="easy")
        n_features = 100
        expected = "hard" if hard < easy else "easy"
        assert choose_keep(round(alpha * n_features), n_features, f) == expected


def test_choose_keep_edges():
    assert choose_keep(10**6, 10, 1.0) == "easy"  # nothing pruned
    assert hard_wins_above(0.001) == pytest.approx(2000.0)
    with pytest.raises(ValueError, match="fraction"):
        choose_keep(100, 10, 0.0)


def _student_error(selector, teacher):
    w = selector.estimator_.coef_.ravel()
    return np.arccos(w @ teacher / np.linalg.norm(w)) / np.pi


@pytest.mark.parametrize(
    ("alpha", "fraction", "expected"), [(2.0, 0.5, "easy"), (16.0, 0.2, "hard")]
)
def test_the_theory_rule_makes_the_theory_choice(alpha, fraction, expected):
    # Theory: at α_tot = 2, f = 0.5 keep-easy errs 0.18 vs keep-hard 0.32; at α_tot = 16,
    # f = 0.2 keep-hard 0.032 vs keep-easy 0.058. choose_keep (the rule keep="auto" followed
    # before issue 21; "auto" now applies the measured auto_keep) must pick that rule and, in
    # simulation through the selector (N = 200, 2 seeds), beat the other rule.
    n_features = 200
    assert expected == (
        "hard"
        if theory_test_error(alpha, fraction, keep="hard")
        < theory_test_error(alpha, fraction, keep="easy")
        else "easy"
    )
    errors = {"auto": [], "other": []}
    other = "hard" if expected == "easy" else "easy"
    for seed in range(2):
        X, y, teacher = make_teacher_student(
            round(alpha * n_features), n_features, random_state=seed
        )
        theory = choose_keep(len(y), n_features, fraction)
        assert theory == expected
        for name, keep in [("auto", theory), ("other", other)]:
            selector = PruningSelector(
                MarginScorer(teacher), PerceptronStudent(), fraction=fraction, keep=keep
            ).fit(X, y)
            errors[name].append(_student_error(selector, teacher))
    assert np.mean(errors["auto"]) < np.mean(errors["other"])
