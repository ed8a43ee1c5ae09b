"""
=====================================================================
Pruning theory for the perceptron: keep easy or hard examples?
=====================================================================

Sorscher et al. (2022) study data pruning where it can be solved exactly: a teacher
perceptron labels Gaussian inputs, a pruning metric (a probe perceptron) ranks them by
margin, and a max-margin student learns from the kept fraction ``f``. Their replica theory
predicts the student's test error as a function of ``α_tot`` (examples per dimension
before pruning), ``f`` and whether the hardest (smallest-margin) or easiest rows are kept.

This example puts :func:`skinfluence.toy.theory_test_error` beside simulations
(:func:`skinfluence.toy.simulate_test_error`: :func:`~skinfluence.toy.make_teacher_student`,
:class:`~skinfluence.toy.MarginScorer` and :class:`~skinfluence.toy.PerceptronStudent`),
as in the paper's Fig. 1: points are means over seeds with standard errors, lines the
theory. Its findings show: keeping **easy** rows is better when data are scarce, keeping
**hard** rows when they are abundant — the rule :func:`~skinfluence.toy.crossover_alpha`
locates (``keep="auto"`` followed it until measurement on real and noisy data favoured
coverage-centric selection, see :ref:`pruning_strategies`) — and, at a fixed pruned-set
size, keeping the hard rows of a larger pool beats the power law of unpruned learning.

By default the simulation is small (N = 100, 3 seeds: about 20 s); set
``SKINFLUENCE_DOCS_GALLERY=full`` for N = 200 and 6 seeds.
"""

import os
import time

import matplotlib.pyplot as plt
import numpy as np

from skinfluence.toy import crossover_alpha, simulate_test_error, theory_test_error

FULL = os.environ.get("SKINFLUENCE_DOCS_GALLERY") == "full"
N_FEATURES, N_SEEDS = (200, 6) if FULL else (100, 3)
FRACTIONS = (0.2, 0.5, 0.8)
ALPHA_SIM = np.array([1.0, 2.0, 4.0, 8.0, 16.0])
ALPHA_THEORY = np.geomspace(0.5, 30, 40)
colors = dict(zip(FRACTIONS, ("tab:red", "tab:purple", "tab:blue"), strict=True))

# %%
# Theory and simulation
# ---------------------
start = time.perf_counter()
results = {}
for keep in ("hard", "easy"):
    for f in FRACTIONS:
        errors = simulate_test_error(
            ALPHA_SIM, f, keep=keep, n_features=N_FEATURES, n_seeds=N_SEEDS, random_state=0
        )
        theory = theory_test_error(ALPHA_THEORY, f, keep=keep)
        results[keep, f] = (errors, theory)
no_pruning = theory_test_error(ALPHA_THEORY, 1.0, keep="random")
print(f"N = {N_FEATURES}, {N_SEEDS} seeds: {time.perf_counter() - start:.1f} s")

print(" keep    f  alpha_tot  simulation        theory")
for (keep, f), (errors, _) in results.items():
    at_sim = theory_test_error(ALPHA_SIM, f, keep=keep)
    for a, e, t in zip(ALPHA_SIM, errors, at_sim, strict=True):
        sem = e.std(ddof=1) / np.sqrt(len(e))
        print(f" {keep:4s}  {f:.1f}  {a:9.0f}  {e.mean():.3f} ± {sem:.3f}   {t:.3f}")

# %%
# Test error against the data before pruning
# ------------------------------------------
# Left: keep the hardest rows; middle: the easiest. Grey: no pruning. At small ``α_tot``
# the easy rows win (a few clear examples say more than a few ambiguous ones); at large
# ``α_tot`` the hard rows win. Right: the same keep-hard theory against the size of the
# *pruned* set ``α_prune = f α_tot``, the paper's Fig. 1A axis: the smaller ``f`` (the
# larger the pool it is taken from), the lower the error at the same pruned size. Each
# keep-hard curve drops sharply near ``α_prune ≈ 2``, the perceptron's capacity: fewer
# than about 2N rows from the thin slab around the teacher's boundary can be separated
# by many wrong directions, more of them only by directions close to the teacher.
fig, axes = plt.subplots(1, 3, figsize=(13, 4.2), layout="constrained")
axes[1].sharey(axes[0])
for ax, keep in zip(axes[:2], ("hard", "easy"), strict=True):
    ax.plot(ALPHA_THEORY, no_pruning, color="grey", lw=1, label="f = 1 (theory)")
    for f in FRACTIONS:
        errors, theory = results[keep, f]
        sem = errors.std(axis=1, ddof=1) / np.sqrt(N_SEEDS)
        ax.plot(ALPHA_THEORY, theory, color=colors[f], label=f"f = {f} (theory)")
        ax.errorbar(
            ALPHA_SIM, errors.mean(axis=1), yerr=sem, fmt="o", color=colors[f], ms=4, capsize=2
        )
        if keep == "hard":
            ax.axvline(crossover_alpha(f), color=colors[f], ls=":", lw=1)
    ax.set(
        xscale="log",
        yscale="log",
        xlabel=r"$\alpha_{tot}$ = examples / dimension",
        ylabel="test error",
        title=f"keep {keep} (points: N = {N_FEATURES})",
    )
axes[0].legend(fontsize=8)
axes[0].text(
    0.02, 0.02, "dotted: crossover, hard wins to the right", fontsize=8, transform=axes[0].transAxes
)

ax = axes[2]
alpha_prune = np.geomspace(0.5, 10, 30)
ax.plot(
    alpha_prune,
    theory_test_error(alpha_prune, 1.0, keep="random"),
    color="grey",
    label="no pruning (power law)",
)
for f in (0.1, 0.2, 0.5):
    ax.plot(
        alpha_prune, theory_test_error(alpha_prune / f, f, keep="hard"), label=f"keep hard, f = {f}"
    )
ax.set(
    xscale="log",
    yscale="log",
    xlabel=r"$\alpha_{prune} = f\,\alpha_{tot}$",
    ylabel="test error",
    title="keep hard vs pruned-set size",
)
ax.legend(fontsize=8)
plt.show()
