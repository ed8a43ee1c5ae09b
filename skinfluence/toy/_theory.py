"""Replica theory of data pruning for the perceptron (Sorscher et al. 2022, appendix).

Setting: teacher ``T`` and inputs ``x ~ N(0, I_N)``, labels ``sign(T·x)``; a probe ``J_p`` at
angle θ to ``T`` ranks the ``P_tot = α_tot N`` examples by the margin ``|z|``, ``z = Ĵ_p·x``;
"hard" keeps the fraction ``f`` with the smallest ``|z|``, "easy" the largest; the student is
the **max-margin** perceptron on the ``P = f α_tot N`` kept examples, the solution the
paper's theory assumes (its Gardner volume shrinks to a point, q → 1). Its test error on
unpruned data is ``ε = arccos(R)/π`` with ``R`` the student-teacher overlap.

Saddle point (replica symmetric, q → 1)
---------------------------------------
In the plane of ``T̂`` and ``Ĵ_p`` write the teacher field ``t = T̂·x`` and the field ``w``
along the unit vector orthogonal to ``T̂`` in that plane; the student is
``Ĵ = R T̂ + Q ê_w + s ê_⊥`` with ``s² = 1 − R² − Q²``. With
``a = κ − R|t| − Q sign(t) w`` and ``u ~ N(0, 1)`` the field along ``ê_⊥`` (untouched by
pruning), the Gardner free energy at margin κ is, as q → 1,
``G ≈ F(R, Q, κ) / (2(1 − q))`` with::

    F(R, Q, κ) = s² − α_tot ∫_kept Dz Dv  E_u[(a − s u)₊²]
    E_u[(a − s u)₊²] = (a² + s²) Φ(a/s) + a s φ(a/s)

(``z`` and ``v`` are the probe field and its orthogonal partner in the plane, independent
standard normals before pruning; the integral runs over the kept ``z`` only, so it carries
the pruning and equals ``f`` times the average over the kept examples). Solutions with
margin κ exist while ``max_{R,Q} F > 0``: the max-margin student has
``κ_max = max_{R,Q} κ*(R, Q)`` with ``F(R, Q, κ*) = 0``, and its ``(R, Q)`` is the argmax;
the stationarity conditions are the paper's saddle-point equations

    R = α_tot ∫_kept E_u[(a − s u)₊] |t| + R Φ(a/s),
    Q = α_tot ∫_kept E_u[(a − s u)₊] sign(t) w + Q Φ(a/s),
    s² = α_tot ∫_kept E_u[(a − s u)₊²].

For a perfect probe (θ = 0), ``w`` decouples and ``Q = 0``: one overlap, one margin.

What is and is not reproduced
-----------------------------
Only the paper's main text was at hand, not its appendix, so these equations were
re-derived from the paper's setting in the replica-symmetric ansatz it uses; they are not
checked symbol by symbol against the appendix. What they are checked against
(``tests/toy``, ``benchmarks/bench_toy.py``):

* without pruning (f = 1) they give the classical max-margin learning curve,
  ``ε α → 0.5005`` as α → ∞ (Opper, Kinzel, Kleinz & Nehl 1990);
* simulations of the max-margin student at N = 200 agree within issue 7's bar,
  max(0.02, 2 standard errors), on a grid of α_tot ∈ [1, 16] and f ∈ {0.2, 0.5, 0.8}
  for keep-hard and keep-easy with a perfect probe, and at θ = 0.3 rad;
* the paper's findings come out: keep-easy wins at small α_tot, keep-hard at large (one
  crossing, :func:`crossover_alpha`); at a fixed pruned size ``α_prune = f α_tot``,
  keep-hard from a larger pool (smaller f) beats the unpruned power law ``ε ≈ 0.5/α``
  by a growing factor; an imperfect probe (θ > 0) delays keep-hard's gain at small f
  (θ = 0.3, f = 0.1, α_tot = 32: ε = 0.37 against 0.016 with θ = 0), and keep-easy's
  error levels off at the floor θ/π (θ = 0.3, f = 0.3: 0.0999, 0.0976, 0.0961 at
  α_tot = 32, 128, 500; θ/π = 0.0955).

Not reproduced: the paper's Pareto frontier over f and its exponential decay. In these
equations, with a perfect probe, keep-hard at a fixed pruned size ``α_prune = f α_tot``
has a sharp transition near ``α_prune ≈ 2`` (the perceptron's capacity: the kept rows lie
in a slab of width ~f around the teacher's boundary, and more than 2N of them can only be
separated near the teacher) almost independently of f, and above it ε ≈ 0.5 f / α_prune;
a minimum over every f therefore has no floor (measured: α_prune = 4 gives ε = 1.3e-5 at
f = 1e-4), so the paper's exponential frontier must bound f or α_tot in a way not
recovered here. The paper's own figure values were not compared number by number.
Numerically, θ = 0 is converged to ~1e-8 in ε at every α_tot tried (up to 1e5); θ > 0
uses a fixed 48 × 96 grid in the probe plane, converged to < 1e-6 in ε while ε > 5e-3,
but only to ~5% relative at ε ≈ 1e-3 (α_tot = 500, θ = 0.3).
"""

import numpy as np
from scipy.optimize import brentq, minimize, minimize_scalar, root
from scipy.special import ndtr
from scipy.stats import norm

_SQRT_2PI = np.sqrt(2.0 * np.pi)
# Quadrature: Gauss-Legendre on [0, Z_MAX] (fields beyond 12 standard deviations carry
# < 1e-32 of the mass) with enough nodes that the learning curves are converged to 1e-8.
_Z_MAX = 12.0
_N_PANELS = 10
_NODES_PER_PANEL = 24
_N_NODES_2D = 48


def _phi(x):
    return np.exp(-0.5 * x * x) / _SQRT_2PI


def pruning_threshold(fraction, keep):
    """Margin threshold γ on ``|z|`` that keeps ``fraction`` of Gaussian examples.

    "hard" keeps ``|z| < γ`` (``1 − 2H(γ) = f``), "easy" keeps ``|z| > γ`` (``2H(γ) = f``),
    where ``H`` is the Gaussian tail function.

    Parameters
    ----------
    fraction : float
        Fraction ``f`` in (0, 1] of the examples kept.
    keep : {"hard", "easy"}
        Keep the smallest margins ("hard") or the largest ("easy").

    Returns
    -------
    gamma : float
        The threshold γ ≥ 0.

    See Also
    --------
    theory_test_error : The test error after pruning at this threshold.

    Examples
    --------
    >>> from skinfluence.toy import pruning_threshold
    >>> round(pruning_threshold(0.5, "easy"), 4)  # the median of |z|
    0.6745
    """
    if keep == "hard":
        return float(norm.isf((1.0 - fraction) / 2.0))
    return float(norm.isf(fraction / 2.0))


def _legendre(lo, hi, n):
    x, w = np.polynomial.legendre.leggauss(n)
    lo, hi = np.asarray(lo, float), np.asarray(hi, float)
    mid, half = (hi + lo) / 2.0, (hi - lo) / 2.0
    return mid[..., None] + half[..., None] * x, half[..., None] * w


def _panels(lo, hi):
    """Composite Gauss-Legendre nodes on [lo, hi] with panels geometric from ``lo``: the
    integrands vary on the scale of the student's margin κ and of s = sin β near the
    smallest kept field, both of which shrink with α (to 1e-3 and below), so every scale
    from 1e-9 to 1 gets its own panels."""
    edges = lo + np.concatenate([[0.0], np.geomspace(1e-9, 1.0, _N_PANELS), [_Z_MAX]])
    edges = np.unique(np.clip(edges, lo, hi))
    z, w = _legendre(edges[:-1], edges[1:], _NODES_PER_PANEL)
    return z.ravel(), w.ravel()


def _kept_nodes(fraction, keep, angle):
    """Quadrature nodes ``(|t|, sign(t) w, weight)`` of the kept measure (half-plane z > 0,
    doubled by the symmetry (z, v) → (−z, −v)); the weights sum to ``fraction``."""
    if keep == "random" or fraction >= 1.0:
        z_lo, z_hi = 0.0, _Z_MAX
    elif keep == "hard":
        z_lo, z_hi = 0.0, pruning_threshold(fraction, keep)
    else:
        z_lo, z_hi = pruning_threshold(fraction, keep), np.inf
    if angle == 0.0:
        z, wz = _panels(z_lo, min(z_hi, z_lo + _Z_MAX))
    else:  # the student's boundary is not aligned with z: uniform resolution in z
        z, wz = _legendre(z_lo, min(z_hi, z_lo + _Z_MAX), _N_NODES_2D)
    wz = 2.0 * wz * _phi(z)
    if keep == "random" and fraction < 1.0:
        wz = wz * fraction  # random pruning thins the measure uniformly
    if angle == 0.0:
        return z, np.zeros_like(z), wz
    c, s = np.cos(angle), np.sin(angle)
    # t = c z − s v > 0  <=>  v < z c / s: split the v integral at the sign change of t.
    v0 = np.clip(z * c / s, -_Z_MAX, _Z_MAX)
    v_lo, w_lo = _legendre(np.full_like(z, -_Z_MAX), v0, _N_NODES_2D)
    v_hi, w_hi = _legendre(v0, np.full_like(z, _Z_MAX), _N_NODES_2D)
    v = np.concatenate([v_lo, v_hi], axis=1)
    wv = np.concatenate([w_lo, w_hi], axis=1) * _phi(v)
    zz = np.broadcast_to(z[:, None], v.shape)
    t = c * zz - s * v
    w = s * zz + c * v
    sign_t = np.where(t >= 0, 1.0, -1.0)
    weight = wz[:, None] * wv
    return np.abs(t).ravel(), (sign_t * w).ravel(), weight.ravel()


class _SaddlePoint:
    """``F(R, Q, κ)`` and the max-margin ``κ*(R, Q)`` on fixed quadrature nodes."""

    def __init__(self, alpha_total, fraction, keep, angle):
        self.alpha = alpha_total
        self.abs_t, self.signed_w, self.weight = _kept_nodes(fraction, keep, angle)

    def _moments(self, R, Q, kappa):
        s2 = max(1.0 - R * R - Q * Q, 1e-300)
        s = np.sqrt(s2)
        a = kappa - R * self.abs_t - Q * self.signed_w
        c = a / s
        cdf, pdf = ndtr(c), _phi(c)
        m1 = a * cdf + s * pdf  # E_u[(a − s u)₊]
        m2 = (a * a + s2) * cdf + a * s * pdf  # E_u[(a − s u)₊²]
        return s2, m1, m2, cdf

    def F(self, R, Q, kappa):
        s2, _, m2, _ = self._moments(R, Q, kappa)
        return s2 - self.alpha * np.dot(self.weight, m2)

    def kappa_star(self, R, Q):
        """The margin at which solutions with overlaps (R, Q) cease to exist."""
        lo, hi = -1.0, 1.0
        while self.F(R, Q, lo) <= 0:
            lo *= 2.0
        while self.F(R, Q, hi) > 0:
            hi *= 2.0
        return brentq(lambda k: self.F(R, Q, k), lo, hi, xtol=1e-13, rtol=1e-13)

    def stationarity(self, R, Q, kappa):
        """Residuals of the saddle-point equations (zero at the solution)."""
        s2, m1, m2, cdf = self._moments(R, Q, kappa)
        w = self.weight * self.alpha
        return np.array(
            [
                R - np.dot(w, m1 * self.abs_t + R * cdf),
                Q - np.dot(w, m1 * self.signed_w + Q * cdf),
                s2 - np.dot(w, m2),
            ]
        )


def solve_saddle_point(alpha_total, fraction, *, keep="hard", angle=0.0, start=None):
    """Solve for the overlaps and margin ``(R, Q, κ)`` of the max-margin student at one α_tot.

    Parameters
    ----------
    alpha_total : float
        Examples per dimension before pruning, ``α_tot = P_tot / N`` (> 0).
    fraction : float
        Fraction ``f`` in (0, 1] of the examples kept.
    keep : {"hard", "easy", "random"}, default="hard"
        Which examples the probe keeps (as in :func:`theory_test_error`).
    angle : float, default=0.0
        Probe-teacher angle θ (radians, in [0, π/2)).
    start : tuple of 3 floats, default=None
        An initial ``(R, Q, κ)`` for θ > 0; None: the perfect-probe (θ = 0) solution.

    Returns
    -------
    R : float
        Student-teacher overlap (test error ``arccos(R)/π``).
    Q : float
        Overlap with the probe's direction orthogonal to the teacher (0 for θ = 0).
    kappa : float
        The student's maximal margin, for inputs of unit variance per component.

    See Also
    --------
    theory_test_error : The test error ``arccos(R)/π`` over several α_tot.

    Examples
    --------
    >>> from skinfluence.toy import solve_saddle_point
    >>> R, Q, kappa = solve_saddle_point(4.0, 0.5, keep="hard")
    >>> bool(0 < R < 1), Q
    (True, 0.0)
    """
    sp = _SaddlePoint(float(alpha_total), float(fraction), keep, float(angle))
    # The student's direction in spherical angles: R = cos β cos ψ, Q = cos β sin ψ,
    # s = sin β. Optimising over log β resolves the tiny errors of large α_tot.
    if angle == 0.0:
        res = minimize_scalar(
            lambda log_beta: -sp.kappa_star(np.cos(np.exp(log_beta)), 0.0),
            bounds=(np.log(1e-12), np.log(np.pi / 2)),
            method="bounded",
            options={"xatol": 1e-9},
        )
        R = float(np.cos(np.exp(res.x)))
        return R, 0.0, sp.kappa_star(R, 0.0)

    if start is None:
        R0, _, kappa0 = solve_saddle_point(alpha_total, fraction, keep=keep, angle=0.0)
        start = (R0, 0.0, kappa0)

    def overlaps(p):
        beta = np.exp(p[0])
        return np.cos(beta) * np.cos(p[1]), np.cos(beta) * np.sin(p[1])

    R0, Q0, kappa0 = start
    beta0 = max(np.arccos(min(np.hypot(R0, Q0), 1.0)), 1e-9)
    p0 = np.array([np.log(beta0), np.arctan2(Q0, R0), kappa0])
    # The saddle-point equations, solved by Powell's hybrid method from the perfect-probe
    # (or previous α's) solution; they are the stationarity conditions of κ*(R, Q).
    res = root(
        lambda p: sp.stationarity(*overlaps(p[:2]), p[2]),
        p0,
        method="hybr",
        options={"xtol": 1e-12},
    )
    R, Q = overlaps(res.x[:2])
    # A stationary point that is not the maximum of κ* (a saddle) has a margin below the
    # starting point's: then, as on failure, maximise κ* directly.
    is_max = res.x[2] >= sp.kappa_star(*overlaps(p0[:2])) - 1e-12
    if not (res.success and is_max) or np.max(np.abs(sp.stationarity(R, Q, res.x[2]))) > 1e-7:
        res = minimize(  # fall back on maximising κ* directly (slower, always converges)
            lambda p: -sp.kappa_star(*overlaps(p)),
            p0[:2],
            method="Nelder-Mead",
            options={"xatol": 1e-8, "fatol": 1e-14, "maxiter": 2000},
        )
        R, Q = overlaps(res.x)
        return float(R), float(Q), float(-res.fun)
    return float(R), float(Q), float(res.x[2])


def theory_test_error(alpha_total, fraction, *, keep="hard", angle=0.0):
    """Test error of the max-margin perceptron trained on a pruned teacher-student set.

    Parameters
    ----------
    alpha_total : float or array-like
        Examples per dimension *before* pruning, ``α_tot = P_tot / N`` (> 0).
    fraction : float
        Fraction ``f`` in (0, 1] of the examples kept.
    keep : {"hard", "easy", "random"}, default="hard"
        Which examples the probe keeps: "hard" the smallest margins ``|J_p·x|``, "easy" the
        largest, "random" a uniform subset (plain learning curve at ``α = f α_tot``).
    angle : float, default=0.0
        Angle θ (radians, in [0, π/2)) between the probe and the teacher: 0 is a perfect
        pruning metric.

    Returns
    -------
    error : float or ndarray
        ``arccos(R)/π``, same shape as ``alpha_total``.

    Notes
    -----
    See the module docstring for the equations and for what is and is not reproduced.
    Cost per α: about 30 maximisation steps, each a root search for ``κ*`` over a
    quadrature of ≤ 240 nodes (θ = 0); for θ > 0 a Powell hybrid solve of the three
    equations on 48 × 96 nodes, about 100× the work. Memory: O(nodes). Timings: the user
    guide's pruning section.

    References
    ----------
    Sorscher, Geirhos, Shekhar, Ganguli, Morcos, "Beyond neural scaling laws: beating power
    law scaling via data pruning", NeurIPS 2022, appendix A.
    Gardner, "The space of interactions in neural network models", J. Phys. A 21, 1988.

    See Also
    --------
    simulate_test_error : The same experiment run with finite N (Monte Carlo).
    crossover_alpha : Where keeping hard examples starts to beat keeping easy ones.

    Examples
    --------
    >>> from skinfluence.toy import theory_test_error
    >>> err = theory_test_error([1.0, 8.0], 0.2, keep="hard")
    >>> err.shape
    (2,)
    >>> bool(err[1] < err[0])
    True
    """
    alpha = np.asarray(alpha_total, dtype=np.float64)
    _check_theory_args(alpha, fraction, keep, angle)
    flat = alpha.ravel()
    R = np.empty(len(flat))
    for i, a in enumerate(flat):  # each α starts from its own perfect-probe solution
        R[i] = solve_saddle_point(a, fraction, keep=keep, angle=angle)[0]
    R = R.reshape(alpha.shape)
    err = np.arccos(np.clip(R, -1.0, 1.0)) / np.pi
    return float(err) if err.ndim == 0 else err


def crossover_alpha(fraction, *, angle=0.0):
    """The α_tot above which keeping hard examples beats keeping easy ones.

    Root of ``theory_test_error(α, f, keep="hard") = theory_test_error(α, f, keep="easy")``
    for ``0 < f < 1``; keep-easy has the lower error below it, keep-hard above (a single
    crossing, checked on a grid in the tests). Empirically ``α* ≈ 2 / min(f, 1 − f)``:
    keep-hard wins once about 2N hard examples are kept (f small) or about 2N easy ones
    are discarded (f near 1); the minimum, α* ≈ 4.9, is near f = 0.6.

    Parameters
    ----------
    fraction : float
        Fraction kept, in (0, 1).
    angle : float, default=0.0
        Probe-teacher angle (radians).

    Returns
    -------
    alpha_star : float
        The crossover α_tot.

    See Also
    --------
    theory_test_error : The two curves that cross here.

    Notes
    -----
    Cost: a Brent root search, about 15 pairs of :func:`theory_test_error` evaluations.
    ``skinfluence.selection._auto_rule`` stores a table of it.

    Examples
    --------
    >>> from skinfluence.toy import crossover_alpha
    >>> round(crossover_alpha(0.5), 2)
    5.05
    """
    f = float(fraction)
    if not (0.0 < f < 1.0):
        raise ValueError(f"fraction must be in (0, 1) for a crossover; got {fraction!r}.")

    def gap(log_alpha):
        a = float(np.exp(log_alpha))
        hard = theory_test_error(a, f, keep="hard", angle=angle)
        return hard - theory_test_error(a, f, keep="easy", angle=angle)

    lo, hi = np.log(0.5), np.log(20.0 / min(f, 1.0 - f))
    if not (gap(lo) > 0 > gap(hi)):
        raise RuntimeError(f"no hard/easy crossover bracketed for fraction={f}, angle={angle}.")
    return float(np.exp(brentq(gap, lo, hi, xtol=1e-10)))


def _check_theory_args(alpha, fraction, keep, angle):
    if not np.all(np.isfinite(alpha)) or np.any(alpha <= 0):
        raise ValueError(f"alpha_total must be finite and > 0; got {alpha!r}.")
    if not (0.0 < float(fraction) <= 1.0):
        raise ValueError(f"fraction must be in (0, 1]; got {fraction!r}.")
    if keep not in ("hard", "easy", "random"):
        raise ValueError(f"keep must be 'hard', 'easy' or 'random'; got {keep!r}.")
    if not (0.0 <= float(angle) < np.pi / 2):
        raise ValueError(f"angle must be in [0, π/2) radians; got {angle!r}.")


__all__ = ["crossover_alpha", "pruning_threshold", "solve_saddle_point", "theory_test_error"]
