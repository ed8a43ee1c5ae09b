"""Data cleansing with CleansingSelector: does removing rows beat removing none, and random?

Usage: python benchmarks/bench_cleansing.py [--seeds 10] [--quick] [--settings ...] [--models ...]

Data (synthetic, ``make_classification``: 20 features, 8 informative, 4 classes, one cluster
per class, class_sep 1.5, standardised), per seed a new draw, 500 training and 1000 test rows:

- ``uniform``: 10 % of the training labels flipped to another class uniformly at random;
- ``pair``: 10 % flipped to the next class (c → c+1 mod 4), the systematic confusion of a
  careless annotator;
- ``shift``: no flips, covariate shift between regions of feature space. Each class is two
  clusters (``n_clusters_per_class=2``, so a linear model is misspecified); the target
  region is the top 40 % of the rows along a random direction u (X·u above its 60th
  percentile). Training rows are 25 % target, 75 % from the rest of the space; the
  validation rows (200, used only by "val-infl (clean)") and the test rows are target-only:
  the user's trusted sample of the distribution they will predict on. "flipped among
  removed" is there the share of removed rows from outside the target region (base 0.75).

Models: LogisticRegression (C=1), HistGradientBoostingClassifier with scikit-learn's defaults
(100 iterations, 31 leaves; early stopping "auto" is off below 10 000 rows) as a user would fit
it (``--hgb small``: the earlier 15-iteration, 15-leaf model, which 10 % flips barely hurt) and
MLPClassifier (16 tanh units, L-BFGS, alpha=1e-2), all single-threaded.
Methods (each a CleansingSelector; a ranking is computed once per seed and its first k rows
removed for each k, which is what the selector does at each fraction with n_rounds=1):

- ``combined`` (the default, ``scorer=None``): the audit's combined score, the model's own
  5-fold out-of-fold loss and a 100-tree forest's out-of-bag loss (``CombinedScorer`` with
  family weights);
- ``oof loss``: the model's own 5-fold out-of-fold loss alone (``LossScorer``);
- ``oof loss ×3``: the same, removed in 3 rounds with re-scoring (``n_rounds=3``; not run
  for HGB, to keep the run short);
- ``self-infl``: ``InfluenceScorer`` self-influence (``criterion="self"``);
- ``val-infl (split)``: ``InfluenceScorer`` validation influence on an internal 20 % split
  of the (noisy) training rows (``validation_fraction=0.2``), what a user without a clean
  validation set gets;
- ``val-infl (clean)``: validation influence on the 200 clean validation rows (``X_val``);
- ``random``: as many random rows; ``none``: every row.

Printed: test accuracy (%) mean ± std over seeds for removing 1/2/5/10 %, then, per method,
the paired 95 % t interval (over seeds) of method − none and method − random at its best
level (chosen by mean), and at each level for the default.
"""

# ruff: noqa: E402  (the thread settings must precede the imports)
import os

for _name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_name, "1")  # HGB's OpenMP on a loaded machine is 10x slower

import argparse
import sys
import time
import warnings

import numpy as np
from scipy import stats
from sklearn.base import clone
from sklearn.datasets import make_classification
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.neural_network import MLPClassifier
from sklearn.preprocessing import StandardScaler

from skinfluence import (
    CleansingSelector,
    InfluenceScorer,
    LossScorer,
)
from skinfluence.datasets import flip_labels

N_TRAIN, N_VAL, N_TEST, N_CLASSES = 500, 200, 1000, 4
TARGET_SHARE = 0.25  # shift: share of the training rows from the target region
PERCENTS = (1, 2, 5, 10)


HGB_KIND = "default"  # set by --hgb


def models(seed):
    hgb = (
        HistGradientBoostingClassifier(random_state=seed)  # sklearn defaults: 100 iterations
        if HGB_KIND == "default"
        else HistGradientBoostingClassifier(
            max_iter=15, max_leaf_nodes=15, early_stopping=False, random_state=seed
        )
    )
    return {
        "LR": LogisticRegression(C=1.0, max_iter=1000),
        "HGB": hgb,
        "MLP": MLPClassifier(
            (16,), activation="tanh", solver="lbfgs", alpha=1e-2, max_iter=200, random_state=seed
        ),
    }


def make_data(setting, seed):
    """(X_train, y_train, flipped, X_val, y_val, X_test, y_test) of one seed."""
    rng = np.random.RandomState(seed)
    n_total = 2 * (N_TRAIN + N_VAL + N_TEST)
    X, y = make_classification(
        n_total,
        20,
        n_informative=8,
        n_redundant=4,
        n_classes=N_CLASSES,
        n_clusters_per_class=2 if setting == "shift" else 1,
        class_sep=1.5,
        random_state=seed,
    )
    if setting == "shift":
        # regions along a random direction u: the target is the top 40 % of X·u
        direction = rng.normal(size=X.shape[1])
        projection = X @ direction
        in_target = projection > np.quantile(projection, 0.6)
        target = rng.permutation(np.flatnonzero(in_target))
        source = rng.permutation(np.flatnonzero(~in_target))
        n_target = round(TARGET_SHARE * N_TRAIN)
        train = np.concatenate([target[:n_target], source[: N_TRAIN - n_target]])
        rest = target[n_target:]
        flipped = np.zeros(N_TRAIN, dtype=bool)
        flipped[n_target:] = True  # "suspect" = the rows outside the target region
    else:
        order = rng.permutation(len(y))
        train, rest = order[:N_TRAIN], order[N_TRAIN:]
    val, test = rest[:N_VAL], rest[N_VAL : N_VAL + N_TEST]
    scaler = StandardScaler().fit(X[train])
    X = scaler.transform(X)
    y_train = y[train].copy()
    if setting == "uniform":
        y_train, flipped = flip_labels(y_train, 0.1, random_state=seed)
    elif setting == "pair":
        flipped = np.zeros(N_TRAIN, dtype=bool)
        flipped[rng.choice(N_TRAIN, round(0.1 * N_TRAIN), replace=False)] = True
        y_train[flipped] = (y_train[flipped] + 1) % N_CLASSES
    return X[train], y_train, flipped, X[val], y[val], X[test], y[test]


def selectors(model, seed):
    k = round(max(PERCENTS) / 100 * N_TRAIN)
    return {
        "combined": CleansingSelector(model, fraction=k, random_state=seed),  # the default
        "oof loss": CleansingSelector(
            model, scorer=LossScorer(model, cv=5, random_state=seed), fraction=k
        ),
        "oof loss ×3": CleansingSelector(
            model, scorer=LossScorer(model, cv=5, random_state=seed), fraction=k, n_rounds=3
        ),
        "self-infl": CleansingSelector(
            model, scorer=InfluenceScorer(model), criterion="self", fraction=k
        ),
        "val-infl (split)": CleansingSelector(
            model, scorer=InfluenceScorer(model), fraction=k, random_state=seed
        ),
        "val-infl (clean)": CleansingSelector(model, scorer=InfluenceScorer(model), fraction=k),
    }


def accuracy_without(model, X, y, removed, X_test, y_test):
    keep = np.setdiff1d(np.arange(len(y)), removed)
    return float(clone(model).fit(X[keep], y[keep]).score(X_test, y_test))


def one_cell(setting, name, seed, methods):
    X, y, flipped, X_val, y_val, X_test, y_test = make_data(setting, seed)
    model = models(seed)[name]
    row = {"none": accuracy_without(model, X, y, [], X_test, y_test)}
    rng = np.random.RandomState(1000 + seed)
    for percent in PERCENTS:
        removed = rng.permutation(N_TRAIN)[: round(percent / 100 * N_TRAIN)]
        row[("random", percent)] = accuracy_without(model, X, y, removed, X_test, y_test)
    for method, selector in selectors(model, seed).items():
        if method not in methods or (method == "oof loss ×3" and name == "HGB"):
            continue  # 15 HGB fits per seed: left out to keep the run short
        start = time.perf_counter()
        extra = {"X_val": X_val, "y_val": y_val} if method == "val-infl (clean)" else {}
        order = selector.fit(X, y, **extra).removed_
        row[("seconds", method)] = time.perf_counter() - start
        for percent in PERCENTS:
            removed = order[: round(percent / 100 * N_TRAIN)]
            row[(method, percent)] = accuracy_without(model, X, y, removed, X_test, y_test)
            row[("flipped", method, percent)] = float(flipped[removed].mean())
    return row


def paired(d):
    """Mean and 95 % t interval (over seeds) of paired differences ``d``, in points."""
    d = 100 * np.asarray(d)
    half = stats.t.ppf(0.975, len(d) - 1) * d.std(ddof=1) / np.sqrt(len(d))
    return f"{d.mean():+.2f} [{d.mean() - half:+.2f}, {d.mean() + half:+.2f}]"


def report(setting, name, rows, methods):
    def values(key):
        return np.array([r.get(key, np.nan) for r in rows])

    methods = [m for m in methods if ("seconds", m) in rows[0]]
    none = values("none")
    print(f"\n#### {setting}, {name}: test accuracy (%) over {len(rows)} seeds\n")
    print(f"none: {100 * none.mean():.2f} ± {100 * none.std():.2f}\n")
    print("| removed | " + " | ".join(("random", *methods)) + " |")
    print("|---" * (len(methods) + 2) + "|")
    for percent in PERCENTS:
        cells = [
            f"{100 * values((m, percent)).mean():.2f} ± {100 * values((m, percent)).std():.2f}"
            for m in ("random", *methods)
        ]
        print(f"| {percent} % | " + " | ".join(cells) + " |")
    print("| flipped among removed, 5 % | – | " + " | ".join(
        f"{values(('flipped', m, 5)).mean():.2f}" for m in methods
    ) + " |")  # fmt: skip
    print("| scoring s (mean) | – | " + " | ".join(
        f"{values(('seconds', m)).mean():.2f}" for m in methods
    ) + " |")  # fmt: skip
    print("\nbest level per method, paired 95 % t interval (points):\n")
    print("| method | level | − none | − random |")
    print("|---|---|---|---|")
    for m in methods:
        best = max(PERCENTS, key=lambda p, m=m: values((m, p)).mean())
        acc = values((m, best))
        print(
            f"| {m} | {best} % | {paired(acc - none)} | {paired(acc - values(('random', best)))} |"
        )
    default = "combined"
    if default in methods:
        for p in PERCENTS:
            acc = values((default, p))
            print(
                f"| {default} | {p} % | {paired(acc - none)} | "
                f"{paired(acc - values(('random', p)))} |"
            )
    sys.stdout.flush()


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--settings", nargs="+", default=["uniform", "pair", "shift"])
    parser.add_argument("--models", nargs="+", default=["LR", "HGB", "MLP"])
    parser.add_argument(
        "--methods",
        nargs="+",
        default=[
            "combined",
            "oof loss",
            "oof loss ×3",
            "self-infl",
            "val-infl (split)",
            "val-infl (clean)",
        ],
    )
    parser.add_argument(
        "--hgb",
        choices=["default", "small"],
        default="default",
        help="HGB as a user fits it (sklearn defaults) or the old 15-iteration model",
    )
    parser.add_argument("--quick", action="store_true", help="2 seeds, LR only (smoke test)")
    args = parser.parse_args()
    global HGB_KIND
    HGB_KIND = args.hgb
    seeds, names = (2, ["LR"]) if args.quick else (args.seeds, args.models)
    warnings.simplefilter("ignore")  # the MLP's ConvergenceWarning, NotAtOptimum, ...
    start = time.perf_counter()
    for setting in args.settings:
        for name in names:
            rows = [one_cell(setting, name, seed, args.methods) for seed in range(seeds)]
            report(setting, name, rows, args.methods)
            print(f"({time.perf_counter() - start:.0f} s so far)", file=sys.stderr, flush=True)


if __name__ == "__main__":
    main()
