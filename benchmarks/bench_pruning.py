"""Pruning curves: held-out accuracy against the fraction of training rows kept.

For each data set, seed and difficulty score (EL2N, GraNd, per-class prototypes), a logistic
regression is trained on the rows kept by each rule ("easy": lowest scores, "hard": highest,
"random") at fractions 0.1 ... 1.0, class-balanced (``PruningSelector``'s selection), and
scored on held-out rows. Data: scikit-learn's bundled breast-cancer, wine and digits (70/30
stratified split) and ``make_classification`` (20 features, 10 informative, 1% label noise,
its default) at several training sizes with a fixed 5 000-row test set. Since
make_classification puts each class in two clusters at hypercube vertices (not linearly
separable), the script also runs the realizable case the theory is about: the perceptron
teacher-student data of ``skinfluence.toy.make_teacher_student`` (50 features, α = n/p from 1
to 100, 5 000 test rows from the same teacher).

Printed: one table per data set (mean accuracy over seeds), then a summary: which rule is
best at f = 0.3 and 0.5 (does keep-easy win for small n and keep-hard for large n, as the
teacher-student theory of Sorscher et al. 2022 predicts?), which of EL2N easy/hard wins and
what ``keep="auto"`` (``choose_keep``) would have chosen, and the gap between the best
f = 0.5 curve and training on every row. ``--plot PATH`` saves the PruningCurveDisplay
figure of make_classification and teacher-student data at their smallest and largest sizes
(seed 0). ``--quick``: one seed, fewer sizes. Scores are computed on the training rows only.
"""

import argparse
import time

import numpy as np
from sklearn.datasets import load_breast_cancer, load_digits, load_wine, make_classification
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

from skinfluence import EL2NScorer, GraNdScorer, PrototypeScorer
from skinfluence.plotting._pruning_curve import pruning_curve
from skinfluence.selection._auto_rule import choose_keep

FRACTIONS = (0.1, 0.2, 0.3, 0.5, 0.7, 1.0)
RULES = ("easy", "hard", "random")
SIZES = (100, 300, 1000, 3000, 10000, 30000)
QUICK_SIZES = (100, 1000, 10000)
N_TEST_SYNTHETIC = 5000
TEACHER_FEATURES = 50
ALPHAS = (1, 3, 10, 30, 100)
QUICK_ALPHAS = (3, 30)


def model():
    return LogisticRegression(max_iter=1000)


def scorers(seed):
    """The difficulty scores compared (fitted on standardised training rows)."""
    return {
        # Paul et al.: probes trained briefly; LR with lbfgs is deterministic, so one probe.
        "EL2N": EL2NScorer(LogisticRegression(), n_repeats=1, probe_params={"max_iter": 10}),
        "GraNd": GraNdScorer(LogisticRegression(), n_repeats=1, probe_params={"max_iter": 10}),
        "prototypes": PrototypeScorer(n_clusters=4, per_class=True, random_state=seed),
    }


def datasets(sizes, alphas):
    bundled = {
        "breast_cancer": load_breast_cancer(return_X_y=True),
        "wine": load_wine(return_X_y=True),
        "digits": load_digits(return_X_y=True),
    }
    for name, (X, y) in bundled.items():
        yield (
            name,
            lambda seed, X=X, y=y: train_test_split(
                X, y, test_size=0.3, stratify=y, random_state=seed
            ),
        )
    for n in sizes:

        def split(seed, n=n):
            X, y = make_classification(
                n + N_TEST_SYNTHETIC, n_features=20, n_informative=10, random_state=seed
            )
            return train_test_split(X, y, train_size=n, stratify=y, random_state=seed)

        yield f"synthetic n={n}", split
    try:
        from skinfluence.toy import make_teacher_student
    except ImportError:  # the toy is optional for this benchmark
        return
    for alpha in alphas:
        n = alpha * TEACHER_FEATURES

        def teacher_split(seed, n=n):
            X, y, _ = make_teacher_student(
                n + N_TEST_SYNTHETIC, TEACHER_FEATURES, random_state=seed
            )
            return train_test_split(X, y, train_size=n, stratify=y, random_state=seed)

        yield f"teacher-student α={alpha} (n={n})", teacher_split


def run(name, split, seeds):
    """Mean accuracy per (score, rule) and fraction, plus seconds per score."""
    acc = {}
    seconds = {}
    full = []
    for seed in seeds:
        X_train, X_test, y_train, y_test = split(seed)
        scaler = StandardScaler().fit(X_train)
        X_train, X_test = scaler.transform(X_train), scaler.transform(X_test)
        full.append(model().fit(X_train, y_train).score(X_test, y_test))
        for score_name, scorer in scorers(seed).items():
            start = time.perf_counter()
            scores = scorer.fit(X_train, y_train).scores_
            seconds.setdefault(score_name, []).append(time.perf_counter() - start)
            _, curves = pruning_curve(
                model(), X_train, y_train, scores, X_test, y_test,
                fractions=FRACTIONS, keep=RULES, random_state=seed,
            )  # fmt: skip
            for rule, values in curves.items():
                acc.setdefault((score_name, rule), []).append(values)
    mean = {key: np.mean(values, axis=0) for key, values in acc.items()}
    shape = (len(y_train), X_train.shape[1])
    return mean, float(np.mean(full)), {k: float(np.mean(v)) for k, v in seconds.items()}, shape


def print_table(name, mean, full, seconds, n_seeds):
    print(f"\n### {name} (test accuracy, mean of {n_seeds} seeds; all rows: {full:.3f})\n")
    print("| score | keep | " + " | ".join(f"f={f}" for f in FRACTIONS) + " |")
    print("|---|---|" + "---|" * len(FRACTIONS))
    for (score_name, rule), values in mean.items():
        if rule == "random" and score_name != "EL2N":
            continue  # random ignores the score: one row is enough
        label = "—" if rule == "random" else f"{score_name} ({seconds[score_name]:.2f} s)"
        print(f"| {label} | {rule} | " + " | ".join(f"{v:.3f}" for v in values) + " |")


def summary(results):
    print("\n### Summary\n")
    print(
        "Best (score, rule) at f = 0.3 and 0.5; EL2N easy vs hard at f = 0.3 and 0.5 (accuracy "
        "easy / hard, and what keep='auto' picks); gap of the best f = 0.5 curve to all rows.\n"
    )
    print(
        "| data | n/p | best at f=0.3 | best at f=0.5 | EL2N easy/hard f=0.3 (auto) | "
        "EL2N easy/hard f=0.5 (auto) | best f=0.5 | all rows | gap |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for name, (mean, full, _, (n, p)) in results.items():
        cells = []
        for f in (0.3, 0.5):
            j = FRACTIONS.index(f)
            best = max(mean, key=lambda k, j=j: mean[k][j])
            cells.append(f"{best[0]} {best[1]} ({mean[best][j]:.3f})")
        for f in (0.3, 0.5):
            j = FRACTIONS.index(f)
            easy, hard = mean[("EL2N", "easy")][j], mean[("EL2N", "hard")][j]
            cells.append(f"{easy:.3f} / {hard:.3f} ({choose_keep(n, p, f)})")
        j5 = FRACTIONS.index(0.5)
        best5 = max(mean[k][j5] for k in mean)
        print(
            f"| {name} | {n / p:.0f} | "
            + " | ".join(cells)
            + f" | {best5:.3f} | {full:.3f} | {best5 - full:+.3f} |"
        )


def plot(path, splits):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from skinfluence.plotting import PruningCurveDisplay

    n_rows = -(-len(splits) // 2)
    fig, axes = plt.subplots(n_rows, 2, figsize=(14, 5 * n_rows), squeeze=False)
    for ax, (name, split) in zip(axes.ravel(), splits, strict=False):
        X_train, X_test, y_train, y_test = split(0)
        scaler = StandardScaler().fit(X_train)
        X_train, X_test = scaler.transform(X_train), scaler.transform(X_test)
        for score_name, scorer in scorers(0).items():
            keep = RULES if score_name == "EL2N" else ("easy", "hard")
            PruningCurveDisplay.from_scores(
                model(), X_train, y_train, scorer.fit(X_train, y_train).scores_, X_test, y_test,
                fractions=FRACTIONS, keep=keep, random_state=0, name=score_name, ax=ax,
            )  # fmt: skip
        ax.set_title(name)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    print(f"\nfigure: {path}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one seed, fewer sizes")
    parser.add_argument("--plot", default=None, help="save the PruningCurveDisplay figure here")
    args = parser.parse_args()
    seeds = (0,) if args.quick else (0, 1, 2)
    sizes = QUICK_SIZES if args.quick else SIZES
    alphas = QUICK_ALPHAS if args.quick else ALPHAS
    results = {}
    all_splits = list(datasets(sizes, alphas))
    for name, split in all_splits:
        start = time.perf_counter()
        mean, full, seconds, shape = run(name, split, seeds)
        results[name] = (mean, full, seconds, shape)
        print_table(name, mean, full, seconds, len(seeds))
        print(f"\n({time.perf_counter() - start:.0f} s)", flush=True)
    summary(results)
    if args.plot:
        panels = []
        for prefix in ("synthetic", "teacher"):
            family = [s for s in all_splits if s[0].startswith(prefix)]
            panels += [family[0], family[-1]] if family else []
        plot(args.plot, panels)


if __name__ == "__main__":
    main()
