"""Seconds for the retraining-based scorers: warm vs cold refits, n_jobs, a dask cluster.

Usage: python benchmarks/bench_retraining.py [--quick]

Prints markdown tables (see benchmarks/README.md). All timings in one process run; BLAS is
limited to one thread per process (the refits are small: threads only add contention).
"""

import argparse
import time
from unittest.mock import patch

import joblib
import numpy as np
from sklearn.datasets import load_breast_cancer, load_digits, make_classification
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import scale
from threadpoolctl import threadpool_limits

from skinfluence import LeaveOneOutScorer, MemorizationScorer
from skinfluence.scorers import _loo as loo_module
from skinfluence.scorers import per_sample_loss
from skinfluence.scorers._loo import _refit_without


def timed(fn):
    start = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - start


def mean_iterations(scorer):
    return float(np.mean([np.max(m.n_iter_) for m in scorer.estimators_]))


def datasets(quick):
    X, y = load_breast_cancer(return_X_y=True)
    n = 150 if quick else 300
    yield "breast-cancer", scale(X)[:n], y[:n]
    X, y = make_classification(
        n_samples=200 if quick else 500, n_features=100, n_informative=20, random_state=0
    )
    yield "synthetic", scale(X), y


def warm_vs_cold(quick):
    """Full leave-one-out runs: cold refits, scikit-learn warm starts, shared-factorisation
    Newton refits (the default for linear models)."""
    print("\n### LeaveOneOutScorer(LogisticRegression()): every row left out, n_jobs=1\n")
    print(
        "| data | n × p | cold s | sklearn warm-start s | Newton refits s | speed-up vs cold "
        "| iterations cold → Newton | max abs diff of scores vs cold |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for name, X, y in datasets(quick):
        est = LogisticRegression()
        cold, t_cold = timed(
            lambda X=X, y=y, est=est: LeaveOneOutScorer(est, warm_start=False).fit(X, y)
        )
        with patch.object(loo_module, "_newton_adapter", lambda base: None):
            sk_warm, t_sk = timed(lambda X=X, y=y, est=est: LeaveOneOutScorer(est).fit(X, y))
        newton, t_newton = timed(lambda X=X, y=y, est=est: LeaveOneOutScorer(est).fit(X, y))
        assert newton.refit_method_ == "newton", newton.refit_method_
        diff = max(
            np.max(np.abs(newton.scores_ - cold.scores_)),
            np.max(np.abs(sk_warm.scores_ - cold.scores_)),
        )
        print(
            f"| {name} | {X.shape[0]} × {X.shape[1]} | {t_cold:.2f} | {t_sk:.2f} "
            f"| {t_newton:.3f} | {t_cold / t_newton:.0f}× "
            f"| {mean_iterations(cold):.1f} → {newton.n_iter_.mean():.1f} | {diff:.1e} |"
        )


def at_scale(quick):
    """Larger data: cold time extrapolated from 20 refits; the Newton run is complete."""
    print("\n### Larger data: all n refits (cold extrapolated from 20 refits)\n")
    print(
        "| data | n × p (params) | cold s (n × mean of 20) | Newton refits s | speed-up "
        "| Newton iterations mean / max | max abs diff of 20 scores vs cold |"
    )
    print("|---|---|---|---|---|---|---|")
    cases = [(1000, 50, 2)] if quick else [(2000, 50, 2), (5000, 100, 2), (2000, 30, 5), "digits"]
    rows = np.arange(20)
    for case in cases:
        if case == "digits":
            X, y = load_digits(return_X_y=True)
            X, (n, p), k = X / 16.0, X.shape, 10
        else:
            n, p, k = case
            X, y = make_classification(
                n_samples=n, n_features=p, n_informative=20, n_classes=k, random_state=0
            )
            X = scale(X)
        est = LogisticRegression()
        newton, t_newton = timed(lambda X=X, y=y, est=est: LeaveOneOutScorer(est).fit(X, y))
        base = newton.estimator_
        cold, t_cold = timed(
            lambda X=X, y=y, base=base: _refit_without(base, X, y, None, rows, False)
        )
        cold_scores = np.array(
            [per_sample_loss(m, X[[i]], y[[i]])[0] for i, m in zip(rows, cold, strict=True)]
        ) - per_sample_loss(base, X[rows], y[rows])
        diff = np.max(np.abs(cold_scores - newton.scores_[rows]))
        t_all = t_cold / len(rows) * n
        label = "binary" if k == 2 else f"{k} classes"
        label = "digits / 16, 10 classes" if case == "digits" else f"synthetic, {label}"
        print(
            f"| {label} | {n} × {p} ({base.coef_.size + base.intercept_.size}) "
            f"| {t_all:.0f} | {t_newton:.2f} | {t_all / t_newton:.0f}× "
            f"| {newton.n_iter_.mean():.1f} / {newton.n_iter_.max()} | {diff:.1e} |"
        )


def memorization_evidence(quick):
    """MemorizationScorer against leave-one-out (LR) and on flipped labels (forest, boosting)."""
    from scipy import stats
    from sklearn.ensemble import HistGradientBoostingClassifier

    from skinfluence.datasets import flip_labels
    from skinfluence.metrics import detection_scores

    X, y = load_breast_cancer(return_X_y=True)
    n = 150 if quick else 300
    X, y = scale(X)[:n], y[:n]
    loo, t_loo = timed(lambda: LeaveOneOutScorer(LogisticRegression()).fit(X, y))
    print(f"\n### MemorizationScorer(LR) vs actual self-influence (LOO), breast-cancer {n} × 30\n")
    print("| scoring | K | Spearman | Pearson | mean standard error / mean score | seconds |")
    print("|---|---|---|---|---|---|")
    print(f"| LeaveOneOutScorer | {n} refits | 1 | 1 | 0 | {t_loo:.1f} |")
    for scoring in ("loss", "accuracy"):
        for k in (100, 400):
            mem, t = timed(
                lambda k=k, scoring=scoring: MemorizationScorer(
                    LogisticRegression(), n_estimators=k, scoring=scoring, random_state=0
                ).fit(X, y)
            )
            rel = np.mean(mem.scores_std_) / np.mean(np.abs(mem.scores_))
            print(
                f"| {scoring} | {k} | {stats.spearmanr(mem.scores_, loo.scores_)[0]:.2f} "
                f"| {stats.pearsonr(mem.scores_, loo.scores_)[0]:.3f} | {rel:.2f} | {t:.1f} |"
            )

    Xd, yd = load_digits(return_X_y=True)
    print("\n### Flipped labels are the most memorised: digits, 10 % flipped, 3 seeds\n")
    print("| model | K | AUROC | AUPRC | seconds per seed |")
    print("|---|---|---|---|---|")
    models = {
        "RandomForest(100 trees)": RandomForestClassifier(n_estimators=100, random_state=0),
        "HistGradientBoosting(50 iter)": HistGradientBoostingClassifier(
            max_iter=50, random_state=0
        ),
    }
    k = 20 if quick else 50
    for label, model in models.items():
        res = []
        for seed in range(1 if quick else 3):
            y_noisy, flipped = flip_labels(yd, 0.1, random_state=seed)
            mem, t = timed(
                lambda model=model, y_noisy=y_noisy, seed=seed: MemorizationScorer(
                    model, n_estimators=k, random_state=seed
                ).fit(Xd, y_noisy)
            )
            r = detection_scores(flipped, mem.scores_)
            res.append((r.auroc, r.auprc, t))
        a = np.array(res)
        print(
            f"| {label} | {k} | {a[:, 0].mean():.3f} ± {a[:, 0].std():.3f} "
            f"| {a[:, 1].mean():.3f} ± {a[:, 1].std():.3f} | {a[:, 2].mean():.0f} |"
        )


def cluster():
    from dask.distributed import Client, LocalCluster

    start = time.perf_counter()
    c = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None)
    client = Client(c)
    return c, client, time.perf_counter() - start


def parallel(quick):
    X, y = load_breast_cancer(return_X_y=True)
    X, y = scale(X)[: 150 if quick else 300], y[: 150 if quick else 300]
    Xd, yd = load_digits(return_X_y=True)
    forest = RandomForestClassifier(n_estimators=20, random_state=0)
    n_models = 20 if quick else 60
    jobs = {
        f"LeaveOneOutScorer(LR, warm_start=False), {len(y)} refits": lambda n_jobs: (
            LeaveOneOutScorer(LogisticRegression(), warm_start=False, n_jobs=n_jobs).fit(X, y)
        ),
        f"MemorizationScorer(forest of 20), K={n_models}, digits 1797 × 64": lambda n_jobs: (
            MemorizationScorer(forest, n_estimators=n_models, random_state=0, n_jobs=n_jobs).fit(
                Xd, yd
            )
        ),
    }
    # Start the worker pools (and import skinfluence in them) before timing.
    joblib.Parallel(n_jobs=2)(joblib.delayed(__import__)("skinfluence") for _ in range(4))
    print("\n### Parallel fits: joblib processes and a dask LocalCluster (2 workers)\n")
    print("| work | n_jobs=1 s | n_jobs=2 (loky) s | dask, 2 processes s | speed-up 2 jobs |")
    print("|---|---|---|---|---|")
    c, client, t_start = cluster()
    client.run(__import__, "skinfluence")
    try:
        for label, run in jobs.items():
            _, t1 = timed(lambda run=run: run(1))
            _, t2 = timed(lambda run=run: run(2))
            with joblib.parallel_config("dask"):
                _, td = timed(lambda run=run: run(None))
            print(f"| {label} | {t1:.2f} | {t2:.2f} | {td:.2f} | {t1 / t2:.2f}× |")
    finally:
        client.close()
        c.close()
    print(
        f"\nStarting the dask cluster took {t_start:.1f} s and the loky pool is started "
        "beforehand too (neither is included above)."
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="smaller data (smoke test)")
    parser.add_argument(
        "--only", choices=["warm", "parallel", "memorization"], help="run one part only"
    )
    args = parser.parse_args()
    parts = {
        "warm": lambda: (warm_vs_cold(args.quick), at_scale(args.quick)),
        "parallel": lambda: parallel(args.quick),
        "memorization": lambda: memorization_evidence(args.quick),
    }
    with threadpool_limits(1):
        for name, run in parts.items():
            if args.only in (None, name):
                run()


if __name__ == "__main__":
    main()
