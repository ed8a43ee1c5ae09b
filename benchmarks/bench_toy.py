"""Teacher-student pruning curves: replica theory beside simulation, and what they cost.

For keep-hard and keep-easy pruning with a perfect probe (θ = 0) and an imperfect one
(θ = 0.3 rad), at fractions f = 0.2, 0.5, 0.8 and α_tot = 1 ... 16, prints the max-margin
student's test error from ``skinfluence.toy.theory_test_error`` and from simulation
(``simulate_test_error``: N = 200, mean ± standard error over seeds), the difference in
units of the issue-7 bar max(0.02, 2 SE), the α_tot at which keep-hard starts to win
(``crossover_alpha``, the ``keep="auto"`` threshold) and the wall time of each part.
``--quick``: 3 seeds, θ = 0 only.
"""

import argparse
import time

import numpy as np

from skinfluence.toy import crossover_alpha, simulate_test_error, theory_test_error

ALPHAS = np.array([1.0, 2.0, 4.0, 8.0, 16.0])
FRACTIONS = (0.2, 0.5, 0.8)


def run(angles, n_seeds, n_features):
    worst = dict.fromkeys(angles, 0.0)
    for angle in angles:
        print(f"\n## probe angle θ = {angle} rad, N = {n_features}, {n_seeds} seeds")
        print(
            "| keep | f | α_tot | simulation | theory | |sim − theory| / bar | "
            "theory s/curve | simulation s/curve |"
        )
        print("|---|---|---|---|---|---|---|---|")
        for keep in ("hard", "easy"):
            for f in FRACTIONS:
                t0 = time.perf_counter()
                theory = theory_test_error(ALPHAS, f, keep=keep, angle=angle)
                t_theory = time.perf_counter() - t0
                t0 = time.perf_counter()
                errors = simulate_test_error(
                    ALPHAS,
                    f,
                    keep=keep,
                    angle=angle,
                    n_features=n_features,
                    n_seeds=n_seeds,
                    random_state=0,
                )
                t_sim = time.perf_counter() - t0
                mean = errors.mean(axis=1)
                sem = errors.std(axis=1, ddof=1) / np.sqrt(n_seeds)
                ratio = np.abs(mean - theory) / np.maximum(0.02, 2 * sem)
                worst[angle] = max(worst[angle], ratio.max())
                for i, a in enumerate(ALPHAS):
                    times = f"{t_theory:.2f} | {t_sim:.1f}" if i == 0 else " | "
                    print(
                        f"| {keep} | {f} | {a:g} | {mean[i]:.4f} ± {sem[i]:.4f} | "
                        f"{theory[i]:.4f} | {ratio[i]:.2f} | {times} |"
                    )
    for angle, value in worst.items():
        print(f"\nWorst |sim − theory| / bar at θ = {angle}: {value:.2f} (issue 7 asks ≤ 1)")


def crossover_table():
    print("\n## keep='auto' threshold: α*(f) above which keep-hard beats keep-easy (θ = 0)")
    print("| f | α*(f) | α*·min(f, 1−f) | seconds |")
    print("|---|---|---|---|")
    for f in (0.1, 0.2, 0.3, 0.5, 0.6, 0.7, 0.8, 0.9):
        t0 = time.perf_counter()
        a_star = crossover_alpha(f)
        print(
            f"| {f} | {a_star:.2f} | {a_star * min(f, 1 - f):.3f} | "
            f"{time.perf_counter() - t0:.2f} |"
        )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 seeds, θ = 0 only")
    parser.add_argument("--n-features", type=int, default=200)
    args = parser.parse_args()
    t0 = time.perf_counter()
    if args.quick:
        run((0.0,), 3, args.n_features)
    else:
        run((0.0, 0.3), 8, args.n_features)
    crossover_table()
    print(f"\nTotal {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
