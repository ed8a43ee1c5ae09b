"""Finding flipped labels with the data-valuation scores (issue 20): AUPRC and seconds.

10 % of the labels are flipped (``skinfluence.datasets.flip_labels``); each score ranks the
training rows (``scores_``, higher = more suspect): Data-OOB on a random forest, KNN-Shapley
on standardised features, Data Banzhaf (maximum sample reuse) of a gradient-boosting model,
and MemorizationScorer of the same boosting model with both scorings (the default, the loss,
and Feldman & Zhang's 0/1 accuracy). A random ranking has AUPRC 0.10.

    python benchmarks/bench_valuation.py [--quick] [--seeds 0,1,2]
"""

import argparse
import time
import warnings

import numpy as np
from sklearn.datasets import load_breast_cancer, load_digits, make_moons
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
from sklearn.preprocessing import scale
from threadpoolctl import threadpool_limits

from skinfluence import BanzhafScorer, DataOOBScorer, KNNShapleyScorer, MemorizationScorer
from skinfluence.datasets import flip_labels
from skinfluence.metrics import detection_scores


def _datasets(quick):
    data = {
        "breast-cancer": lambda: load_breast_cancer(return_X_y=True),
        "two-moons (1000 x 2)": lambda: make_moons(1000, noise=0.25, random_state=0),
    }
    if not quick:
        data["digits"] = lambda: load_digits(return_X_y=True)
    return data


def _scorers(quick, seed):
    k = 50 if quick else 200
    hgb = HistGradientBoostingClassifier(max_iter=50, random_state=seed)
    return {
        "Data-OOB, random forest (300 trees)": DataOOBScorer(
            RandomForestClassifier(300, random_state=seed)
        ),
        "KNN-Shapley (K = 10)": KNNShapleyScorer(10),
        f"Banzhaf MSR, HGB ({k} subsets)": BanzhafScorer(hgb, n_estimators=k, random_state=seed),
        f"memorisation, HGB, loss ({k} subsets)": MemorizationScorer(
            hgb, n_estimators=k, random_state=seed
        ),
        f"memorisation, HGB, 0/1 accuracy ({k} subsets)": MemorizationScorer(
            hgb, n_estimators=k, scoring="accuracy", random_state=seed
        ),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one seed, fewer subsets")
    parser.add_argument("--seeds", default=None, help="comma-separated seeds (default 0,1,2)")
    args = parser.parse_args()
    seeds = [0] if args.quick else [0, 1, 2]
    if args.seeds:
        seeds = [int(s) for s in args.seeds.split(",")]
    print("| data | score | AUPRC | seconds |\n|---|---|---|---|")
    for name, load in _datasets(args.quick).items():
        X, y = load()
        X = scale(X)
        results = {}
        for seed in seeds:
            y_noisy, flipped = flip_labels(y, 0.1, random_state=seed)
            for label, scorer in _scorers(args.quick, seed).items():
                start = time.perf_counter()
                with warnings.catch_warnings(), threadpool_limits(1):
                    warnings.simplefilter("ignore")
                    scores = scorer.fit(X, y_noisy).scores_
                elapsed = time.perf_counter() - start
                scores = np.where(np.isnan(scores), np.nanmin(scores) - 1, scores)  # NaN: last
                auprc = detection_scores(flipped, scores).auprc
                results.setdefault(label, []).append((auprc, elapsed))
        for label, runs in results.items():
            auprc, secs = np.array(runs).T
            spread = f" ± {auprc.std():.3f}" if len(runs) > 1 else ""
            print(
                f"| {name} | {label} | {auprc.mean():.3f}{spread} | {secs.mean():.1f} |", flush=True
            )


if __name__ == "__main__":
    main()
