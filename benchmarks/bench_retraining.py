"""Seconds for the retraining-based scorers: warm vs cold refits, n_jobs, a dask cluster.

Usage: python benchmarks/bench_retraining.py [--quick]

Prints markdown tables (see benchmarks/README.md). All timings in one process run; BLAS is
limited to one thread per process (the refits are small: threads only add contention).
"""

import argparse
import time

import joblib
import numpy as np
from sklearn.datasets import load_breast_cancer, load_digits, make_classification
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import scale
from threadpoolctl import threadpool_limits

from skinfluence import LeaveOneOutScorer, MemorizationScorer
from skinfluence.scorers._loo import _refit_without, _tightened


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
    print("\n### LeaveOneOutScorer(LogisticRegression()): warm vs cold refits, n_jobs=1\n")
    print(
        "| data | n × p | refits | cold s | warm s | speed-up | iterations cold → warm "
        "| max abs diff of scores |"
    )
    print("|---|---|---|---|---|---|---|---|")
    settings = [
        ("default: refit_tol=1e-10 → newton-cholesky", LogisticRegression(), {}),
        (
            "lbfgs, tol=1e-10, refit_tol=None",
            LogisticRegression(tol=1e-10, max_iter=10_000),
            {"refit_tol": None},
        ),
    ]
    for label, est, kwargs in settings:
        for name, X, y in datasets(quick):
            cold, t_cold = timed(
                lambda est=est, kwargs=kwargs, X=X, y=y: LeaveOneOutScorer(
                    est, warm_start=False, **kwargs
                ).fit(X, y)
            )
            warm, t_warm = timed(
                lambda est=est, kwargs=kwargs, X=X, y=y: LeaveOneOutScorer(
                    est, warm_start=True, **kwargs
                ).fit(X, y)
            )
            diff = np.max(np.abs(warm.scores_ - cold.scores_))
            print(
                f"| {name} ({label}) | {X.shape[0]} × {X.shape[1]} | {X.shape[0]} "
                f"| {t_cold:.2f} | {t_warm:.2f} | {t_cold / t_warm:.1f}× "
                f"| {mean_iterations(cold):.1f} → {mean_iterations(warm):.1f} | {diff:.1e} |"
            )


def per_refit_at_scale(quick):
    rows = range(10)
    """Warm vs cold for a few single refits on larger data, where the solver dominates."""
    print("\n### One refit without one row, larger data (mean of 10 refits)\n")
    print("| n × p | solver | cold ms | warm ms | speed-up | iterations cold → warm |")
    print("|---|---|---|---|---|---|")
    for n, p in [(2000, 50), (5000, 100)] if not quick else [(1000, 50)]:
        X, y = make_classification(n_samples=n, n_features=p, n_informative=20, random_state=0)
        X = scale(X)
        for label, est in [
            ("newton-cholesky (LOO default)", _tightened(LogisticRegression(), 1e-10)),
            ("lbfgs tol=1e-10", LogisticRegression(tol=1e-10, max_iter=10_000)),
        ]:
            base = est.fit(X, y)
            cold, t_cold = timed(
                lambda b=base, X=X, y=y: _refit_without(b, X, y, None, rows, False)
            )
            warm, t_warm = timed(lambda b=base, X=X, y=y: _refit_without(b, X, y, None, rows, True))
            it_c = np.mean([m.n_iter_[0] for m in cold])
            it_w = np.mean([m.n_iter_[0] for m in warm])
            print(
                f"| {n} × {p} | {label} | {100 * t_cold:.0f} | {100 * t_warm:.0f} "
                f"| {t_cold / t_warm:.1f}× | {it_c:.1f} → {it_w:.1f} |"
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
        f"LeaveOneOutScorer(LR), {len(y)} warm refits": lambda n_jobs: LeaveOneOutScorer(
            LogisticRegression(), n_jobs=n_jobs
        ).fit(X, y),
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
        "warm": lambda: (warm_vs_cold(args.quick), per_refit_at_scale(args.quick)),
        "parallel": lambda: parallel(args.quick),
        "memorization": lambda: memorization_evidence(args.quick),
    }
    with threadpool_limits(1):
        for name, run in parts.items():
            if args.only in (None, name):
                run()


if __name__ == "__main__":
    main()
