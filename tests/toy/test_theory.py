"""The replica theory of the toy: classical limits, self-consistency of the saddle point,
and input checks. Agreement with simulation is in test_toy.py."""

import numpy as np
import pytest

from skinfluence.toy import (
    crossover_alpha,
    pruning_threshold,
    solve_saddle_point,
    theory_test_error,
)
from skinfluence.toy._theory import _kept_nodes, _SaddlePoint


def test_no_pruning_gives_the_max_margin_learning_curve():
    # Without pruning the max-margin (maximally stable) perceptron has ε·α → 0.5005 as
    # α → ∞ (Opper, Kinzel, Kleinz & Nehl 1990); the equations are solved to ~1e-9, so a
    # 1e-3 tolerance only absorbs the 1/α corrections still present at α = 1000.
    alpha = 1000.0
    assert theory_test_error(alpha, 1.0, keep="random") * alpha == pytest.approx(0.5005, abs=1e-3)
    # Small α: the student knows nearly nothing (ε → 1/2) and learns monotonically.
    curve = theory_test_error(np.geomspace(0.01, 100, 12), 1.0, keep="random")
    assert 0.45 < curve[0] < 0.5
    assert np.all(np.diff(curve) < 0)


@pytest.mark.parametrize("keep", ["hard", "easy"])
@pytest.mark.parametrize("fraction", [0.1, 0.5, 0.9])
def test_kept_measure_has_mass_fraction(keep, fraction):
    # The quadrature of the kept Gaussian measure must integrate 1 to f (1e-10: Gauss-Legendre
    # on smooth panels is exact to rounding here).
    _, _, weight = _kept_nodes(fraction, keep, 0.0)
    assert weight.sum() == pytest.approx(fraction, abs=1e-10)
    _, _, weight = _kept_nodes(fraction, keep, 0.4)
    assert weight.sum() == pytest.approx(fraction, abs=1e-8)
    gamma = pruning_threshold(fraction, keep)
    assert gamma > 0


@pytest.mark.parametrize(
    ("alpha", "fraction", "keep", "angle"),
    [(2.0, 0.5, "hard", 0.0), (8.0, 0.2, "easy", 0.0), (6.0, 0.3, "hard", 0.3)],
)
def test_maximal_margin_solves_the_saddle_point_equations(alpha, fraction, keep, angle):
    # Two formulations must agree: the student's (R, Q) maximise κ*(R, Q) (θ = 0) or solve
    # the stationarity equations (θ > 0); either way all three equations hold at the
    # solution (residuals ~1e-7 from the optimiser's tolerance on log β).
    R, Q, kappa = solve_saddle_point(alpha, fraction, keep=keep, angle=angle)
    residuals = _SaddlePoint(alpha, fraction, keep, angle).stationarity(R, Q, kappa)
    assert np.max(np.abs(residuals)) < 1e-6
    assert 0 < R < 1 and kappa > 0


def test_random_pruning_is_the_learning_curve_at_the_kept_size():
    alpha = np.array([1.0, 5.0])
    np.testing.assert_allclose(
        theory_test_error(alpha, 0.3, keep="random"),
        theory_test_error(0.3 * alpha, 1.0, keep="random"),
        rtol=1e-6,
    )


def test_paper_findings_in_theory():
    # Sorscher et al.: keep-easy wins with scarce data, keep-hard with abundant data, and
    # an imperfect probe (θ > 0) costs keep-hard accuracy at small f.
    assert theory_test_error(2.0, 0.5, keep="easy") < theory_test_error(2.0, 0.5, keep="hard")
    assert theory_test_error(20.0, 0.2, keep="hard") < theory_test_error(20.0, 0.2, keep="easy")
    assert theory_test_error(16.0, 0.2, keep="hard", angle=0.3) > 2 * theory_test_error(
        16.0, 0.2, keep="hard"
    )
    # Keep-hard at fixed pruned size α_prune = f α_tot beats random pruning by far once
    # α_tot is large (the better-than-power-law scaling in the pruned set size).
    assert theory_test_error(40.0, 0.1, keep="hard") < 0.5 * theory_test_error(
        4.0, 1.0, keep="random"
    )


def test_single_crossover_between_keep_hard_and_keep_easy():
    f = 0.3
    a_star = crossover_alpha(f)
    alphas = np.geomspace(0.2, 100, 25)
    gap = theory_test_error(alphas, f, keep="hard") - theory_test_error(alphas, f, keep="easy")
    assert np.all(gap[alphas < a_star] > 0)
    assert np.all(gap[alphas > a_star] < 0)


def test_vectorised_over_alpha():
    alpha = np.array([[1.0, 2.0], [4.0, 8.0]])
    err = theory_test_error(alpha, 0.5, keep="easy")
    assert err.shape == (2, 2)
    assert err[0, 1] == pytest.approx(theory_test_error(2.0, 0.5, keep="easy"))
    assert isinstance(theory_test_error(2.0, 0.5), float)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"alpha_total": -1.0, "fraction": 0.5}, "alpha_total"),
        ({"alpha_total": 1.0, "fraction": 0.0}, "fraction"),
        ({"alpha_total": 1.0, "fraction": 0.5, "keep": "middle"}, "keep"),
        ({"alpha_total": 1.0, "fraction": 0.5, "angle": 2.0}, "angle"),
    ],
)
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        theory_test_error(**kwargs)
