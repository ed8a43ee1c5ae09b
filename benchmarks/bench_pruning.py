"""Pruning curves: held-out accuracy against the number of kept training rows, per strategy.

For each data set, seed and difficulty score, a model is trained on the rows each rule of
``PruningSelector`` keeps ("easy", "hard", "moderate", "coverage"; class-balanced) at each
fraction, and on ``N_RANDOM`` random subsets of the same size (the chance baseline, mean and
sd), then scored on held-out rows. "auto" is the rule ``keep="auto"`` resolves to at each
fraction (``auto_keep``) and "theory" the teacher-student rule ``choose_keep`` (easy or
hard), read off the curves of those rules. The scaling exponent ν of each
curve is the slope of log(test error) against log(kept rows) over the fractions < 1 (a
power law, error ∝ n^-ν; Sorscher et al. 2022 claim that a good pruning rule beats random's
exponent).

Data sets:
- digits (bundled, 1 797 rows, 64 features, 70/30 split), standardised LogisticRegression;
  scores: EL2N (LogisticRegression probe, 10 lbfgs iterations) and per-class prototypes.
- make_classification, 50 000 training and 10 000 test rows (20 features, 10 informative,
  two clusters per class, 1 % flipped labels), HistGradientBoostingClassifier (50
  iterations, learning rate 0.2: a model that can fit the clusters; two seeds); scores:
  EL2N (HGB probe of 10 iterations) and per-class prototypes.
- the perceptron teacher-student data of ``skinfluence.toy`` (50 features, 20 000 training
  rows, α = 400, 5 000 test rows; realizable, the theory's setting), LogisticRegression;
  score: EL2N.

Printed: one table per data set (accuracy mean over seeds, ν per curve), then a summary:
the best rule at f = 0.5 against all rows, and, per rule, its worst margin over random
across fractions. ``--quick``: one seed, a 20 000-row synthetic set. ``--calibrate``: the
sweep of coverage's hard cutoff β behind ``default_hard_cutoff``. Scores are computed on the
training rows only. Run with ``OMP_NUM_THREADS=1`` on a shared machine (gradient boosting's
threads otherwise fight the other processes).
"""

import argparse
import time

import numpy as np
from sklearn.datasets import load_digits, make_classification
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skinfluence import EL2NScorer, PrototypeScorer
from skinfluence.plotting._pruning_curve import pruning_curve
from skinfluence.selection._auto_rule import auto_keep, choose_keep

RULES = ("easy", "hard", "moderate", "coverage")
N_RANDOM = 5
SMALL_FRACTIONS = (0.1, 0.2, 0.3, 0.5, 0.7, 1.0)
LARGE_FRACTIONS = (0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 1.0)


def linear():
    return make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))


def hgb():
    return HistGradientBoostingClassifier(max_iter=50, learning_rate=0.2, random_state=0)


def lr_probe_scorers(seed):
    return {
        "EL2N": EL2NScorer(
            make_pipeline(StandardScaler(), LogisticRegression()),
            n_repeats=1,
            probe_params={"logisticregression__max_iter": 10},
        ),
        "prototypes": PrototypeScorer(n_clusters=4, per_class=True, random_state=seed),
    }


def hgb_probe_scorers(seed):
    return {
        "EL2N": EL2NScorer(
            HistGradientBoostingClassifier(max_iter=10, random_state=seed), n_repeats=1
        ),
        "prototypes": PrototypeScorer(n_clusters=4, per_class=True, random_state=seed),
    }


def digits_split(seed):
    X, y = load_digits(return_X_y=True)
    return train_test_split(X, y, test_size=0.3, stratify=y, random_state=seed)


def synthetic_split(n_train):
    def split(seed):
        X, y = make_classification(
            n_train + 10_000, n_features=20, n_informative=10, random_state=seed
        )
        return train_test_split(X, y, train_size=n_train, stratify=y, random_state=seed)

    return split


def teacher_split(n_train, n_features=50):
    from skinfluence.toy import make_teacher_student

    def split(seed):
        X, y, _ = make_teacher_student(n_train + 5000, n_features, random_state=seed)
        return train_test_split(X, y, train_size=n_train, stratify=y, random_state=seed)

    return split


def datasets(quick):
    yield "digits", digits_split, linear, lr_probe_scorers, SMALL_FRACTIONS
    n_syn = 20_000 if quick else 50_000
    yield (
        f"make_classification n={n_syn}",
        synthetic_split(n_syn),
        hgb,
        hgb_probe_scorers,
        (LARGE_FRACTIONS),
    )
    if True:  # cheap (logistic regression): in --quick too

        def el2n_only(seed):
            return {"EL2N": lr_probe_scorers(seed)["EL2N"]}

        yield (
            "teacher-student n=20000 p=50",
            teacher_split(20_000),
            linear,
            el2n_only,
            (LARGE_FRACTIONS),
        )


def run(split, model, scorers, fractions, seeds):
    """Accuracy per (score, rule): array (n_seeds, n_fractions); random: (n_seeds·N, n_f)."""
    acc, random_acc, full, seconds = {}, [], [], {}
    for seed in seeds:
        X_train, X_test, y_train, y_test = split(seed)
        full.append(model().fit(X_train, y_train).score(X_test, y_test))
        for i, (score_name, scorer) in enumerate(scorers(seed).items()):
            start = time.perf_counter()
            scores = scorer.fit(X_train, y_train).scores_
            seconds.setdefault(score_name, []).append(time.perf_counter() - start)
            _, curves, random_scores = pruning_curve(
                model(), X_train, y_train, scores, X_test, y_test, fractions=fractions,
                keep=RULES, n_repeats=N_RANDOM if i == 0 else 1, random_state=seed,
            )  # fmt: skip
            if i == 0:  # the random draws do not depend on the score: drawn once per seed
                random_acc.append(random_scores)
            for rule in RULES:
                acc.setdefault((score_name, rule), []).append(curves[rule])
    shape = (len(y_train), X_train.shape[1])
    return (
        {k: np.asarray(v) for k, v in acc.items()},
        np.concatenate(random_acc),
        float(np.mean(full)),
        {k: float(np.mean(v)) for k, v in seconds.items()},
        shape,
    )


def exponent(n_kept, accuracy):
    """ν of error ∝ n^-ν, least squares in log-log over the fractions < 1."""
    mask = n_kept < n_kept.max()
    err = np.clip(1.0 - np.asarray(accuracy)[mask], 1e-4, None)
    return -np.polyfit(np.log(n_kept[mask]), np.log(err), 1)[0]


def rule_curve(acc, score_name, n, p, fractions, rule_of):
    rules = [rule_of(n, p, f) if f < 1 else "easy" for f in fractions]
    curve = np.array([acc[(score_name, r)].mean(axis=0)[j] for j, r in enumerate(rules)])
    return curve, rules


def report(name, result, fractions, n_seeds):
    acc, random_acc, full, seconds, (n, p) = result
    n_kept = np.array([round(f * n) for f in fractions])
    rand = random_acc.mean(axis=0)
    print(f"\n### {name} (n = {n}, p = {p}; mean of {n_seeds} seed(s); all rows: {full:.3f})\n")
    print("| score | keep | " + " | ".join(f"{k}" for k in n_kept) + " | ν |")
    print("|---|---|" + "---|" * (len(n_kept) + 1))
    sd = random_acc.std(axis=0, ddof=1)
    cells = " | ".join(f"{m:.3f} ± {s:.3f}" for m, s in zip(rand, sd, strict=True))
    print(f"| — | random ({N_RANDOM} draws/seed, ± sd) | {cells} | {exponent(n_kept, rand):.2f} |")
    rows = {("—", "random"): rand}
    for score_name in dict.fromkeys(k[0] for k in acc):
        curves = {rule: acc[(score_name, rule)].mean(axis=0) for rule in RULES}
        picks = {}
        curves["auto"], picks["auto"] = rule_curve(acc, score_name, n, p, fractions, auto_keep)
        curves["theory"], picks["theory"] = rule_curve(
            acc, score_name, n, p, fractions, choose_keep
        )
        for rule, values in curves.items():
            rows[(score_name, rule)] = values
            label = f"{score_name} ({seconds[score_name]:.2f} s)"
            extra = f" ({'/'.join(sorted(set(picks[rule][:-1])))})" if rule in picks else ""
            print(
                f"| {label} | {rule}{extra} | "
                + " | ".join(f"{v:.3f}" for v in values)
                + f" | {exponent(n_kept, values):.2f} |"
            )
    return rows, full, rand


def summary(all_rows, fractions_of):
    print("\n### Summary\n")
    print(
        "Best rule at f = 0.5 and its gap to all rows; per rule, the worst margin over the "
        "random mean across fractions < 1 (negative = below random somewhere).\n"
    )
    print("| data | best at f=0.5 | gap to all rows | worst margin over random (rule: value) |")
    print("|---|---|---|---|")
    for name, (rows, full, rand) in all_rows.items():
        fractions = fractions_of[name]
        j = fractions.index(0.5)
        mask = np.asarray(fractions) < 1
        best = max((k for k in rows if k[1] != "random"), key=lambda k: rows[k][j])
        margins = ", ".join(
            f"{k[0]} {k[1]}: {np.min((rows[k] - rand)[mask]):+.3f}"
            for k in rows
            if k[1] != "random"
        )
        print(
            f"| {name} | {best[0]} {best[1]} ({rows[best][j]:.3f}) | "
            f"{rows[best][j] - full:+.3f} | {margins} |"
        )


CUTOFFS = (0.0, 0.01, 0.05, 0.1, 0.2, None)


def calibrate(quick):
    """``--calibrate``: coverage's hard cutoff β against random and hard, EL2N scores; the
    measurement behind ``default_hard_cutoff`` and ``choose_keep``."""
    from skinfluence.selection._strategies import default_hard_cutoff

    seeds = (0,) if quick else (0, 1)
    print("\n### Calibration: keep='coverage' with hard cutoff β (EL2N; accuracy, mean of "
          f"{len(seeds)} seed(s)); None = default_hard_cutoff(f)\n")  # fmt: skip
    for name, split, model, scorers, fractions in datasets(quick):
        fractions = [f for f in fractions if f < 1]
        rows = {}
        for seed in seeds:
            X_train, X_test, y_train, y_test = split(seed)
            scores = scorers(seed)["EL2N"].fit(X_train, y_train).scores_
            for beta in CUTOFFS:
                _, curves, _ = pruning_curve(
                    model(), X_train, y_train, scores, X_test, y_test, fractions=fractions,
                    keep=["coverage"] if beta is not None else ["coverage", "hard", "easy"],
                    hard_cutoff=beta, n_repeats=3 if beta is None else 1, random_state=seed,
                )  # fmt: skip
                rows.setdefault(f"coverage β={beta}", []).append(curves["coverage"])
                if beta is None:
                    for rule in ("hard", "easy", "random"):
                        rows.setdefault(rule, []).append(curves[rule])
        print(f"{name}\n\n| keep | " + " | ".join(f"f={f}" for f in fractions) + " |")
        print("|---|" + "---|" * len(fractions))
        print("| (default β) | " + " | ".join(f"{default_hard_cutoff(f):.2f}" for f in fractions)
              + " |")  # fmt: skip
        for label, values in rows.items():
            cells = " | ".join(f"{v:.3f}" for v in np.mean(values, axis=0))
            print(f"| {label} | {cells} |", flush=True)
        print()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one seed, smaller sets")
    parser.add_argument(
        "--calibrate", action="store_true", help="the hard-cutoff sweep behind the defaults"
    )
    args = parser.parse_args()
    if args.calibrate:
        calibrate(args.quick)
        return
    seeds = (0,) if args.quick else (0, 1, 2)
    all_rows, fractions_of = {}, {}
    total = time.perf_counter()
    for name, split, model, scorers, fractions in datasets(args.quick):
        start = time.perf_counter()
        # the 50 000-row gradient-boosting set: two seeds (it is most of the run time)
        data_seeds = seeds[:2] if name.startswith("make_classification") else seeds
        result = run(split, model, scorers, fractions, data_seeds)
        all_rows[name] = report(name, result, fractions, len(data_seeds))
        fractions_of[name] = fractions
        print(f"\n({time.perf_counter() - start:.0f} s)", flush=True)
    summary(all_rows, fractions_of)
    print(f"\ntotal {time.perf_counter() - total:.0f} s")


if __name__ == "__main__":
    main()
